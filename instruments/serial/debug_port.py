"""The DUT's serial debug port over pyserial: lines, patterns, command and reply, registers.

The port is a device path (`/dev/ttyUSB0`, `/dev/serial/by-id/...`, `COM3`) or a pyserial URL
(`socket://host:port`, `loop://`). Registers are read and written through the DUT profile's
register map; every byte both ways is kept with a timestamp in `traffic`, and a port that
vanishes (USB re-enumeration) is reopened at the same path when it comes back in time.

A serial console has no device clear: after a command that did not end at its prompt (a
timeout, an interrupt), the next command first waits up to `timeout` for that prompt and drops
everything before it, so a late reply is not taken for the next one's (a reply later than that
cannot be told from a new one). What one receive takes in is bounded (MAX_CHUNK, and POLL of
reading), and so is the text kept while waiting for a pattern (MAX_PENDING).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

import serial

from benchtest.config.registers import Field, Register, RegisterMap
from benchtest.driver.base import Identity, Instrument
from benchtest.driver.numbers import plain, seconds
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentError,
    InstrumentTimeoutError,
    ProtocolError,
)
from benchtest.values.ratings import NO_GUARD, SourceGuard

if TYPE_CHECKING:
    from instruments.capabilities import DebugPort

Direction = Literal["tx", "rx", "event"]
TrafficEntry = tuple[float, Direction, str]
POLL = 0.02  # s: the longest a single pyserial read blocks, so timeouts stay accurate
TAIL = 120  # characters of received text quoted in a timeout message
OPEN_SETTLE = 0.1  # s of silence awaited after opening, to drop a greeting prompt or banner
RECONNECT_TIMEOUT = 5.0  # s a vanished port is given to come back
RECONNECT_POLL = 0.05  # s between attempts to reopen it
LOCK_WAIT = 2.0  # s an opening waits for a port another process holds (a closing session)
TRAFFIC_LIMIT = 50_000  # entries kept in `traffic`; older ones are dropped (and counted)
MAX_CHUNK = 64 * 1024  # bytes one receive takes in, so a port that never pauses cannot hold it
MAX_PENDING = 1024 * 1024  # characters kept while waiting for a pattern (the newest)
PORT_ERRORS = (serial.SerialException, OSError)
ACCESS_WORDS = {"ro": "read-only", "wo": "write-only", "rw": "read-write"}
OPTIONS = (
    "prompt",
    "line_ending",
    "timeout",
    "identify_command",
    "register_map",
    "reconnect_timeout",
    "traffic_limit",
)


class SerialDebugPort(Instrument):
    """A line-oriented debug port with a prompt and a register map. Implements `DebugPort`."""

    capabilities = ("DebugPort",)
    driver_name = "serial.debug_port"
    safe_state_sends = False

    def __init__(
        self,
        port: Any,
        *,
        prompt: str = "> ",
        line_ending: str = "\r\n",
        timeout: float = 2.0,
        identify_command: str = "id",
        register_map: RegisterMap | None = None,
        reconnect_timeout: float = RECONNECT_TIMEOUT,
        traffic_limit: int = TRAFFIC_LIMIT,
        opener: Callable[[], Any] | None = None,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
    ) -> None:
        super().__init__(role=role or str(port.port), guard=guard)
        self._port = port
        self.resource = str(port.port)
        self.prompt = prompt
        self.line_ending = line_ending
        self.timeout = timeout
        self.identify_command = identify_command
        self.register_map = register_map or RegisterMap()
        self.reconnect_timeout = reconnect_timeout
        self.traffic_dropped = 0
        self._traffic: deque[TrafficEntry] = deque(maxlen=traffic_limit)
        self._opener = opener
        self._reconnects = 0
        self._reopened = False
        self._closed = False
        self._received = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._prompt_pattern = re.compile("^" + re.escape(prompt), re.MULTILINE)
        self._last_sent = ""
        self._identity: str | None = None  # the device's answer to identify(), once asked
        self._owed = 0  # prompts of commands that did not end at their prompt (a timeout)
        self._unverified = False  # reopened: the device there must be identified again

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        """Open `resource`. Options: baudrate (115200), prompt ("> "), line_ending ("\\r\\n"),
        timeout (2.0 s, default for expect/command), identify_command ("id"), register_map
        (from the DUT profile), reconnect_timeout (5.0 s), traffic_limit (50 000 entries)."""
        baudrate = options.pop("baudrate", 115200)
        if set(options) - set(OPTIONS):
            raise InstrumentError(
                f"unknown option(s) {', '.join(sorted(set(options) - set(OPTIONS)))} for driver "
                f"{cls.driver_name!r}; known: baudrate, {', '.join(sorted(OPTIONS))}",
                role=role or resource,
            )
        opener = functools.partial(_open_serial, resource, baudrate)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                port = opener()
                break
            except (*PORT_ERRORS, ValueError) as exc:
                if _held_elsewhere(exc) and time.monotonic() < deadline:
                    time.sleep(RECONNECT_POLL)
                    continue
                held = " (another process holds it)" if _held_elsewhere(exc) else ""
                raise ConnectionLostError(
                    f"cannot open {resource}{held}: {exc}", role=role or resource
                ) from exc
        debug_port = cls(port, role=role or resource, guard=guard, opener=opener, **options)
        debug_port.discard_input(settle=OPEN_SETTLE)
        return debug_port

    @classmethod
    def profile_options(cls, dut: Mapping[str, Any]) -> dict[str, Any]:
        """Baud rate, prompt, line ending, identify command and register map from the
        profile's `debug_port` section."""
        section = dut.get("debug_port") or {}
        options = {k: section[k] for k in ("baudrate", "prompt", "line_ending") if k in section}
        identify = (section.get("commands") or {}).get("identify")
        if identify:
            options["identify_command"] = identify
        register_map = RegisterMap.from_section(section)
        if register_map:
            options["register_map"] = register_map
        return options

    # -- lines -------------------------------------------------------------------------------

    @property
    def traffic(self) -> list[TrafficEntry]:
        """(time.time(), "tx" | "rx" | "event", text) of the last `traffic_limit` exchanges."""
        return list(self._traffic)

    def send(self, text: str) -> None:
        """Write `text` and the line ending; after a lost port comes back, resend it once.

        A port that was reopened is first asked who it is, when `identify()` was asked before:
        a re-enumerated USB adapter may now be another device, which must get nothing else.
        """
        if self._unverified:
            self._verify_identity()
        self._last_sent = text
        line = text + self.line_ending
        try:
            self._write(line)
        except PORT_ERRORS as exc:
            self._reconnect(exc)  # a failed write sent no complete line
            self.discard_input()
            self._verify_identity()
            self._last_sent = text
            try:
                self._write(line)
            except PORT_ERRORS as again:
                raise self._lost(again, "vanished again after reopening") from again

    def expect(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> re.Match[str]:
        """Wait until `pattern` matches what arrived; consume the text through the match.

        A port lost while waiting is reopened and the wait goes on, within the same timeout
        (a finite number of seconds >= 0; any other is refused before the wait begins).
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        try:
            limit = self.timeout if timeout is None else seconds(timeout)
        except ValueError as exc:
            raise InstrumentError(
                f"refused to wait for {regex.pattern!r}: the timeout must be a number of "
                f"seconds >= 0 ({exc})",
                role=self.role,
            ) from None
        deadline = time.monotonic() + limit
        reconnects = self._reconnects
        while True:
            match = regex.search(self._received)
            if match is not None:
                self._received = self._received[match.end() :]
                return match
            if time.monotonic() >= deadline:
                reopened = (
                    " (the port was reopened meanwhile)" if reconnects != self._reconnects else ""
                )
                raise InstrumentTimeoutError(
                    f"{regex.pattern!r} did not arrive within {limit:g} s{reopened}; "
                    "last text received",
                    role=self.role,
                    command=self._last_sent,
                    received=self._received[-TAIL:],
                )
            self._receive()

    def command(self, text: str, *, timeout: float | None = None) -> str:
        """Send `text`, return the reply up to the next prompt (echo and prompt removed).

        The prompts still owed by earlier commands that timed out are awaited first (see the
        module docstring), so their late replies are dropped, not returned.
        """
        self._settle_owed()
        self.discard_input()
        self.send(text)
        self._owed += 1  # until its prompt arrives; a timeout or an interrupt leaves it owed
        match = self.expect(self._prompt_pattern, timeout)
        self._owed -= 1
        reply = match.string[: match.start()].replace("\r\n", "\n")
        echo = text + "\n"
        if reply.startswith(echo):
            reply = reply[len(echo) :]
        return reply.strip("\r\n")

    def discard_input(self, settle: float = 0.0) -> None:
        """Drop text that arrived unasked (it stays in `traffic`), so a reply starts clean.

        With `settle`, first wait until nothing has arrived for `settle` seconds (at most
        ten times that), e.g. for a prompt or banner sent when the port was opened; after
        the port was reopened, at least OPEN_SETTLE.
        """
        self._drain(settle)
        while self._reopened:
            self._reopened = False
            self._drain(max(settle, OPEN_SETTLE))
        self._received = ""

    def _settle_owed(self) -> None:
        """Wait up to `timeout` for the prompts earlier commands still owe, dropping their
        replies; prompts that never come (a garbled or lost reply) are given up."""
        deadline = time.monotonic() + self.timeout
        while self._owed:
            match = self._prompt_pattern.search(self._received)
            if match is not None:
                self._received = self._received[match.end() :]
                self._owed -= 1
            elif time.monotonic() >= deadline:
                self._log("event", f"{self._owed} late prompt(s) never came; going on")
                self._owed = 0
            else:
                self._receive()

    # -- registers ---------------------------------------------------------------------------

    def read_register(self, name: str) -> int:
        """The value of register `name`, read through the profile's read command."""
        return self._read_value(self._register(name, reads=True, doing="read"))

    def write_register(self, name: str, value: int) -> None:
        """Write `value` (an integer of any kind, numpy too) to register `name`; refused before
        sending when it cannot be."""
        value = plain(value)  # type: ignore[assignment]
        register = self._register(name, writes=True, doing=f"write {value!r} to")
        problem = register.value_problem(value)
        if problem:
            raise self._refused(f"register {name}", value, problem)
        self._write_value(register, value)

    def read_field(self, register: str, field: str) -> int:
        """The value of `field` of `register` (a number; `register_map` names its values)."""
        reg = self._register(register, reads=True, doing=f"read field {field} of")
        return self._field(reg, field).extract(self._read_value(reg))

    def write_field(self, register: str, field: str, value: int | str) -> None:
        """Read-modify-write `field` of `register` to `value`, a number (of any kind) or a
        named value."""
        value = plain(value)  # type: ignore[assignment]
        doing = f"write {value!r} to field {field} of"
        reg = self._register(register, reads=True, writes=True, doing=doing)
        bits = self._field(reg, field)
        number = bits.encode(value)
        if isinstance(number, str):
            raise self._refused(f"field {field} of register {register}", value, number)
        self._write_value(reg, bits.insert(self._read_value(reg), number))

    # -- instrument --------------------------------------------------------------------------

    def identify(self) -> Identity:
        self._identity = self.command(self.identify_command)
        return Identity(manufacturer="DUT", model=self._identity)

    def safe_state(self) -> None:
        """Nothing: the debug port sources no power, and a command sent to a DUT in an unknown
        state could change it; the instruments powering the DUT make the bench safe."""

    def close(self) -> None:
        self._closed = True
        self._opener = None
        self._port.close()

    # -- internals ---------------------------------------------------------------------------

    def _register(
        self, name: str, *, reads: bool = False, writes: bool = False, doing: str
    ) -> Register:
        """Register `name`, if it allows what is `doing`; else refused before anything is sent."""
        register = self.register_map.get(name)
        if register is None:
            known = ", ".join(self.register_map.registers) or "none: the profile lists none"
            raise InstrumentError(
                f"no register {name!r} in the register map (registers: {known})", role=self.role
            )
        if (reads and not register.readable) or (writes and not register.writable):
            raise InstrumentError(
                f"refused to {doing} register {name}: it is {ACCESS_WORDS[register.access]}; "
                "nothing was sent",
                role=self.role,
            )
        return register

    def _field(self, register: Register, name: str) -> Field:
        bits = register.fields.get(name)
        if bits is None:
            known = ", ".join(register.fields) or "none"
            raise InstrumentError(
                f"register {register.name} has no field {name!r} (fields: {known})",
                role=self.role,
            )
        return bits

    def _refused(self, target: str, value: object, problem: str) -> InstrumentError:
        return InstrumentError(
            f"refused to write {value!r} to {target}: {problem}; nothing was sent", role=self.role
        )

    def _read_value(self, register: Register) -> int:
        protocol = self.register_map.protocol
        command = protocol.read(register)
        reply = self.command(command)
        value = protocol.parse_value(reply)
        pattern = protocol.read_reply.pattern if protocol.read_reply else ""
        problem = (
            register.value_problem(value)
            if value is not None
            else f"the reply does not match {pattern!r}"
        )
        if value is None or problem:
            raise ProtocolError(
                f"reading register {register.name}: {problem}",
                role=self.role,
                command=command,
                received=reply,
            )
        return value

    def _write_value(self, register: Register, value: int) -> None:
        protocol = self.register_map.protocol
        command = protocol.write(register, value)
        reply = self.command(command)
        expected = protocol.write_reply
        if expected is not None and not expected.search(reply):
            raise ProtocolError(
                f"writing register {register.name}: the reply does not match {expected.pattern!r}",
                role=self.role,
                command=command,
                received=reply,
            )

    def _write(self, line: str) -> None:
        port = self._open_port()
        port.write(line.encode())
        port.flush()
        self._log("tx", line)

    def _drain(self, settle: float) -> None:
        start = quiet_since = time.monotonic()
        while True:
            if self._receive(wait=settle > 0):
                quiet_since = time.monotonic()
            now = time.monotonic()
            if now - quiet_since >= settle or now - start >= 10 * settle:
                return

    def _receive(self, *, wait: bool = True) -> bool:
        """Append what arrived to the receive buffer (blocking at most POLL when `wait`)."""
        try:
            port = self._open_port()
            waiting = port.in_waiting
            data = bytearray(port.read(min(waiting, MAX_CHUNK) or 1) if (waiting or wait) else b"")
            # Then what else waits, up to MAX_CHUNK and for at most POLL: socket:// reports one
            # byte at a time, so a port that never pauses would otherwise hold the receive (and
            # the deadline of the wait that called it) for a second or more.
            ends = time.monotonic() + POLL
            while (
                data
                and len(data) < MAX_CHUNK
                and time.monotonic() < ends
                and (waiting := port.in_waiting)
            ):
                data += port.read(min(waiting, MAX_CHUNK - len(data)))
        except PORT_ERRORS as exc:
            self._reconnect(exc)
            return False
        text = self._decoder.decode(data) if data else ""
        if text:
            self._log("rx", text)
            self._received = (self._received + text)[-MAX_PENDING:]
        return bool(data)

    def _open_port(self) -> Any:
        """The port, or PortNotOpenError after close() or a reconnect that gave up."""
        if not self._port.is_open:
            raise serial.PortNotOpenError()
        return self._port

    def _reconnect(self, cause: BaseException) -> None:
        """Close the vanished port and reopen the same resource until `reconnect_timeout`."""
        with contextlib.suppress(*PORT_ERRORS):
            self._port.close()
        if self._opener is None:
            raise self._lost(cause, "is closed" if self._closed else "vanished") from cause
        self._log("event", f"port {self.resource} lost ({cause}); reopening")
        started = time.monotonic()
        while (port := self._try_open()) is None:
            if time.monotonic() - started >= self.reconnect_timeout:
                self._log("event", f"port {self.resource} did not come back")
                words = f"vanished and did not come back within {self.reconnect_timeout:g} s"
                raise self._lost(cause, words) from cause
            time.sleep(RECONNECT_POLL)
        self._port = port
        self._decoder.reset()
        self._reconnects += 1
        self._reopened = True
        self._unverified = True
        self._log(
            "event", f"port {self.resource} reopened after {time.monotonic() - started:.2f} s"
        )

    def _verify_identity(self) -> None:
        """After a reopening: the device must answer `identify_command` as it did before."""
        self._unverified = False
        if self._identity is None:
            return  # never identified: nothing to compare with
        try:
            answer = self.command(self.identify_command)
        except BaseException:
            self._unverified = True  # not known yet: ask again before the next command
            raise
        if answer != self._identity:
            self._unverified = True  # and it stays so: this device gets nothing else
            self._log("event", f"port {self.resource} now leads to {answer!r}")
            raise ConnectionLostError(
                f"port {self.resource} came back, but the device there answers {answer!r} to "
                f"{self.identify_command!r}, not {self._identity!r}: another device has that "
                "port now, and nothing else was sent to it",
                role=self.role,
            )

    def _try_open(self) -> Any | None:
        assert self._opener is not None
        try:
            return self._opener()
        except (*PORT_ERRORS, ValueError):
            return None

    def _log(self, direction: Direction, text: str) -> None:
        if len(self._traffic) == self._traffic.maxlen:
            self.traffic_dropped += 1
        self._traffic.append((time.time(), direction, text))

    def _lost(self, cause: BaseException, words: str) -> ConnectionLostError:
        return ConnectionLostError(
            f"port {self.resource} {words}: {cause}", role=self.role, command=self._last_sent
        )


def _open_serial(resource: str, baudrate: int) -> Any:
    return serial.serial_for_url(resource, baudrate=baudrate, timeout=POLL, exclusive=True)


def _held_elsewhere(exc: BaseException) -> bool:
    """pyserial's refusal of a port another process has open exclusively."""
    return "exclusively lock" in str(exc)


if TYPE_CHECKING:
    _capability: type[DebugPort] = SerialDebugPort
