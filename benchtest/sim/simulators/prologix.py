"""A simulated Prologix GPIB-ETHERNET controller: the `++` command set on TCP, a GPIB bus behind.

The host sends lines; one that begins with an unescaped `++` is a command for the adapter,
anything else is data for the instrument at the current `++addr` (ESC escapes CR, LF, ESC and
`+` inside it). The adapter appends the `++eos` terminator, and the instrument answers into its
output queue; nothing comes back until `++read` (or `++auto 1`) addresses it to talk. A read
waits `++read_tmo_ms` for each character, as the real adapter does: an instrument that is still
measuring, or absent, sends nothing and the read ends empty. Instruments behind the bus are
simulated instruments (`handle_line`), each working in its own thread, as on a real bus.
Per the Prologix GPIB-ETHERNET manual: TCP port 1234, `++read_tmo_ms` 1 to 3000, addresses
0 to 30 with an optional secondary address 96 to 126.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.server.service import Service
from benchtest.sim.server.tcp import Connection, TcpServer
from benchtest.sim.server.timing import Timing
from benchtest.values.errors import SimulatorError

VERSION = "Prologix GPIB-ETHERNET Controller version 01.06.06.00"
ESC, CR, LF = 0x1B, 0x0D, 0x0A
EOS_TERMINATORS = {0: "\r\n", 1: "\r", 2: "\n", 3: ""}
MAV = 0x10  # status byte: message available
QUERY_INTERRUPTED = (-410, "Query INTERRUPTED")
QUERY_UNTERMINATED = (-420, "Query UNTERMINATED")
S = TypeVar("S")
COMMANDS = (
    *("addr", "auto", "clr", "eoi", "eos", "eot_enable", "eot_char", "ifc", "llo", "loc"),
    *("mode", "read", "read_tmo_ms", "rst", "savecfg", "spoll", "srq", "trg", "ver", "help"),
)


class GpibInstrument(Protocol):
    """What the bus needs of a simulated instrument (every `ScpiServer` is one)."""

    def handle_line(self, line: str) -> list[str | bytes]: ...

    def push_error(self, code: int, message: str) -> None: ...

    def use_timing(self, timing: Timing) -> None: ...

    def stop(self) -> None: ...


@dataclass
class _Listener:
    """One instrument on the bus: its input worker and its output queue (messages, each ended
    by EOI)."""

    instrument: GpibInstrument
    worker: ThreadPoolExecutor
    output: deque[bytes] = field(default_factory=deque)
    busy: int = 0  # messages received and not yet executed
    generation: int = 0  # a device clear drops the answers of what was received before it


@dataclass
class Settings:
    """The adapter's configuration (what `++savecfg 1` keeps over a power cycle)."""

    mode: int = 1
    address: tuple[int, int | None] = (0, None)
    auto: int = 0
    eoi: int = 1
    eos: int = 0
    eot_enable: int = 0
    eot_char: int = 0
    read_tmo_ms: int = 500
    savecfg: int = 1


class PrologixAdapter(Service):
    """A Prologix GPIB-ETHERNET controller on `127.0.0.1:<port>` with `instruments` on its bus,
    by primary GPIB address. `address_of(pad)` is the resource that reaches one of them."""

    def __init__(
        self,
        instruments: Mapping[int, GpibInstrument],
        *,
        role: str = "gpib",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        for pad in instruments:
            if not 0 <= pad <= 30:
                raise ValueError(f"GPIB primary address {pad} is not within 0 to 30")
        self.settings = Settings()
        self.commands: list[str] = []  # every ++ command received, for tests and the journal
        self._bus = {
            pad: _Listener(instrument, ThreadPoolExecutor(1, f"{role}-gpib{pad}"))
            for pad, instrument in instruments.items()
        }
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._tcp = TcpServer(self._serve, host=host, port=port, name=f"{role}-prologix")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tcp.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        for listener in self._bus.values():
            listener.instrument.stop()  # ends a reading in progress (and its unused server)
            listener.worker.shutdown(wait=True, cancel_futures=True)
        self._tcp.stop()

    def use_timing(self, timing: Timing) -> None:
        for listener in self._bus.values():
            listener.instrument.use_timing(timing)

    @property
    def port(self) -> int:
        return self._tcp.port

    @property
    def address(self) -> str:
        """The resource of the first instrument on the bus (the simulated bench's role)."""
        return self.address_of(min(self._bus))

    def instrument(self, pad: int) -> GpibInstrument:
        """The instrument at primary address `pad`."""
        return self._bus[pad].instrument

    def address_of(self, pad: int) -> str:
        return f"prologix://127.0.0.1:{self.port}/{pad}"

    # -- the host side -----------------------------------------------------------------------

    def _serve(self, connection: Connection) -> None:
        line = bytearray()
        escaped = False
        for chunk in connection.chunks():
            for byte in chunk:
                if escaped:
                    line.append(byte)
                    escaped = False
                elif byte == ESC:
                    escaped = True
                    line.append(byte)  # kept, so "++" after an ESC is not a command
                elif byte in (CR, LF):
                    if line:
                        self._line(bytes(line), connection)
                    line.clear()
                else:
                    line.append(byte)

    def _line(self, raw: bytes, connection: Connection) -> None:
        if raw.startswith(b"++"):
            reply = self._command(raw[2:].decode("latin-1").strip(), connection)
            if reply is not None:
                connection.send(f"{reply}\r\n".encode("latin-1"))
            return
        data = _unescape(raw)
        if self.settings.mode == 1:
            self._send(data + EOS_TERMINATORS[self.settings.eos].encode("latin-1"))
            if self.settings.auto:
                self._read(connection, "eoi")

    def _command(self, text: str, connection: Connection) -> str | None:
        self.commands.append(text)
        name, _, argument = text.partition(" ")
        name, argument = name.lower(), argument.strip()
        settings = self.settings
        if name == "ver":
            return VERSION
        if name == "addr":
            return self._address(argument)
        if name in ("auto", "eoi", "eot_enable", "mode", "savecfg"):
            return _flag(settings, name, argument)
        if name == "eos":
            return _number(settings, "eos", argument, 0, 3)
        if name == "eot_char":
            return _number(settings, "eot_char", argument, 0, 255)
        if name == "read_tmo_ms":
            return _number(settings, "read_tmo_ms", argument, 1, 3000)
        if name == "read":
            self._read(connection, argument.lower())
            return None
        if name == "clr":
            self._clear(settings.address[0])
            return None
        if name == "spoll":
            return self._serial_poll(argument)
        if name == "srq":
            return "0"
        if name in ("ifc", "llo", "loc", "trg", "rst"):
            return None  # bus management with no effect on the simulated instruments
        if name == "help":
            return " ".join(f"++{command}" for command in COMMANDS)
        return "Unrecognized command"

    def _address(self, argument: str) -> str | None:
        if not argument:
            pad, sad = self.settings.address
            return f"{pad}" if sad is None else f"{pad} {sad}"
        parts = argument.split()
        if not all(p.isdigit() for p in parts) or len(parts) > 2:
            return None
        pad = int(parts[0])
        sad = int(parts[1]) if len(parts) == 2 else None
        if 0 <= pad <= 30 and (sad is None or 96 <= sad <= 126):
            self.settings.address = (pad, sad)
        return None

    # -- the bus side ------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        """A message to the addressed listener; on a bus without it, nobody hears it."""
        listener = self._bus.get(self.settings.address[0])
        if listener is None:
            return
        with self._changed:
            if listener.output:  # an unread answer is lost: IEEE 488.2 "query interrupted"
                listener.output.clear()
                listener.instrument.push_error(*QUERY_INTERRUPTED)
            listener.busy += 1
            generation = listener.generation
        text = data.decode("latin-1").rstrip("\r\n")
        listener.worker.submit(self._execute, listener, text, generation)

    def _execute(self, listener: _Listener, text: str, generation: int) -> None:
        answers = listener.instrument.handle_line(text)
        message = _message(answers)
        with self._changed:
            listener.busy -= 1
            if message and generation == listener.generation:
                listener.output.append(message)
            self._changed.notify_all()

    def _read(self, connection: Connection, until: str) -> None:
        """`++read [eoi|<char>]`: forward what the addressed instrument says, each character
        within `read_tmo_ms` of the one before, up to EOI, the character, or the timeout."""
        listener = self._bus.get(self.settings.address[0])
        wait = self.settings.read_tmo_ms / 1000.0
        if listener is None:
            self._stopping.wait(wait)  # nobody talks: the read times out empty
            return
        with self._changed:
            if not self._changed.wait_for(lambda: listener.output or self._stopping.is_set(), wait):
                if not listener.busy:  # addressed to talk with nothing to say
                    listener.instrument.push_error(*QUERY_UNTERMINATED)
                return
            if self._stopping.is_set():
                return
            message = listener.output.popleft()
        if until.isdigit() and int(until) in message:
            end = message.index(int(until)) + 1
            message, rest = message[:end], message[end:]
            if rest:
                with self._changed:
                    listener.output.appendleft(rest)
        elif self.settings.eot_enable:
            message += bytes([self.settings.eot_char])
        connection.send(message)

    def _clear(self, pad: int) -> None:
        """`++clr`: Selected Device Clear: the instrument drops its input and output queues."""
        listener = self._bus.get(pad)
        if listener is not None:
            with self._changed:
                listener.output.clear()
                listener.generation += 1

    def _serial_poll(self, argument: str) -> str | None:
        pad = int(argument.split()[0]) if argument[:2].strip().isdigit() else None
        listener = self._bus.get(self.settings.address[0] if pad is None else pad)
        if listener is None:
            self._stopping.wait(self.settings.read_tmo_ms / 1000.0)
            return None
        with self._changed:
            return str(MAV if listener.output else 0)


def _flag(settings: Settings, name: str, argument: str) -> str | None:
    return _number(settings, name, argument, 0, 1)


def _number(settings: Settings, name: str, argument: str, low: int, high: int) -> str | None:
    """Query (no argument) or set one setting; a value out of range is ignored."""
    if not argument:
        return str(getattr(settings, name))
    if argument.isdigit() and low <= int(argument) <= high:
        setattr(settings, name, int(argument))
    return None


def _unescape(raw: bytes) -> bytes:
    out = bytearray()
    escaped = False
    for byte in raw:
        if byte == ESC and not escaped:
            escaped = True
            continue
        out.append(byte)
        escaped = False
    return bytes(out)


def _message(answers: list[str | bytes]) -> bytes:
    """The instrument's answers to one message as it talks them: text joined by `;` and ended
    by LF (with EOI); a block as it is."""
    if not answers:
        return b""
    if all(isinstance(a, str) for a in answers):
        return (";".join(str(a) for a in answers) + "\n").encode("latin-1")
    return b"".join(a if isinstance(a, bytes) else (a + "\n").encode("latin-1") for a in answers)


def behind_prologix(
    role: str, resource: str, options: Mapping[str, str], simulator: S
) -> S | PrologixAdapter:
    """The simulator of `role` on the GPIB bus of a simulated Prologix adapter, at the address
    its `sim://` resource's `gpib` setting gives (`sim://smu?gpib=24`); as it is without one."""
    text = options.get("gpib")
    if text is None:
        return simulator
    where = f"instruments.{role}.resource {resource!r}"
    if not text.isdigit() or not 0 <= int(text) <= 30:
        raise SimulatorError(f"{where}: gpib={text!r}: expected a GPIB address from 0 to 30")
    if not isinstance(simulator, ScpiServer):
        raise SimulatorError(
            f"{where}: gpib= puts a simulated SCPI instrument behind a Prologix adapter; "
            f"{role} is {type(simulator).__name__} (a fault or a visa= setting does not go "
            "with gpib=)"
        )
    return PrologixAdapter({int(text): simulator}, role=role)
