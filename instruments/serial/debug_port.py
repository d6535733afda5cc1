"""The DUT's serial debug port over pyserial: send lines, expect patterns, command and reply.

The port is a device path (`/dev/ttyUSB0`, `/dev/pts/5`, `COM3`) or a pyserial URL
(`socket://host:port`, `loop://`). Every byte both ways is kept with a timestamp in `traffic`,
so the serial log of a run can be stored next to its measurements.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

import serial

from benchtest.driver.base import NO_GUARD, Identity, Instrument, SourceGuard
from benchtest.errors import ConnectionLostError, InstrumentError, InstrumentTimeoutError

if TYPE_CHECKING:
    from instruments.capabilities import DebugPort

Direction = Literal["tx", "rx"]
POLL = 0.02  # s: the longest a single pyserial read blocks, so timeouts stay accurate
TAIL = 120  # characters of received text quoted in a timeout message
OPEN_SETTLE = 0.1  # s of silence awaited after opening, to drop a greeting prompt or banner


class SerialDebugPort(Instrument):
    """A line-oriented debug port with a prompt. Implements `DebugPort`."""

    capabilities = ("DebugPort",)
    driver_name = "serial.debug_port"

    def __init__(
        self,
        port: Any,
        *,
        prompt: str = "> ",
        line_ending: str = "\r\n",
        timeout: float = 2.0,
        identify_command: str = "id",
        role: str = "",
        guard: SourceGuard = NO_GUARD,
    ) -> None:
        super().__init__(role=role or str(port.port), guard=guard)
        self._port = port
        self.prompt = prompt
        self.line_ending = line_ending
        self.timeout = timeout
        self.identify_command = identify_command
        self.traffic: list[tuple[float, Direction, str]] = []
        self._received = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._prompt_pattern = re.compile("^" + re.escape(prompt), re.MULTILINE)
        self._last_sent = ""

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        """Open `resource`. Options: baudrate (115200), prompt ("> "), line_ending ("\\r\\n"),
        timeout (2.0 s, default for expect/command), identify_command ("id")."""
        baudrate = options.pop("baudrate", 115200)
        known = {"prompt", "line_ending", "timeout", "identify_command"}
        if set(options) - known:
            raise InstrumentError(
                f"unknown option(s) {', '.join(sorted(set(options) - known))} for driver "
                f"{cls.driver_name!r}; known: baudrate, {', '.join(sorted(known))}",
                role=role or resource,
            )
        try:
            port = serial.serial_for_url(resource, baudrate=baudrate, timeout=POLL, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConnectionLostError(
                f"cannot open {resource}: {exc}", role=role or resource
            ) from exc
        debug_port = cls(port, role=role or resource, guard=guard, **options)
        debug_port.discard_input(settle=OPEN_SETTLE)
        return debug_port

    @classmethod
    def profile_options(cls, dut: Mapping[str, Any]) -> dict[str, Any]:
        """Baud rate, prompt, line ending and identify command from the profile's `debug_port`."""
        section = dut.get("debug_port") or {}
        options = {k: section[k] for k in ("baudrate", "prompt", "line_ending") if k in section}
        identify = (section.get("commands") or {}).get("identify")
        if identify:
            options["identify_command"] = identify
        return options

    def send(self, text: str) -> None:
        """Write `text` followed by the line ending."""
        self._last_sent = text
        self._log("tx", text + self.line_ending)
        try:
            self._port.write((text + self.line_ending).encode())
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc

    def expect(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> re.Match[str]:
        """Wait until `pattern` matches what arrived; consume the text through the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            match = regex.search(self._received)
            if match is not None:
                self._received = self._received[match.end() :]
                return match
            if time.monotonic() >= deadline:
                raise InstrumentTimeoutError(
                    f"{regex.pattern!r} did not arrive within {limit:g} s; last text received",
                    role=self.role,
                    command=self._last_sent,
                    received=self._received[-TAIL:],
                )
            self._receive()

    def command(self, text: str, *, timeout: float | None = None) -> str:
        """Send `text`, return the reply up to the next prompt (echo and prompt removed)."""
        self.discard_input()
        self.send(text)
        match = self.expect(self._prompt_pattern, timeout)
        reply = match.string[: match.start()].replace("\r\n", "\n")
        echo = text + "\n"
        if reply.startswith(echo):
            reply = reply[len(echo) :]
        return reply.strip("\r\n")

    def discard_input(self, settle: float = 0.0) -> None:
        """Drop text that arrived unasked (it stays in `traffic`), so a reply starts clean.

        With `settle`, first wait until nothing has arrived for `settle` seconds (at most
        ten times that), e.g. for a prompt or banner sent when the port was opened.
        """
        start = quiet_since = time.monotonic()
        while True:
            if self._receive(wait=settle > 0):
                quiet_since = time.monotonic()
            now = time.monotonic()
            if now - quiet_since >= settle or now - start >= 10 * settle:
                break
        self._received = ""

    def identify(self) -> Identity:
        return Identity(manufacturer="DUT", model=self.command(self.identify_command))

    def safe_state(self) -> None:
        """Nothing: the debug port sources no power, and a command sent to a DUT in an unknown
        state could change it; the instruments powering the DUT make the bench safe."""

    def close(self) -> None:
        self._port.close()

    def _receive(self, *, wait: bool = True) -> bool:
        """Append what arrived to the receive buffer (blocking at most POLL when `wait`)."""
        try:
            waiting = self._port.in_waiting
            data = self._port.read(waiting or 1) if (waiting or wait) else b""
            while data and (waiting := self._port.in_waiting):  # socket:// reports 1 at a time
                data += self._port.read(waiting)
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc
        text = self._decoder.decode(data) if data else ""
        if text:
            self._log("rx", text)
            self._received += text
        return bool(data)

    def _log(self, direction: Direction, text: str) -> None:
        self.traffic.append((time.time(), direction, text))

    def _lost(self, exc: BaseException) -> ConnectionLostError:
        return ConnectionLostError(
            f"port {self._port.port} vanished: {exc}", role=self.role, command=self._last_sent
        )


if TYPE_CHECKING:
    _capability: type[DebugPort] = SerialDebugPort
