"""Declarative SCPI drivers: properties declared with their command, type, allowed values and unit.

`Control` (read/write), `Reading` (read-only) and `Setting` (write-only) are descriptors; a
driver class lists them the way the programming manual lists commands, and `ScpiInstrument`
supplies the transport, `*IDN?`, error-queue draining and `open()`. Commands may contain
`{ch}`, filled in by a per-channel `ScpiChannel`, and `{value}`, the formatted value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, overload

from benchtest.driver.base import Identity, Instrument
from benchtest.driver.dialect import (
    CheckedCommand,
    SourceCommand,
    declared_source_commands,
    guard_raw,
)
from benchtest.driver.numbers import finite_number, plain, seconds
from benchtest.driver.numbers import format_value as format_value
from benchtest.driver.pacing import PacedTransport, Pacer
from benchtest.driver.prologix import PrologixTransport, is_prologix
from benchtest.driver.transport import (
    ERROR_QUERY,
    Transport,
    VisaTransport,
    drain_error_queue,
)
from benchtest.values.errors import (
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)
from benchtest.values.ratings import NO_GUARD, SourceGuard

T = TypeVar("T")
_GUARDED_COMMANDS: dict[type[Any], tuple[SourceCommand, ...]] = {}  # by driver class
NAN_THRESHOLD = 9.9e37  # 9.9E37 / 9.91E37: "no value" (Rigol invalid, Keithley NaN/overflow)


class InvalidValueError(InstrumentError, ValueError):
    """A value was refused by a driver's validator; nothing was sent."""


def wait_deadline(timeout: object, *, role: str, command: str) -> float:
    """The `time.monotonic()` instant `timeout` s from now. A timeout that is no finite number
    of seconds >= 0 would wait forever or not at all: it is refused before anything is sent."""
    try:
        return time.monotonic() + seconds(timeout)
    except ValueError as exc:
        raise InvalidValueError(
            f"refused to wait: the timeout must be a number of seconds >= 0 ({exc})",
            role=role,
            command=command,
        ) from None


# -- parsers and formatters ------------------------------------------------------------------


def parse_number(reply: str) -> float:
    """A SCPI number (NR1/NR2/NR3); 9.9E37 and above mean "no value" and become NaN."""
    value = float(reply.strip())
    return math.nan if abs(value) >= NAN_THRESHOLD else value


def parse_int(reply: str) -> int:
    """A SCPI integer, tolerating an NR3 spelling such as `1.200000e+03`."""
    value = float(reply.strip())
    if not value.is_integer():
        raise ValueError(f"not an integer: {reply!r}")
    return int(value)


def parse_bool(reply: str) -> bool:
    """`1`/`ON` is True, `0`/`OFF` is False."""
    token = reply.strip().upper()
    if token in ("1", "ON"):
        return True
    if token in ("0", "OFF"):
        return False
    raise ValueError(f"not a boolean: {reply!r}")


def parse_text(reply: str) -> str:
    return reply.strip().strip('"')


def short_form(token: str) -> str:
    """The SCPI short form of a keyword: its capitals and digits (`CHANnel1` -> `CHAN1`)."""
    return "".join(c for c in token if c.isupper() or c.isdigit())


def token_matches(reply: str, token: str) -> bool:
    """Whether an instrument reply (`POS`, `POSITIVE`) names the keyword `token` (`POSitive`)."""
    answer = reply.strip().strip('"').upper()
    return answer in (token.upper(), short_form(token))


# -- validators --------------------------------------------------------------------------------


def strict_range(low: float, high: float) -> Callable[[float], float]:
    """Accept finite numbers of any kind (see `as_number`) with low <= value <= high."""

    def check(value: float) -> float:
        number = finite_number(value)
        if not low <= number <= high:
            raise ValueError(f"{number!r} is outside {low:g} .. {high:g}")
        return number

    return check


def strict_int_range(low: int, high: int) -> Callable[[int], int]:
    """Accept integers of any kind (Python or numpy) with low <= value <= high."""

    def check(value: int) -> int:
        number = plain(value)
        if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
            raise ValueError(f"{value!r} is not an integer in {low} .. {high}")
        return number

    return check


def strict_discrete_set(allowed: Iterable[T]) -> Callable[[T], T]:
    """Accept only the listed values (a number of any kind as the plain number it is)."""
    choices = tuple(allowed)

    def check(value: T) -> T:
        number: Any = plain(value)
        if number not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(repr, choices))}")
        return number  # type: ignore[no-any-return]

    return check


# -- the objects descriptors act on ----------------------------------------------------------


class ScpiTarget(Protocol):
    """Anything a descriptor can talk through: an instrument or one of its channels."""

    @property
    def role(self) -> str: ...

    @property
    def guard(self) -> SourceGuard: ...

    def command_fields(self) -> dict[str, object]: ...

    def write(self, command: str, *, check: bool = True) -> None: ...

    def query_value(self, command: str, parser: Callable[[str], T]) -> T: ...


class _Property(Generic[T]):
    """Shared machinery: naming, validation, formatting, sending, parsing."""

    def __init__(
        self,
        get_cmd: str | None,
        set_cmd: str | None,
        doc: str,
        *,
        parser: Callable[[str], T] | None,
        validator: Callable[[T], T] | None,
        values: Mapping[T, str] | None,
        formatter: Callable[[Any], str],
        unit: str,
        guard: str | None,
        check_errors: bool,
    ) -> None:
        if get_cmd is not None and parser is None and values is None:
            raise TypeError(f"{get_cmd!r}: a readable property needs a parser or a values map")
        self.get_cmd, self.set_cmd = get_cmd, set_cmd
        self.parser, self.validator, self.values = parser, validator, values
        self.formatter, self.unit = formatter, unit
        self.guard, self.check_errors = guard, check_errors
        self.name = ""
        self.__doc__ = f"{doc} [{unit}]" if unit else doc

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, target: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, target: ScpiTarget, owner: type[Any]) -> T: ...

    def __get__(self, target: ScpiTarget | None, owner: type[Any]) -> Self | T:
        return self if target is None else self.read(target)

    def read(self, target: ScpiTarget) -> T:
        if self.get_cmd is None:
            raise AttributeError(f"{self.name} is write-only ({self.set_cmd})")
        command = self.get_cmd.format(**target.command_fields())
        return target.query_value(command, self._parse)

    def send(self, target: ScpiTarget, value: T) -> None:
        """Check `value` (guard, validator, map), then write the command."""
        target.write(self.check(target, value), check=self.check_errors)

    def check(self, target: ScpiTarget, value: T) -> str:
        """The command that would set `value`; raises SafetyError or InvalidValueError instead.

        A number of any kind (numpy scalars, 0-d arrays) is the plain number it spells, and the
        guard checks exactly the number that would be sent.
        """
        template = self._template()
        value = plain(value)  # type: ignore[assignment]
        if self.guard is not None:
            what = f"set {self.name} to {_shown(value)} {self.unit}".rstrip()
            target.guard.check(self.guard, value, what=what)
        token = self._token(target, template, value)
        return CheckedCommand(template.format(**target.command_fields(), value=token))

    def command(self, target: ScpiTarget, value: T) -> str:
        """The command that sets `value`, unchecked: for safe-state writes (a source to 0, an
        output off) that no guard or validator may refuse."""
        token = self._lookup(value) if self.values is not None else self.formatter(value)
        return CheckedCommand(self._template().format(**target.command_fields(), value=token))

    def _template(self) -> str:
        assert self.set_cmd is not None
        return self.set_cmd if "{value}" in self.set_cmd else self.set_cmd + " {value}"

    def _token(self, target: ScpiTarget, template: str, value: T) -> str:
        try:
            if self.validator is not None:
                value = self.validator(value)
            if self.values is not None:
                return self._lookup(value)
            return self.formatter(value)
        except (ValueError, TypeError) as exc:
            shown = template.format(**target.command_fields(), value=value)
            raise InvalidValueError(
                f"refused to set {self.name}: {exc}; nothing was sent",
                role=target.role,
                command=shown,
            ) from None

    def _lookup(self, value: T) -> str:
        assert self.values is not None
        if value not in self.values:
            choices = ", ".join(map(repr, self.values))
            raise ValueError(f"{value!r} is not one of {choices}")
        return self.values[value]

    def _parse(self, reply: str) -> T:
        if self.parser is not None:
            return self.parser(reply)
        assert self.values is not None
        for value, token in self.values.items():
            if token_matches(reply, token):
                return value
        raise ValueError(f"{reply!r} is none of {', '.join(self.values.values())}")


def _shown(value: object) -> str:
    """`value` for a message: a number as it would be sent, anything else as its repr."""
    try:
        return format_value(value) if isinstance(value, int | float) else repr(value)
    except ValueError:
        return repr(value)


class Control(_Property[T]):
    """A property the instrument can both report and set (`:CHANnel{ch}:SCALe`)."""

    def __init__(
        self,
        get_cmd: str,
        set_cmd: str,
        doc: str = "",
        *,
        parser: Callable[[str], T] | None = None,
        validator: Callable[[T], T] | None = None,
        values: Mapping[T, str] | None = None,
        formatter: Callable[[Any], str] = format_value,
        unit: str = "",
        guard: str | None = None,
        check_errors: bool = True,
    ) -> None:
        super().__init__(
            get_cmd,
            set_cmd,
            doc,
            parser=parser,
            validator=validator,
            values=values,
            formatter=formatter,
            unit=unit,
            guard=guard,
            check_errors=check_errors,
        )

    def __set__(self, target: ScpiTarget, value: T) -> None:
        self.send(target, value)


class Reading(_Property[T]):
    """A read-only quantity: every access sends the query (`:READ?`, `:TRIGger:STATus?`)."""

    def __init__(
        self,
        get_cmd: str,
        doc: str = "",
        *,
        parser: Callable[[str], T] | None = None,
        values: Mapping[T, str] | None = None,
        unit: str = "",
    ) -> None:
        super().__init__(
            get_cmd,
            None,
            doc,
            parser=parser,
            validator=None,
            values=values,
            formatter=format_value,
            unit=unit,
            guard=None,
            check_errors=False,
        )

    def __set__(self, target: ScpiTarget, value: T) -> None:
        raise AttributeError(f"{self.name} is read-only ({self.get_cmd})")


class Setting(_Property[T]):
    """A write-only property: commands the instrument cannot (or need not) report back."""

    def __init__(
        self,
        set_cmd: str,
        doc: str = "",
        *,
        validator: Callable[[T], T] | None = None,
        values: Mapping[T, str] | None = None,
        formatter: Callable[[Any], str] = format_value,
        unit: str = "",
        guard: str | None = None,
        check_errors: bool = True,
    ) -> None:
        super().__init__(
            None,
            set_cmd,
            doc,
            parser=None,
            validator=validator,
            values=values,
            formatter=formatter,
            unit=unit,
            guard=guard,
            check_errors=check_errors,
        )

    def __set__(self, target: ScpiTarget, value: T) -> None:
        self.send(target, value)


def apply_settings(target: ScpiTarget, **values: Any) -> None:
    """Set several declared properties in the order given, after checking every value first.

    All guard checks and validators run before the first command is sent, so a refused value
    leaves the instrument untouched; the commands they made are the ones sent.
    """
    checked = [
        (prop, prop.check(target, value))
        for prop, value in ((_property_of(target, name), value) for name, value in values.items())
    ]
    for prop, command in checked:
        target.write(command, check=prop.check_errors)


def check_settings(target: ScpiTarget, **values: Any) -> None:
    """Run the guard and validator of each named property on its value; send nothing."""
    for name, value in values.items():
        _property_of(target, name).check(target, value)


def declared(target: ScpiTarget, name: str) -> _Property[Any]:
    """The settable SCPI property `name` declared on `target`'s class (to read it, or build its
    command with `.command()`, from generic code)."""
    return _property_of(target, name)


def _property_of(target: ScpiTarget, name: str) -> _Property[Any]:
    prop = getattr(type(target), name, None)
    if not isinstance(prop, Control | Setting):
        raise AttributeError(f"{type(target).__name__} has no settable SCPI property {name!r}")
    return prop


# -- instruments and channels ----------------------------------------------------------------


class ScpiInstrument(Instrument):
    """A SCPI instrument on a `Transport`, with the connection defaults of its family.

    Class attributes give the defaults `open()` uses (termination, timeout in s, how many LF
    follow a block, `command_interval`: the least time in s between two exchanges and between
    a query and the read of its reply) and `error_query`, the command that pops the error queue
    after every configuration write (None: the instrument has no queue). `driver_options` names
    the constructor keywords a bench file may set (a channel number). `source_commands` lists
    the dialect's source and limit commands a raw `write` is guarded on, beyond those of the
    declared guarded properties.
    """

    read_termination: ClassVar[str] = "\n"
    write_termination: ClassVar[str] = "\n"
    timeout: ClassVar[float] = 5.0
    block_terminators: ClassVar[int] = 1
    command_interval: ClassVar[float] = 0.0
    visa_library: ClassVar[str | None] = None  # None: pyvisa-py (benchtest.driver.visa_library)
    error_query: ClassVar[str | None] = ERROR_QUERY
    driver_options: ClassVar[tuple[str, ...]] = ()
    source_commands: ClassVar[tuple[SourceCommand, ...]] = ()
    _OPTIONS: ClassVar[tuple[str, ...]] = (
        "timeout",
        "read_termination",
        "write_termination",
        "block_terminators",
        "command_interval",
        "visa_library",
    )

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(role=role or transport.role, guard=guard)
        self.transport = transport
        self._explaining = False  # reading the error queue to explain a failed exchange

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        """Connect through PyVISA (pyvisa-py, or the `visa_library` option's), then run
        `on_connect()`.

        Options: `timeout` (s), `read_termination`, `write_termination`, `block_terminators`,
        `command_interval` (s, paces every exchange), `visa_library` and the driver's own
        `driver_options`.
        """
        known = (*cls._OPTIONS, *cls.driver_options)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InstrumentError(
                f"unknown option(s) {', '.join(unknown)} for driver {cls.driver_name!r}; "
                f"known: {', '.join(known)}",
                role=role or resource,
            )
        settings = {name: options.get(name, getattr(cls, name)) for name in cls._OPTIONS}
        interval = float(settings.pop("command_interval"))
        transport: Transport
        if is_prologix(resource):  # GPIB behind a Prologix adapter (docs/connectivity.md)
            transport = PrologixTransport.open(resource, role=role or resource, **settings)
        else:
            transport = VisaTransport.open(
                resource,
                role=role or resource,
                error_query=cls.error_query or ERROR_QUERY,
                query_delay=interval,
                **settings,
            )
        try:  # a driver ready, or its connection closed (a Ctrl-C meanwhile included)
            if interval > 0:
                transport = PacedTransport(transport, Pacer(interval))
            own = {name: options[name] for name in cls.driver_options if name in options}
            instrument = cls(transport, role=role or resource, guard=guard, **own)
            instrument.on_connect()
        except BaseException:
            transport.close()
            raise
        return instrument

    @classmethod
    def guarded_commands(cls) -> tuple[SourceCommand, ...]:
        """Every command of this dialect that sets a source level or a limit."""
        known = _GUARDED_COMMANDS.get(cls)
        if known is None:
            known = _GUARDED_COMMANDS[cls] = (
                *cls.source_commands,
                *declared_source_commands(cls),
            )
        return known

    def on_connect(self) -> None:
        """Bring a freshly opened instrument to a known state: `*CLS` empties the error queue."""
        self.write("*CLS", check=False)

    def command_fields(self) -> dict[str, object]:
        return {}

    def write(self, command: str, *, check: bool = True) -> None:
        """Send `command`; with `check`, drain the error queue and raise what it held.

        A raw command that sets a source level or a limit of this dialect (`source_commands`)
        is checked by the guard first, like the declared properties (see `dialect`).
        """
        guard_raw(command, self.guarded_commands(), self.guard)
        transport, query = self.transport, self.error_query
        if (
            check
            and query is not None
            and isinstance(transport, VisaTransport)
            and type(self).check_errors is ScpiInstrument.check_errors  # the common queue read
        ):  # the error query goes with the command (`write_then_query`): one send, one wake-up
            first = transport.write_then_query(command, query)
            drain_error_queue(transport, query, after=command, first=first)
            return
        transport.write(command)
        if check:
            self.check_errors(after=command)

    def query(self, command: str) -> str:
        """Send a query and return its reply (a failure is `explained` against `command`)."""
        try:  # as `_attributed`, without a context manager around every query
            return self.transport.query(command)
        except (InstrumentTimeoutError, ProtocolError) as problem:
            self._raise_explained(problem, command)
            raise

    def query_value(self, command: str, parser: Callable[[str], T]) -> T:
        """Send a query and parse its reply; an unparseable reply is a ProtocolError, after
        which the session is brought back in step (the reply may not have been this query's)
        and an error the instrument queued for `command` is reported instead."""
        reply = self.query(command)
        try:
            return parser(reply)
        except (ValueError, TypeError, IndexError) as exc:
            problem = ProtocolError(
                f"unexpected reply: {exc}", role=self.role, command=command, received=reply
            )
        with suppress(InstrumentError):  # not back in step: the next exchange tries again
            self.transport.resync()
        raise self.explained(problem, command) from None

    def read_block(self, command: str) -> bytes:
        """Send a query answered by a definite-length block and return the payload."""
        with self._attributed(command):
            return self.transport.read_block(command)

    def explained(self, problem: InstrumentError, command: str) -> InstrumentError:
        """What to raise for `problem` with `command`: the error the instrument queued for it
        (read with `check_errors`, in the driver's own way) as an InstrumentReportedError
        naming `command` and caused by `problem`; `problem` itself when nothing was queued or
        the queue cannot be read. So an error a query caused is never blamed on the next
        command."""
        if self._explaining or command == self.error_query:
            return problem
        self._explaining = True
        try:
            self.check_errors(after=command)
        except InstrumentReportedError as reported:
            reported.__cause__ = problem
            return reported
        except InstrumentError:
            pass  # the queue cannot be read either: the original problem says more
        finally:
            self._explaining = False
        return problem

    @contextmanager
    def _attributed(self, command: str) -> Iterator[None]:
        """An instrument that rejects a query usually stays silent (or sends a short reply) and
        queues an error: after a timeout or a protocol error, raise what the queue says."""
        try:
            yield
        except (InstrumentTimeoutError, ProtocolError) as problem:
            self._raise_explained(problem, command)
            raise

    def _raise_explained(self, problem: InstrumentError, command: str) -> None:
        """Raise what `explained` makes of `problem` (caused by it) unless that is `problem`
        itself, which the caller then re-raises."""
        error = self.explained(problem, command)
        if error is not problem:
            raise error from problem

    def check_errors(self, *, after: str = "") -> None:
        """Drain the error queue (`error_query` until code 0); raise InstrumentReportedError."""
        if self.error_query is not None:
            drain_error_queue(self.transport, self.error_query, after=after)

    @contextmanager
    def waiting(self, seconds: float) -> Iterator[None]:
        """Exchanges inside wait `seconds` longer than the ordinary timeout for their reply:
        the time a sweep or a long acquisition takes in the instrument."""
        transport: Any = self.transport
        ordinary = getattr(transport, "timeout", None)
        if ordinary is None or seconds <= 0:
            yield
            return
        transport.timeout = ordinary + seconds
        try:
            yield
        finally:
            transport.timeout = ordinary

    def identify(self) -> Identity:
        return self.query_value("*IDN?", Identity.from_idn)

    def close(self) -> None:
        self.transport.close()


class ScpiChannel:
    """One channel (or function block) of an instrument; fills `{ch}` in its commands.

    Subclasses declare properties with `{ch}` in their commands, or name another placeholder
    in `placeholder` (a SMU's `:SENSe:{function}:RANGe`).
    """

    placeholder: ClassVar[str] = "ch"

    def __init__(self, parent: ScpiInstrument, id: int | str) -> None:
        self.parent = parent
        self.id = id

    @property
    def role(self) -> str:
        return self.parent.role

    @property
    def guard(self) -> SourceGuard:
        return self.parent.guard

    def command_fields(self) -> dict[str, object]:
        return {self.placeholder: self.id}

    def write(self, command: str, *, check: bool = True) -> None:
        self.parent.write(command, check=check)

    def query_value(self, command: str, parser: Callable[[str], T]) -> T:
        return self.parent.query_value(command, parser)
