"""`ScpiServer`: the base of every simulated SCPI instrument, served over a raw TCP socket.

Input is split on LF (and on `;` between commands); each command is matched against the
instrument's manual-style header patterns and dispatched to its handler. The base supplies the
IEEE 488.2 common commands, the error queue and the event status register; a subclass registers
its dialect in `register()` and may override the error-queue reply format.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from typing import ClassVar, Literal

from benchtest.sim.server.scpi import (
    DEVICE_ERROR,
    QUEUE_OVERFLOW,
    UNDEFINED_HEADER,
    Request,
    ScpiError,
    header_regex,
    split_header,
    split_outside_quotes,
)
from benchtest.sim.server.service import Service
from benchtest.sim.server.tcp import Connection, TcpServer
from benchtest.sim.server.timing import Delays, Timing

Reply = str | bytes | None
Handler = Callable[[Request], Reply]
Fault = Literal["silent", "garbage"]
ERROR_QUEUE_SIZE = 20
MAX_DISPATCHED = 4096  # headers whose handler is remembered
GARBAGE = b"\x15\xfe?#\x00garbled\n"
COMMON_COMMANDS = ("*IDN?", "*RST", "*CLS", "*OPC?", "*OPC", "*WAI", "*ESR?")
_ESR_BIT_OF_CLASS = {1: 0x20, 2: 0x10, 3: 0x08, 4: 0x04}  # -1xx CME, -2xx EXE, -3xx DDE, -4xx QYE


class ScpiServer(Service):
    """A SCPI instrument on `TCPIP::127.0.0.1::<port>::SOCKET`.

    `common_commands` lists the IEEE 488.2 commands the model implements and `error_query` the
    header that pops its error queue of `error_queue_size` entries. `inject(fault)` makes the
    instrument stop answering ("silent") or answer garbage, for bad-input tests. `delays` makes
    it take the time the real model takes once `use_timing` asks for real timing.
    """

    identity = "BENCHTEST,SCPI SIMULATOR,0,0"
    common_commands: ClassVar[tuple[str, ...]] = COMMON_COMMANDS
    error_query: ClassVar[str] = ":SYSTem:ERRor[:NEXT]?"
    error_queue_size: ClassVar[int] = ERROR_QUEUE_SIZE

    def __init__(self, *, role: str = "", host: str = "127.0.0.1", port: int = 0) -> None:
        self.role = role
        self._lock = threading.RLock()
        self._commands: list[tuple[re.Pattern[str], Handler]] = []
        #: header -> (handler, the groups its pattern matched), or None: matched nothing
        self._dispatch: dict[str, tuple[Handler, tuple[str, ...]] | None] = {}
        self._dispatched = 0  # how many patterns `_dispatch` was filled with
        self._errors: deque[tuple[int, str]] = deque()
        self._esr = 0
        self._fault: Fault | None = None
        self.delays = Delays()
        self._tcp = TcpServer(self._serve, host=host, port=port, name=role or type(self).__name__)
        self._register_common()
        self.register()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tcp.start()

    def stop(self) -> None:
        self.delays.cancel()  # a reading or sweep in progress ends now
        self._tcp.stop()

    def use_timing(self, timing: Timing) -> None:
        """Answer at once (instant) or take the real model's time (before `start`)."""
        self.delays = Delays(timing)

    @property
    def port(self) -> int:
        return self._tcp.port

    @property
    def address(self) -> str:
        """The PyVISA resource string of this instrument."""
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    # -- dialect -----------------------------------------------------------------------------

    def register(self) -> None:
        """Subclasses register their commands here."""

    def reset(self) -> None:
        """`*RST`: return to the default settings (the error queue is kept)."""

    def command(self, pattern: str, handler: Handler) -> None:
        """Register `handler` for the header `pattern` (a query pattern ends with `?`)."""
        self._commands.append((header_regex(pattern), handler))

    def setting(
        self, pattern: str, query: Callable[[Request], str], write: Callable[[Request], None]
    ) -> None:
        """Register a settable parameter: `pattern <value>` and `pattern?`."""
        self.command(pattern, lambda request: write(request))
        self.command(pattern + "?", query)

    def format_error(self, code: int, message: str) -> str:
        """One error-queue entry as the instrument prints it (`-113,"Undefined header"`)."""
        return f'{code},"{message}"'

    def push_error(self, code: int, message: str) -> None:
        with self._lock:
            if len(self._errors) >= self.error_queue_size:
                self._errors[-1] = QUEUE_OVERFLOW
            else:
                self._errors.append((code, message))
            self._esr |= _ESR_BIT_OF_CLASS.get(-code // 100 if code < 0 else 3, 0x08)

    def next_error(self) -> str:
        """Pop the oldest error, formatted; code 0 when the queue is empty."""
        with self._lock:
            code, message = self._errors.popleft() if self._errors else (0, "No error")
        return self.format_error(code, message)

    def error_count(self) -> int:
        with self._lock:
            return len(self._errors)

    def inject(self, fault: Fault | None) -> None:
        """From now on answer nothing ("silent"), garbage, or normally again (None)."""
        with self._lock:
            self._fault = fault

    # -- dispatch ----------------------------------------------------------------------------

    def handle_line(self, line: str) -> list[str | bytes]:
        """Execute one line of commands and return the replies it produced, in order."""
        replies: list[str | bytes] = []
        for text in split_outside_quotes(line, ";"):
            if text.strip():
                reply = self._execute(text.strip())
                if reply is not None:
                    replies.append(reply)
        return replies

    def _execute(self, text: str) -> Reply:
        header, args = split_header(text)
        found = self._handler(header)
        if found is None:
            self.push_error(*UNDEFINED_HEADER)
            return None
        handler, groups = found
        with self._lock:
            return self._call(handler, Request(text, header, groups, args))

    def _handler(self, header: str) -> tuple[Handler, tuple[str, ...]] | None:
        """The handler of the first pattern that matches `header`, and the groups it matched;
        None when none does. Looked up once per header (an instrument is sent the same few
        headers again and again), again after patterns were added."""
        dispatch = self._dispatch
        if self._dispatched != len(self._commands):
            dispatch.clear()
            self._dispatched = len(self._commands)
        if header in dispatch:
            return dispatch[header]
        found: tuple[Handler, tuple[str, ...]] | None = None
        for regex, handler in self._commands:
            match = regex.fullmatch(header)
            if match:
                found = handler, tuple(g or "" for g in match.groups())
                break
        if len(dispatch) < MAX_DISPATCHED:  # a client that sends endless new headers
            dispatch[header] = found
        return found

    def _call(self, handler: Handler, request: Request) -> Reply:
        try:
            return handler(request)
        except ScpiError as error:
            self.push_error(error.code, error.message)
        except Exception as error:  # a simulator bug must not kill the connection
            self.push_error(DEVICE_ERROR[0], f"{DEVICE_ERROR[1]}: {error}")
        return None

    def _serve(self, connection: Connection) -> None:
        pending = b""
        for chunk in connection.chunks():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode("latin-1").rstrip("\r")
                connection.send(self._faulty(_encode(self.handle_line(text))))

    def _faulty(self, data: bytes) -> bytes:
        with self._lock:
            fault = self._fault
        if fault == "silent" or not data:
            return b""
        return GARBAGE if fault == "garbage" else data

    # -- IEEE 488.2 common commands ----------------------------------------------------------

    def _register_common(self) -> None:
        common: dict[str, Handler] = {
            "*IDN?": lambda r: self.identity,
            "*RST": lambda r: self.reset(),
            "*CLS": lambda r: self.clear_status(),
            "*OPC?": lambda r: "1",
            "*OPC": lambda r: None,
            "*WAI": lambda r: None,
            "*ESR?": lambda r: str(self._read_esr()),
        }
        for name in self.common_commands:
            self.command(name, common[name])
        self.command(self.error_query, lambda r: self.next_error())

    def clear_status(self) -> None:
        """`*CLS`: empty the error queue and clear the event status register."""
        with self._lock:
            self._errors.clear()
            self._esr = 0

    def _read_esr(self) -> int:
        with self._lock:
            value, self._esr = self._esr, 0
        return value


def _encode(replies: list[str | bytes]) -> bytes:
    """Text replies of one line joined by `;` and ended by LF; blocks are sent as they are."""
    if all(isinstance(r, str) for r in replies):
        return (";".join(str(r) for r in replies) + "\n").encode("latin-1") if replies else b""
    return b"".join(r if isinstance(r, bytes) else (r + "\n").encode("latin-1") for r in replies)
