"""Byte transport to a message-based instrument: PyVISA on any VISA library, exact block reads.

`VisaTransport` writes commands, reads text replies and IEEE 488.2 definite-length blocks, and
turns every low-level failure into the benchtest error tree (timeout, lost connection, protocol
error), naming the role, the command and what arrived. `Transport` is the protocol drivers see,
so tests can hand them a scripted transport instead (`benchtest.driver.testing.expected_protocol`).

Every read goes through PyVISA's public API (`read_bytes`, `visalib.read`, the termination and
END attributes), so it works unchanged on pyvisa-py, the vendor's IVI VISA and pyvisa-sim, over
raw sockets, VXI-11, HiSLIP, USBTMC and GPIB. On a pyvisa-py TCPIP SOCKET session only, block
payloads and text replies are taken straight from its socket (`DirectReader`), which pyvisa-py's
4 KB reads would otherwise slow down several times.

What it promises (docs/adding-a-driver.md, "What the protocol layer promises"): an exchange that
did not end cleanly (a timeout, a protocol error, a lost connection, an interrupt) leaves the
session out of step, and the next exchange first brings it back (`resync`: a device clear, or a
new connection where the session has none or its clear fails), so a late reply is never read as
the answer to a later query; one reply is bounded in time and in size. A library's own failure
(pyvisa-py's HiSLIP client raises RuntimeError when the server drops the connection) is a lost
connection like any other.
"""

from __future__ import annotations

import functools
import math
import os
import re
import select
import socket
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import import_module
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self, runtime_checkable

from benchtest.driver.direct_read import DirectReader, pyvisa_py_socket
from benchtest.driver.visa_library import (
    VisaLibrary,
    as_visa_library,
    cannot_open,
    library_of,
    open_resource,
)
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)

ERROR_QUERY = ":SYSTem:ERRor?"
MAX_HEADER_ECHO = 256  # bytes tolerated before the '#' of a block (a legacy command-header echo)
FLUSH_QUIET, FLUSH_LIMIT = 0.05, 2.0  # s: discarding the rest of a malformed reply
OPEN_TIMEOUT = 10_000  # ms to connect when the session's timeout is infinite
MIN_TIMEOUT = 0.001  # s: the shortest timeout a session is given (VISA's 0 means "never wait")
MAX_REPLY = 16 * 1024 * 1024  # bytes of one text reply (its termination not yet seen)
MAX_BLOCK = 1024 * 1024 * 1024  # bytes a block header may announce
PAYLOAD_CHUNK = 256 * 1024  # bytes: the most one payload read asks for, if chunk_size is less
READ_SLICE = 0.05  # s: how much of a block payload one read asks for, at the rate seen so far
MIN_BLOCK_RATE = 100_000.0  # B/s a block must keep up on average, after its first timeout
MAX_QUEUED_ERRORS = 64  # an error queue that never reaches code 0 is itself a protocol error
_ERROR_REPLY = re.compile(r"\s*([+-]?\d+)(?:\s*[,\s]\s*(.*?))?\s*", re.DOTALL)
_NO_ERROR = ("0,", "+0,")  # how an error-queue reply of code 0 begins, as most instruments send it


class StrayReplyWarning(UserWarning):
    """Bytes arrived that no query asked for (dropped before the next query was sent)."""


class _Deferred:
    """A module imported when one of its attributes is first asked for (then kept)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(import_module(self._name), attribute)
        setattr(self, attribute, value)
        return value


if TYPE_CHECKING:
    import pyvisa
    from pyvisa import constants
else:
    # PyVISA (~40 ms to import) is loaded by the first session opened: loading a bench file
    # imports this module (through the driver registry), and a run that opens no instrument
    # does not need PyVISA (a VISA resource name in the bench file is parsed by it all the
    # same: `ownership.resource_key`).
    pyvisa = _Deferred("pyvisa")
    constants = _Deferred("pyvisa.constants")


class _StatusCodes(NamedTuple):
    """VISA status codes: of a read that ended the reply (END or the termination character),
    the warnings a chunked read ignores, and those of a lost session."""

    ended: frozenset[constants.StatusCode]
    chunk_warnings: tuple[constants.StatusCode, ...]
    lost: frozenset[constants.StatusCode]


@functools.cache
def _codes() -> _StatusCodes:
    codes = constants.StatusCode
    return _StatusCodes(
        ended=frozenset({codes.success, codes.success_termination_character_read}),
        chunk_warnings=(codes.success_max_count_read, codes.success_device_not_present),
        lost=frozenset(
            {
                codes.error_connection_lost,
                codes.error_io,
                codes.error_invalid_object,
                codes.error_closing_failed,
            }
        ),
    )


@runtime_checkable
class Transport(Protocol):
    """What a SCPI driver needs from its connection; `role` names it in error messages."""

    role: str

    def write(self, command: str) -> None: ...

    def query(self, command: str) -> str: ...

    def read_block(self, command: str) -> bytes: ...

    def resync(self) -> None: ...

    def close(self) -> None: ...


def parse_error_reply(reply: str) -> tuple[int, str]:
    """Split an error-queue reply into (code, message).

    Accepts `-222,"Data out of range"`, `+0,"No error"`, `-100 Command error` and the Keithley
    form `-221,"Settings conflict;1;2026/01/02 10:00:00.000"` (the message is cut at the first `;`);
    a bare code (`-113`) has an empty message. Raises ValueError for anything else.
    """
    match = _ERROR_REPLY.fullmatch(reply)
    if match is None:
        raise ValueError(f"not an error-queue reply: {reply!r}")
    message = (match.group(2) or "").strip().strip('"').strip("'")
    return int(match.group(1)), message.split(";", 1)[0].strip()


def drain_error_queue(
    transport: Transport, command: str = ERROR_QUERY, *, after: str = "", first: str | None = None
) -> None:
    """Query the error queue until code 0; raise InstrumentReportedError if anything was queued.

    `after` names the command whose effect is being checked, for the message; `first` is the
    reply to a first query already sent (`VisaTransport.write_then_query`).
    """
    errors: list[tuple[int, str, str]] = []
    for _ in range(MAX_QUEUED_ERRORS):
        reply = transport.query(command) if first is None else first
        first = None
        if reply.startswith(_NO_ERROR):  # the usual reply, read without the pattern
            break
        try:
            code, message = parse_error_reply(reply)
        except ValueError as exc:
            raise ProtocolError(
                str(exc), role=transport.role, command=command, received=reply
            ) from None
        if code == 0:
            break
        errors.append((code, message, reply))
    else:
        raise ProtocolError(
            f"error queue still not empty after {MAX_QUEUED_ERRORS} reads",
            role=transport.role,
            command=command,
        )
    if errors:
        raise _reported(errors, transport.role, after or command)


def _reported(errors: list[tuple[int, str, str]], role: str, after: str) -> InstrumentReportedError:
    listed = "; ".join(f"{code} {message!r}" for code, message, _ in errors)
    return InstrumentReportedError(
        f"instrument reported error {listed}",
        code=errors[0][0],
        role=role,
        command=after,
        received=errors[0][2],
    )


class VisaTransport:
    """A PyVISA message-based resource with benchtest error handling and exact block reads.

    `timeout` is in seconds; `block_terminators` is how many LF bytes follow a block's payload
    (1 for Rigol, 2 for Siglent). A text reply must begin within `timeout` and end within
    another `timeout` after that, holding at most `max_reply` bytes; a block may announce at
    most `max_block` bytes and must arrive at MIN_BLOCK_RATE on average. After any exchange
    that did not end cleanly the session is out of step, and the next one first calls
    `resync()`. `library` is the VISA library a reconnection opens the resource through (by
    default the one that opened it). `direct_socket` off keeps a pyvisa-py SOCKET session on
    PyVISA's public API too, as every other session is.
    """

    def __init__(
        self,
        resource: Any,
        *,
        role: str = "",
        block_terminators: int = 1,
        error_query: str = ERROR_QUERY,
        max_reply: int = MAX_REPLY,
        max_block: int = MAX_BLOCK,
        library: VisaLibrary | None = None,
        direct_socket: bool = True,
    ) -> None:
        if block_terminators not in (0, 1, 2):
            raise ValueError(f"block_terminators must be 0, 1 or 2, got {block_terminators!r}")
        self._resource = resource
        self._name = str(getattr(resource, "resource_name", ""))  # read while it is open
        self._reopen_with: dict[str, Any] | None = None  # the settings of the last reconnection
        self.role = role or self._name
        self.block_terminators = block_terminators
        self.error_query = error_query
        self.max_reply = max_reply
        self.max_block = max_block
        self.library = library
        self._direct_socket = direct_socket
        self._direct: DirectReader | None = None  # the socket reader of `_direct_for`
        self._direct_for: Any = None  # the resource `_direct` was looked up for
        self.in_step = True  # False from the start of an exchange until it ended cleanly
        self._closed = False
        self._unsupported: set[constants.ResourceAttribute] = set()  # by this kind of session

    @classmethod
    def open(
        cls,
        resource_name: str,
        *,
        role: str = "",
        timeout: float = 5.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
        block_terminators: int = 1,
        error_query: str = ERROR_QUERY,
        query_delay: float = 0.0,
        visa_library: VisaLibrary | str | None = None,
        direct_socket: bool = True,
    ) -> Self:
        """Open `resource_name` (e.g. `TCPIP::127.0.0.1::5555::SOCKET`) through `visa_library`
        (`benchtest.driver.visa_library`; pyvisa-py when None).

        `query_delay` (s) is PyVISA's pause between a query's write and the read of its reply.
        """
        name = role or resource_name
        library = as_visa_library(visa_library)
        resource = _open_resource(
            library,
            resource_name,
            name,
            read_termination=read_termination,
            write_termination=write_termination,
            timeout=_visa_timeout(timeout),
            query_delay=query_delay,
        )
        try:
            return cls(
                resource,
                role=name,
                block_terminators=block_terminators,
                error_query=error_query,
                library=library,
                direct_socket=direct_socket,
            )
        except BaseException:  # a Ctrl-C included: the session is not left open
            with suppress(pyvisa.Error, OSError, RuntimeError):
                resource.close()
            raise

    @property
    def direct_socket(self) -> bool:
        """Whether a pyvisa-py SOCKET session's replies are read straight from its socket."""
        return self._direct_socket

    @direct_socket.setter
    def direct_socket(self, on: bool) -> None:
        self._direct_socket = on
        self._direct_for = None  # looked up again at the next exchange

    @property
    def timeout(self) -> float:
        """Read timeout in seconds (at least MIN_TIMEOUT). While a reconnection that failed
        has left the session closed, the one the next reconnection opens it with."""
        try:
            return float(self._resource.timeout) / 1000.0
        except pyvisa.errors.InvalidSession:
            if self._reopen_with is None:
                raise ConnectionLostError("connection is closed", role=self.role) from None
            return float(self._reopen_with["timeout"]) / 1000.0

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        milliseconds = _visa_timeout(seconds)
        try:
            self._resource.timeout = milliseconds
        except pyvisa.errors.InvalidSession:
            if self._reopen_with is None:
                raise ConnectionLostError("connection is closed", role=self.role) from None
            self._reopen_with["timeout"] = milliseconds

    # `write` and `query`, the exchanges of every setting and reading, spell `_exchange` out:
    # its calls cost a few us of CPU an exchange after a wait for the instrument.

    def write(self, command: str) -> None:
        if not self.in_step:
            self.resync()
        self.in_step = False
        try:
            self._write_lines(self._direct_reader(), command)
        except BaseException as exc:
            self._raise_translated(exc, command)
            raise
        self.in_step = True

    def query(self, command: str) -> str:
        if not self.in_step:
            self.resync()
        self.in_step = False
        try:
            direct = self._direct_reader()
            self._drop_stray(direct, command)
            self._write_lines(direct, command)
            delay = float(getattr(self._resource, "query_delay", 0.0) or 0.0)
            if delay > 0:
                time.sleep(delay)  # PyVISA's query_delay, as its own query() applies it
            reply = self._read_reply(command, direct)
            self._check_ended(direct, command)
        except BaseException as exc:
            self._raise_translated(exc, command)
            raise
        self.in_step = True
        return reply.strip()

    def write_then_query(self, command: str, query: str) -> str:
        """Send `command`, then the query `query` (an error-queue read after a setting), and
        return the query's reply. On a pyvisa-py socket without a query delay both lines go
        out in one send, as two sends would put them on the line, for one wake-up of the
        instrument's reader instead of two; on any other session, a write then a query. A
        failure to send is `command`'s, a failure of the reply `query`'s."""
        if not self.in_step:
            self.resync()
        direct = self._direct_reader()
        delay = float(getattr(self._resource, "query_delay", 0.0) or 0.0)
        if direct is None or delay > 0 or not self._resource.read_termination:
            self.write(command)
            return self.query(query)
        self.in_step = False
        try:
            self._drop_stray(direct, query)
            self._write_lines(direct, command, query)
        except BaseException as exc:
            self._raise_translated(exc, command)
            raise
        try:
            reply = self._read_reply(query, direct)
            self._check_ended(direct, query)
        except BaseException as exc:
            self._raise_translated(exc, query)
            raise
        self.in_step = True
        return reply.strip()

    def read_block(self, command: str) -> bytes:
        """Send `command` and return the payload of the definite-length block it answers with."""
        with self._exchange(command):
            block = self._block_reading()
            self._drop_stray(block[0], command)
            self._write_lines(block[0], command)
            length = self._read_block_header(command, *block)
            payload = bytearray(length)
            self._read_payload(command, memoryview(payload), length, *block, last=True)
            self._read_terminators(command, *block)
            self._check_ended(block[0], command)
        return bytes(payload)

    def read_block_into(self, command: str, out: memoryview, *, after: Sequence[str] = ()) -> int:
        """Send the writes `after`, then `command`, and read the block's payload into `out` (a
        writable byte view, such as `array.data.cast("B")` of the array a waveform keeps): no
        copy afterwards.

        On a raw socket the writes and the query go out in one send, each its own line, as
        separate sends would put them on the line (a send costs about as much as a small
        block). Returns the length the header announced. A block longer than `out` is read to
        its end (the rest dropped) so the session stays in step; the caller compares.
        """
        with self._exchange(command):
            block = self._block_reading()
            self._drop_stray(block[0], command)
            self._write_lines(block[0], *after, command)
            length = self._read_block_header(command, *block)
            longer = length > len(out)
            self._read_payload(command, out[:length], length, *block, last=not longer)
            if longer:
                rest = memoryview(bytearray(length - len(out)))
                self._read_payload(command, rest, length, *block, last=True)
            self._read_terminators(command, *block)
            self._check_ended(block[0], command)
        return length

    def _write_lines(self, direct: DirectReader | None, *commands: str) -> None:
        """Each of `commands` as its own program message: one send on a pyvisa-py socket
        (`direct`), one write each (a message with END) on any other session."""
        resource = self._resource
        if direct is None:  # a write each, through PyVISA
            for command in commands:
                resource.write(command)
            return
        ending = resource.write_termination or ""
        if len(commands) == 1:
            direct.send((commands[0] + ending).encode(resource.encoding))
        else:
            direct.send((ending.join(commands) + ending).encode(resource.encoding))

    def _drop_stray(self, direct: DirectReader | None, command: str) -> None:
        """Drop what arrived before `command` is sent (on a pyvisa-py socket, `direct`; any
        other session is left as it is): no query asked for it, so it must not be read as
        `command`'s reply. Anything but whitespace (an instrument's extra line, the rest of a
        block longer than its header said) is reported as a StrayReplyWarning."""
        if direct is None:
            return
        stray = direct.drain()
        if stray.strip():
            warnings.warn(
                StrayReplyWarning(
                    f"{self.role}: dropped {len(stray)} bytes that arrived before {command!r} "
                    f"was sent, which no query asked for: {stray[:40]!r}; a reply before it "
                    "was longer than its query expects"
                ),
                stacklevel=3,
            )

    def _check_ended(self, direct: DirectReader | None, command: str) -> None:
        """Refuse a reply (on a pyvisa-py socket, `direct`) that more than whitespace followed
        at once: an extra line, or a block longer than its header says, makes it suspect."""
        if direct is None:
            return
        left = direct.leftover()
        if left.strip():
            left += direct.drain()  # the rest of it, for the message (and not read again)
            raise ProtocolError(
                f"the reply went on after its end: {len(left)} more bytes arrived with it",
                role=self.role,
                command=command,
                received=left[:40],
            )

    def _direct_reader(self) -> DirectReader | None:
        """The reader of a pyvisa-py SOCKET session's socket (`DirectReader`), looked up once
        per connection; None for every other session, and with `direct_socket` off."""
        direct, resource = self._direct, self._resource
        if self._direct_for is resource and (direct is None or direct.usable):
            return direct
        self._direct = DirectReader.of(resource) if self._direct_socket else None
        self._direct_for = resource
        return self._direct

    def resync(self) -> None:
        """Bring the session back in step: nothing of an earlier reply may be read later.

        A session with a device clear (VXI-11, HiSLIP, USBTMC, GPIB) is cleared, and its input
        drained unless the clear itself discards the reply under way (VXI-11, HiSLIP); a raw
        `::SOCKET` has none, so it is closed and opened again (a late reply goes to the closed
        connection), as is a session whose clear fails. Raises ConnectionLostError when that
        fails; the session then stays out of step and the next exchange tries again.
        """
        self.in_step = False
        if self._closed:
            raise ConnectionLostError("connection is closed", role=self.role)
        if _is_socket(self._name) or not self._cleared():
            self._reconnect()
        self.in_step = True

    def _cleared(self) -> bool:
        """Device clear, then drain what still arrives where the clear leaves that possible;
        False when the session has no clear or the clear failed: pyvisa-py's HiSLIP clear
        expects its acknowledgement as the next message, so reply data still on its way (a
        late reply, the rest of a reply a timeout broke off mid-message) fails it, as does a
        lost connection."""
        resource = self._resource
        try:
            resource.clear()
            if not _clear_discards_reply(resource):
                self._discard_input()
        except (pyvisa.Error, OSError, NotImplementedError):
            return False
        except RuntimeError as exc:
            if not _raised_by_library(exc, resource):
                raise
            return False
        return True

    def check_errors(self, *, after: str = "") -> None:
        """Drain the SCPI error queue; raise InstrumentReportedError if it held anything."""
        drain_error_queue(self, self.error_query, after=after)

    def close(self) -> None:
        self._closed = True  # for good: no resync opens it again
        with suppress(pyvisa.Error, OSError, RuntimeError):  # a broken session closes anyway
            self._resource.close()

    def _reconnect(self) -> None:
        """Close the session and open the same resource, through the same VISA library, with
        the same settings (after a reconnection that failed, those it was tried with)."""
        old = self._resource
        with suppress(pyvisa.errors.InvalidSession):  # closed by the failed reconnection
            self._reopen_with = {
                "read_termination": old.read_termination,
                "write_termination": old.write_termination,
                "timeout": old.timeout,
                "query_delay": float(getattr(old, "query_delay", 0.0) or 0.0),
            }
        if self._reopen_with is None:
            raise ConnectionLostError("connection is closed", role=self.role)
        # A resource opened elsewhere (no `library`) is opened again through its own library.
        manager = None if self.library else pyvisa.ResourceManager(old.visalib)
        with suppress(pyvisa.Error, OSError, RuntimeError):
            old.close()
        library = self.library or library_of(old.visalib)
        self._resource = _open_resource(
            library, self._name, self.role, manager=manager, **self._reopen_with
        )

    def _exchange(self, command: str) -> _Exchange:
        """One exchange: in step first, then out of step until it ends cleanly (a timeout, a
        protocol error, a lost connection or a KeyboardInterrupt leave it out of step), its
        low-level failures translated (`_raise_translated`)."""
        return _Exchange(self, command)

    # -- text replies ----------------------------------------------------------------------

    def _read_reply(self, command: str, direct: DirectReader | None) -> str:
        """One text reply through its termination character (or END), within its time and size
        bounds: its first chunk may take `timeout`, the rest must follow within another.

        On a pyvisa-py socket (`direct`) with a termination character the reply is taken
        straight from the line (what pyvisa-py buffered first), as pyvisa-py would take it,
        without its layers; anywhere else through `visalib.read`."""
        resource = self._resource
        encoding, termination = resource.encoding, resource.read_termination
        if direct is not None and termination:
            ending: bytes | None = termination.encode(encoding)
            ordinary = direct.timeout
        else:
            direct, ending, ordinary = None, None, self.timeout
        data, ended = self._read_some(direct, ending, ordinary)
        if ended:
            return data.decode(encoding)
        deadline = time.monotonic() + ordinary
        while not ended:
            if len(data) > self.max_reply:
                raise ProtocolError(
                    f"reply longer than {self.max_reply} bytes without its termination",
                    role=self.role,
                    command=command,
                    received=bytes(data[-40:]),
                )
            chunk, ended = self._read_rest(
                command, deadline, data, direct=direct, ending=ending, ordinary=ordinary
            )
            data += chunk
        return data.decode(encoding)

    def _read_some(
        self, direct: DirectReader | None, ending: bytes | None, wait: float
    ) -> tuple[bytearray, bool]:
        """One chunk of a reply, and whether it ended the reply (termination character or END):
        read by `direct` up to `ending` within `wait` s when both are given, else through
        `visalib.read` within the session's timeout."""
        resource = self._resource
        if direct is not None and ending:
            line = direct.read_line(ending, resource.chunk_size, wait)
            if line is None:  # nothing within the timeout, or the connection closed
                raise pyvisa.VisaIOError(constants.StatusCode.error_timeout)
            return line, line.endswith(ending)
        with resource.ignore_warning(*_codes().chunk_warnings):
            chunk, status = resource.visalib.read(resource.session, resource.chunk_size)
        return bytearray(chunk), status in _codes().ended

    def _read_rest(
        self,
        command: str,
        deadline: float,
        received: bytearray,
        *,
        direct: DirectReader | None = None,
        ending: bytes | None = None,
        ordinary: float | None = None,
    ) -> tuple[bytearray, bool]:
        """The next chunk of a reply that has begun (read as `_read_some` reads with `direct`
        and `ending`), by `deadline` (time.monotonic()); the deadline, or a stall of a whole
        `ordinary` timeout (the session's by default), is a ProtocolError: the reply is
        incomplete. The read waits what is left until the deadline, but at least MIN_TIMEOUT
        (through PyVISA, by setting the session's timeout for it)."""
        if ordinary is None:
            ordinary = self.timeout
        remaining = deadline - time.monotonic()
        late = f"reply did not end within {ordinary:g} s of its first bytes"
        if remaining <= 0:
            raise self._incomplete(late, command, received)
        wait = min(remaining, ordinary)
        try:
            if direct is not None and ending:
                return self._read_some(direct, ending, wait)
            timeout = self._resource.timeout  # ms, restored afterwards
            self._resource.timeout = _visa_timeout(wait)
            try:
                return self._read_some(None, None, wait)
            finally:
                self._resource.timeout = timeout
        except pyvisa.VisaIOError as exc:
            if exc.error_code != constants.StatusCode.error_timeout or self._peer_closed():
                raise
            problem = late if remaining < ordinary else "reply stopped"
            raise self._incomplete(problem, command, received) from None

    def _incomplete(self, problem: str, command: str, received: bytearray) -> ProtocolError:
        return ProtocolError(
            f"{problem}: {len(received)} bytes arrived without its termination",
            role=self.role,
            command=command,
            received=bytes(received[-40:]),
        )

    # -- block parsing ---------------------------------------------------------------------

    def _block_reading(self) -> tuple[DirectReader | None, float]:
        """What a block read uses throughout: the direct reader of a pyvisa-py socket (None for
        other sessions, and with `direct_socket` off) and the read timeout in s, looked up
        once."""
        direct = self._direct_reader()
        return direct, direct.timeout if direct is not None else self.timeout

    def _read_block_header(self, command: str, direct: DirectReader | None, wait: float) -> int:
        """The payload length a definite-length block header announces. On a pyvisa-py socket a
        well-formed header is taken in one look at the line. Through PyVISA (exact-count
        reads, no termination character) `#` and the digit count come in one read and the
        digits in another; a command-header echo before the `#` is read byte by byte."""
        if direct is not None:
            head = direct.peek(2 + 9, wait)
            if not head:
                raise pyvisa.VisaIOError(constants.StatusCode.error_timeout)
            size = _header_size(head)
            if size:
                direct.skip(size)
                return self._announced(command, head[:size])
        with self._raw_reads():
            return self._read_header_visa(command)

    def _read_header_visa(self, command: str) -> int:
        # Two bytes first, not more: a reply may be just "0" + LF, and a read that asks for
        # more than comes waits out its whole timeout. Fewer come back when the reply ended.
        seen = self._read_exact(2, command, None, b"", partial=True)
        if seen[:1] != b"#":
            seen = self._read_until_hash(command, seen)
        if len(seen) == seen.index(b"#") + 1:
            seen += self._read_exact(1, command, "block header truncated", seen)
        digit = seen[-1:]
        if not digit.isdigit():
            raise ProtocolError(
                "block header: digit count is not a digit",
                role=self.role,
                command=command,
                received=seen,
            )
        if digit == b"0":
            raise ProtocolError(
                "indefinite-length block (#0) is not supported",
                role=self.role,
                command=command,
                received=seen,
            )
        digits = self._read_exact(int(digit), command, "block header truncated", seen)
        seen += digits
        if not digits.isdigit():
            raise ProtocolError(
                "block header: byte count is not a number",
                role=self.role,
                command=command,
                received=seen,
            )
        return self._announced(command, seen)

    def _announced(self, command: str, header: bytes) -> int:
        """The length in a complete header `#<n><n digits>`, at most `max_block`."""
        length = int(header[header.index(b"#") + 2 :])
        if length > self.max_block:
            raise ProtocolError(
                f"block header announces {length} bytes, more than the {self.max_block} "
                "a block may hold",
                role=self.role,
                command=command,
                received=header,
            )
        return length

    def _read_until_hash(self, command: str, seen: bytes = b"") -> bytes:
        """The reply through its '#' (and what `seen` holds of it already, read byte by byte
        past it: an echo of the command header, up to MAX_HEADER_ECHO bytes, may come first)."""
        while b"#" not in seen and b"\n" not in seen and len(seen) <= MAX_HEADER_ECHO:
            problem = "reply ended before a '#' block header" if seen else None
            seen += self._read_exact(1, command, problem, seen)
        hashed, newline = seen.find(b"#"), seen.find(b"\n")
        if hashed < 0 or 0 <= newline < hashed:
            raise ProtocolError(
                "expected a '#' block header", role=self.role, command=command, received=seen
            )
        return seen

    def _read_payload(
        self,
        command: str,
        out: memoryview,
        length: int,
        direct: DirectReader | None,
        wait: float,
        *,
        last: bool,
    ) -> None:
        """Fill `out` with payload bytes of a block whose header announced `length`; `last`:
        `out` ends the payload, so a direct read takes the terminators that follow it too."""
        if direct is None:
            with self._raw_reads():
                self._read_payload_visa(command, out, length)
            return
        then = self.block_terminators if last else 0
        got = direct.read_into(out, wait, wait + len(out) / MIN_BLOCK_RATE, then=then)
        if got < len(out):
            raise self._truncated(command, out, got, length)

    def _read_payload_visa(self, command: str, out: memoryview, length: int) -> None:
        """Fill `out` through PyVISA's `visalib.read`, each piece copied once, into `out`.

        A read asks for what arrives in READ_SLICE s at the rate the reads so far arrived at,
        up to the session's `chunk_size` (at least PAYLOAD_CHUNK), never past the payload: a
        library that waits for a read's whole count while bytes keep trickling in (pyvisa-py)
        cannot hold it past the block's time by more than one such slice. A library that drops
        the bytes of a read its timeout ends (VXI-11, HiSLIP) makes the count a truncated
        block reports a lower bound."""
        resource = self._resource
        read, session = resource.visalib.read, resource.session
        chunk = max(int(resource.chunk_size), PAYLOAD_CHUNK)
        got, count = 0, 1
        deadline = time.monotonic() + self._block_time(len(out))
        with resource.ignore_warning(*_codes().chunk_warnings):
            while got < len(out):
                started = time.monotonic()
                if started > deadline:
                    raise self._truncated(command, out, got, length)
                try:
                    piece, _ = read(session, min(count, len(out) - got))
                except pyvisa.VisaIOError as exc:
                    timed_out = exc.error_code == constants.StatusCode.error_timeout
                    if not timed_out or self._peer_closed():
                        raise
                    raise self._truncated(command, out, got, length) from None
                out[got : got + len(piece)] = piece
                got += len(piece)
                rate = len(piece) / max(time.monotonic() - started, 1e-6)
                count = min(chunk, max(1, int(rate * READ_SLICE)))

    def _truncated(self, command: str, out: memoryview, got: int, length: int) -> ProtocolError:
        return ProtocolError(
            f"block truncated: header announced {length} bytes, "
            f"{got} arrived within the time allowed",
            role=self.role,
            command=command,
            received=bytes(out[max(0, got - 40) : got]),
        )

    def _block_time(self, length: int) -> float:
        """The most a block payload of `length` bytes may take: a timeout, then MIN_BLOCK_RATE."""
        return self.timeout + length / MIN_BLOCK_RATE

    def _read_terminators(self, command: str, direct: DirectReader | None, wait: float) -> None:
        expected = b"\n" * self.block_terminators
        if not expected:
            return
        if direct is not None and direct.peek(len(expected), wait) == expected:
            direct.skip(len(expected))
            return
        with self._raw_reads():
            self._read_terminators_bytewise(command)

    def _read_terminators_bytewise(self, command: str) -> None:
        for index in range(self.block_terminators):
            problem = f"expected {self.block_terminators} LF after the block payload, got {index}"
            byte = self._read_exact(1, command, problem, b"\n" * index)
            if byte != b"\n":
                raise ProtocolError(
                    "block payload longer than its header says (no LF after the payload)",
                    role=self.role,
                    command=command,
                    received=byte,
                )

    def _read_exact(
        self,
        count: int,
        command: str,
        problem: str | None,
        received: bytes,
        *,
        partial: bool = False,
    ) -> bytes:
        """Read `count` bytes (or what arrived before a stall when `partial`).

        A timeout part-way through a reply is a ProtocolError stating `problem` (with `received`,
        the tail of what arrived); with `problem` None (nothing of the reply has arrived yet) and
        for a closed connection the VISA error propagates to `_raise_translated`.
        """
        try:
            data: bytes = self._resource.read_bytes(
                count, chunk_size=count, break_on_termchar=partial
            )
        except pyvisa.VisaIOError as exc:
            timed_out = exc.error_code == constants.StatusCode.error_timeout
            if not timed_out or problem is None or self._peer_closed():
                raise
            raise ProtocolError(
                problem, role=self.role, command=command, received=received
            ) from None
        return data

    def _discard_input(self) -> None:
        """Read and drop whatever is still arriving, for at most FLUSH_LIMIT s: until the line
        is quiet for FLUSH_QUIET s, a read fails, or a read comes back empty without waiting
        (a session with nothing asked of it may answer so, as pyvisa-py's HiSLIP does). A
        broken session (OSError, the library's RuntimeError) is left to the caller."""
        timeout = self._resource.timeout
        self._resource.timeout = _visa_timeout(FLUSH_QUIET)
        deadline = time.monotonic() + FLUSH_LIMIT
        try:
            while time.monotonic() < deadline:
                if not self._resource.read_bytes(1 << 16, break_on_termchar=True):
                    break
        except pyvisa.VisaIOError:
            pass
        finally:
            self._resource.timeout = timeout

    @contextmanager
    def _raw_reads(self) -> Iterator[None]:
        """Exact-count reads: no termination-character scanning (`read_termination` None turns
        VI_ATTR_TERMCHAR_EN off, which a VXI-11 read passes on to the instrument: with it on,
        every LF byte of a block would end a device_read), and a read that stalls returns what
        has arrived (END not suppressed) so a truncated block can be measured. Afterwards the
        session's termination settings are as they were, VI_ATTR_TERMCHAR_EN included."""
        termination = self._resource.read_termination
        termchar, suppress = (
            constants.ResourceAttribute.termchar_enabled,
            constants.ResourceAttribute.suppress_end_enabled,
        )
        termchar_enabled = self._get_attribute(termchar)
        suppress_end = self._get_attribute(suppress)
        self._resource.read_termination = None
        self._set_attribute(suppress, False if suppress_end is not None else None)
        try:
            yield
        finally:
            self._resource.read_termination = termination
            self._set_attribute(termchar, termchar_enabled)
            self._set_attribute(suppress, suppress_end)

    def _get_attribute(self, attribute: constants.ResourceAttribute) -> Any:
        """The attribute's value; None when the session has no such attribute (asked once:
        some libraries log every refusal with a traceback)."""
        if attribute in self._unsupported:
            return None
        try:
            return self._resource.get_visa_attribute(attribute)
        except (pyvisa.Error, NotImplementedError):
            self._unsupported.add(attribute)
            return None

    def _set_attribute(self, attribute: constants.ResourceAttribute, value: Any) -> None:
        if value is not None and attribute not in self._unsupported:
            with suppress(pyvisa.Error, NotImplementedError):
                self._resource.set_visa_attribute(attribute, value)

    # -- error translation -----------------------------------------------------------------

    def _raise_translated(self, exc: BaseException, command: str) -> None:
        """Raise the benchtest error for a low-level failure `exc` of an exchange with
        `command`; return (to let it propagate as it is) for anything else."""
        if isinstance(exc, pyvisa.VisaIOError):
            raise self._translate(exc, command) from exc
        if isinstance(exc, pyvisa.errors.InvalidSession):
            raise ConnectionLostError(
                "connection is closed", role=self.role, command=command
            ) from exc
        if isinstance(exc, OSError):
            raise ConnectionLostError(
                f"connection lost: {exc}", role=self.role, command=command
            ) from exc
        if isinstance(exc, RuntimeError):
            # pyvisa-py's HiSLIP client raises RuntimeError, not a VISA status, when the
            # server drops the connection or the message framing is lost: the session is gone
            if isinstance(exc, NotImplementedError) or not _raised_by_library(exc, self._resource):
                return
            raise ConnectionLostError(
                f"connection lost: {exc}", role=self.role, command=command
            ) from exc
        if isinstance(exc, UnicodeDecodeError):  # garbage on the line: bytes that are not text
            raise ProtocolError(
                f"reply is not {exc.encoding} text",
                role=self.role,
                command=command,
                received=bytes(exc.object),
            ) from None

    def _translate(self, exc: pyvisa.VisaIOError, command: str) -> InstrumentError:
        if exc.error_code == constants.StatusCode.error_timeout:
            if self._peer_closed():
                return ConnectionLostError(
                    "connection closed by the instrument", role=self.role, command=command
                )
            return InstrumentTimeoutError(
                f"no reply within {self.timeout:g} s", role=self.role, command=command
            )
        if exc.error_code in _codes().lost:
            return ConnectionLostError(
                f"connection lost: {exc.description}", role=self.role, command=command
            )
        return InstrumentError(f"VISA error: {exc.description}", role=self.role, command=command)

    def _peer_closed(self) -> bool:
        """True when the TCP socket behind a pyvisa-py SOCKET session was closed by the peer."""
        sock = _socket_of(self._resource)
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True


class _Exchange:
    """The context of one exchange of a VisaTransport (`VisaTransport._exchange`). A class
    rather than a generator-based context manager: it wraps every command."""

    __slots__ = ("_command", "_transport")

    def __init__(self, transport: VisaTransport, command: str) -> None:
        self._transport = transport
        self._command = command

    def __enter__(self) -> None:
        transport = self._transport
        if not transport.in_step:
            transport.resync()
        transport.in_step = False

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self._transport.in_step = True
        else:  # out of step; a low-level failure raised as the benchtest error it is
            self._transport._raise_translated(exc, self._command)


def _header_size(head: bytes) -> int:
    """The size of the complete, well-formed definite-length header `head` begins with
    (`#<n><n digits>`, n 1..9); 0 when it begins otherwise or is incomplete."""
    if len(head) < 3 or head[0] != 0x23 or not 0x31 <= head[1] <= 0x39:  # '#', '1'..'9'
        return 0
    size = head[1] - 0x2E  # 2 + the digit count
    return size if len(head) >= size and head[2:size].isdigit() else 0


def _socket_of(resource: Any) -> socket.socket | None:
    """The TCP socket behind a pyvisa-py `::SOCKET` resource, or None for any other session."""
    found = pyvisa_py_socket(resource)
    return found[1] if found is not None else None


def _is_socket(resource_name: str) -> bool:
    """A raw `::SOCKET` session: no device clear in its protocol."""
    return resource_name.upper().endswith("::SOCKET")


def _clear_discards_reply(resource: Any) -> bool:
    """A VXI-11 or HiSLIP session (interface TCPIP, class INSTR): its device clear is a protocol
    operation (VXI-11's device_clear call, HiSLIP's clear sequence) after which nothing of the
    reply under way arrives, so there is nothing to drain."""
    try:
        interface, kind = resource.interface_type, resource.resource_class
    except (pyvisa.Error, NotImplementedError, AttributeError):
        return False
    return bool(interface == constants.InterfaceType.tcpip and kind == "INSTR")


def _raised_by_library(exc: BaseException, resource: Any) -> bool:
    """Whether `exc` was raised inside the VISA library (PyVISA or the backend `resource` uses:
    pyvisa-py, pyvisa-sim), not in benchtest's own code: where its traceback ends."""
    packages = {"pyvisa", type(getattr(resource, "visalib", None)).__module__.split(".")[0]}
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    module = str(frame.tb_frame.f_globals.get("__name__", "")) if frame is not None else ""
    return module.split(".")[0] in packages


def _visa_timeout(seconds: float) -> float:
    """A timeout in s as PyVISA takes it (ms), at least MIN_TIMEOUT: VISA reads anything under
    1 ms as VI_TMO_IMMEDIATE ("do not wait"), which turns pyvisa-py's HiSLIP socket
    non-blocking, so a read that finds nothing fails as if the connection were lost. An
    infinite timeout stays infinite; a negative or NaN one is refused."""
    if not seconds >= 0:
        raise ValueError(f"a timeout is a number of seconds >= 0, got {seconds!r}")
    return max(seconds, MIN_TIMEOUT) * 1000.0


def _open_resource(
    library: VisaLibrary, name: str, role: str, *, manager: Any = None, **settings: Any
) -> Any:
    """Open `name` through `library` with `settings` (timeout in ms); ConnectionLostError
    naming `role` (and the library, and the bench-file field of the resource) when it cannot
    be opened. A pyvisa-py `::SOCKET` gets TCP_NODELAY, NI-VISA's default: without it a write
    that follows a write (a setting, then its error-queue query) waits ~40 ms for a delayed
    ACK, and pyvisa-py 0.8 cannot set VI_ATTR_TCPIP_NODELAY."""
    timeout = settings["timeout"]
    wait = int(timeout) if timeout is not None and math.isfinite(timeout) else OPEN_TIMEOUT
    resource = open_resource(library, name, role, manager=manager, open_timeout=wait, **settings)
    try:
        sock = _socket_of(resource)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if sock is not None else 0
        if code:  # pyvisa-py's connect reports a refusal as success, leaving the error pending
            refused = OSError(code, os.strerror(code))
            raise ConnectionLostError(cannot_open(library, name, refused), role=role)
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:  # refused, or a Ctrl-C: the session is not left open
        with suppress(pyvisa.Error, OSError):
            resource.close()
        raise
    return resource
