"""Declarative SCPI drivers: properties declared with their command, type, allowed values and unit.

`Control` (read/write), `Reading` (read-only) and `Setting` (write-only) are descriptors; a
driver class lists them the way the programming manual lists commands, and `ScpiInstrument`
supplies the transport, `*IDN?`, error-queue draining and `open()`. Commands may contain
`{ch}`, filled in by a per-channel `ScpiChannel`, and `{value}`, the formatted value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, overload

from benchtest.driver.base import Identity, Instrument
from benchtest.driver.pacing import PacedTransport, Pacer
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
NAN_THRESHOLD = 9.9e37  # 9.9E37 / 9.91E37: "no value" (Rigol invalid, Keithley NaN/overflow)


class InvalidValueError(InstrumentError, ValueError):
    """A value was refused by a driver's validator; nothing was sent."""


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


def format_value(value: Any) -> str:
    """Numbers as exact SCPI numbers (`0.5`, `1e-06`, `1200`); anything else with `str`."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def short_form(token: str) -> str:
    """The SCPI short form of a keyword: its capitals and digits (`CHANnel1` -> `CHAN1`)."""
    return "".join(c for c in token if c.isupper() or c.isdigit())


def token_matches(reply: str, token: str) -> bool:
    """Whether an instrument reply (`POS`, `POSITIVE`) names the keyword `token` (`POSitive`)."""
    answer = reply.strip().strip('"').upper()
    return answer in (token.upper(), short_form(token))


# -- validators --------------------------------------------------------------------------------


def strict_range(low: float, high: float) -> Callable[[float], float]:
    """Accept numbers with low <= value <= high."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"{value!r} is outside {low:g} .. {high:g}")
        return value

    return check


def strict_int_range(low: int, high: int) -> Callable[[int], int]:
    """Accept integers with low <= value <= high."""

    def check(value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{value!r} is not an integer in {low} .. {high}")
        return value

    return check


def strict_discrete_set(allowed: Iterable[T]) -> Callable[[T], T]:
    """Accept only the listed values."""
    choices = tuple(allowed)

    def check(value: T) -> T:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(repr, choices))}")
        return value

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
        """The command that would set `value`; raises SafetyError or InvalidValueError instead."""
        template = self._template()
        if self.guard is not None:
            what = f"set {self.name} to {value!r} {self.unit}".rstrip()
            target.guard.check(self.guard, _as_float(value), what=what)
        token = self._token(target, template, value)
        return template.format(**target.command_fields(), value=token)

    def command(self, target: ScpiTarget, value: T) -> str:
        """The command that sets `value`, unchecked: for safe-state writes (a source to 0, an
        output off) that no guard or validator may refuse."""
        token = self._lookup(value) if self.values is not None else self.formatter(value)
        return self._template().format(**target.command_fields(), value=token)

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


def _as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a guarded quantity must be a number, got {value!r}")
    return float(value)


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
    leaves the instrument untouched.
    """
    check_settings(target, **values)
    for name, value in values.items():
        _property_of(target, name).send(target, value)


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
    the constructor keywords a bench file may set (a channel number).
    """

    read_termination: ClassVar[str] = "\n"
    write_termination: ClassVar[str] = "\n"
    timeout: ClassVar[float] = 5.0
    block_terminators: ClassVar[int] = 1
    command_interval: ClassVar[float] = 0.0
    error_query: ClassVar[str | None] = ERROR_QUERY
    driver_options: ClassVar[tuple[str, ...]] = ()
    _OPTIONS: ClassVar[tuple[str, ...]] = (
        "timeout",
        "read_termination",
        "write_termination",
        "block_terminators",
        "command_interval",
    )

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(role=role or transport.role, guard=guard)
        self.transport = transport

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        """Connect through PyVISA (pyvisa-py), then run `on_connect()`.

        Options: `timeout` (s), `read_termination`, `write_termination`, `block_terminators`,
        `command_interval` (s, paces every exchange) and the driver's own `driver_options`.
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
        transport: Transport = VisaTransport.open(
            resource,
            role=role or resource,
            error_query=cls.error_query or ERROR_QUERY,
            query_delay=interval,
            **settings,
        )
        if interval > 0:
            transport = PacedTransport(transport, Pacer(interval))
        own = {name: options[name] for name in cls.driver_options if name in options}
        instrument = cls(transport, role=role or resource, guard=guard, **own)
        try:
            instrument.on_connect()
        except BaseException:
            transport.close()
            raise
        return instrument

    def on_connect(self) -> None:
        """Bring a freshly opened instrument to a known state: `*CLS` empties the error queue."""
        self.write("*CLS", check=False)

    def command_fields(self) -> dict[str, object]:
        return {}

    def write(self, command: str, *, check: bool = True) -> None:
        """Send `command`; with `check`, drain the error queue and raise what it held."""
        self.transport.write(command)
        if check:
            self.check_errors(after=command)

    def query(self, command: str) -> str:
        """Send a query and return its reply."""
        with self._explain_silence(command):
            return self.transport.query(command)

    def query_value(self, command: str, parser: Callable[[str], T]) -> T:
        """Send a query and parse its reply; an unparseable reply is a ProtocolError."""
        reply = self.query(command)
        try:
            return parser(reply)
        except (ValueError, TypeError, IndexError) as exc:
            raise ProtocolError(
                f"unexpected reply: {exc}", role=self.role, command=command, received=reply
            ) from None

    def read_block(self, command: str) -> bytes:
        """Send a query answered by a definite-length block and return the payload."""
        with self._explain_silence(command):
            return self.transport.read_block(command)

    @contextmanager
    def _explain_silence(self, command: str) -> Iterator[None]:
        """An instrument that rejects a query usually stays silent and queues an error; after
        such a timeout, read the queue (`check_errors`, in the driver's own way) and raise what it
        says instead of a bare timeout."""
        try:
            yield
        except InstrumentTimeoutError as timeout:
            if self.error_query is None or command == self.error_query:
                raise
            try:
                self.check_errors(after=command)
            except InstrumentReportedError as reported:
                raise reported from timeout
            except InstrumentError:
                pass
            raise

    def check_errors(self, *, after: str = "") -> None:
        """Drain the error queue (`error_query` until code 0); raise InstrumentReportedError."""
        if self.error_query is not None:
            drain_error_queue(self.transport, self.error_query, after=after)

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
