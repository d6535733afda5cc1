"""Byte transport to a message-based instrument: PyVISA (pyvisa-py backend) with exact block reads.

`VisaTransport` writes commands, reads text replies and IEEE 488.2 definite-length blocks, and
turns every low-level failure into the benchtest error tree (timeout, lost connection, protocol
error), naming the role, the command and what arrived. `Transport` is the protocol drivers see,
so tests can hand them a scripted transport instead (`benchtest.driver.testing.expected_protocol`).

What it promises (docs/adding-a-driver.md, "What the protocol layer promises"): an exchange that
did not end cleanly (a timeout, a protocol error, a lost connection, an interrupt) leaves the
session out of step, and the next exchange first brings it back (`resync`: a device clear, or a
new connection where the session has none), so a late reply is never read as the answer to a
later query; one reply is bounded in time and in size.
"""

from __future__ import annotations

import math
import os
import re
import select
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol, Self, runtime_checkable

import pyvisa
from pyvisa import constants

from benchtest.driver.direct_read import DirectReader
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
MAX_REPLY = 16 * 1024 * 1024  # bytes of one text reply (its termination not yet seen)
MAX_BLOCK = 1024 * 1024 * 1024  # bytes a block header may announce
MIN_BLOCK_RATE = 100_000.0  # B/s a block must keep up on average, after its first timeout
MAX_QUEUED_ERRORS = 64  # an error queue that never reaches code 0 is itself a protocol error
_ERROR_REPLY = re.compile(r"\s*([+-]?\d+)(?:\s*[,\s]\s*(.*?))?\s*", re.DOTALL)
_SUPPRESS_END = constants.ResourceAttribute.suppress_end_enabled
_REPLY_ENDED = {
    constants.StatusCode.success,  # END (EOI)
    constants.StatusCode.success_termination_character_read,
}
_CHUNK_WARNINGS = (
    constants.StatusCode.success_max_count_read,
    constants.StatusCode.success_device_not_present,
)
_LOST_CODES = {
    constants.StatusCode.error_connection_lost,
    constants.StatusCode.error_io,
    constants.StatusCode.error_invalid_object,
    constants.StatusCode.error_closing_failed,
}


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


def drain_error_queue(transport: Transport, command: str = ERROR_QUERY, *, after: str = "") -> None:
    """Query the error queue until code 0; raise InstrumentReportedError if anything was queued.

    `after` names the command whose effect is being checked, for the message.
    """
    errors: list[tuple[int, str, str]] = []
    for _ in range(MAX_QUEUED_ERRORS):
        reply = transport.query(command)
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
    `resync()`.
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
    ) -> None:
        if block_terminators not in (0, 1, 2):
            raise ValueError(f"block_terminators must be 0, 1 or 2, got {block_terminators!r}")
        self._resource = resource
        self.role = role or str(getattr(resource, "resource_name", ""))
        self.block_terminators = block_terminators
        self.error_query = error_query
        self.max_reply = max_reply
        self.max_block = max_block
        self.in_step = True  # False from the start of an exchange until it ended cleanly
        self._closed = False

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
    ) -> Self:
        """Open `resource_name` (e.g. `TCPIP::127.0.0.1::5555::SOCKET`) with pyvisa-py.

        `query_delay` (s) is PyVISA's pause between a query's write and the read of its reply.
        """
        name = role or resource_name
        resource = _open_resource(
            pyvisa.ResourceManager("@py"),
            resource_name,
            name,
            read_termination=read_termination,
            write_termination=write_termination,
            timeout=timeout * 1000.0,
            query_delay=query_delay,
        )
        return cls(
            resource, role=name, block_terminators=block_terminators, error_query=error_query
        )

    @property
    def timeout(self) -> float:
        """Read timeout in seconds."""
        return float(self._resource.timeout) / 1000.0

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._resource.timeout = seconds * 1000.0

    def write(self, command: str) -> None:
        with self._exchange(command):
            self._resource.write(command)

    def query(self, command: str) -> str:
        with self._exchange(command):
            self._resource.write(command)
            delay = float(getattr(self._resource, "query_delay", 0.0) or 0.0)
            if delay > 0:
                time.sleep(delay)  # PyVISA's query_delay, as its own query() applies it
            reply = self._read_reply(command)
        return reply.strip()

    def read_block(self, command: str) -> bytes:
        """Send `command` and return the payload of the definite-length block it answers with."""
        with self._exchange(command):
            block = self._block_reading()
            self._write_lines(block[0], command)
            length = self._read_block_header(command, *block)
            payload = bytearray(length)
            self._read_payload(command, memoryview(payload), length, *block)
            self._read_terminators(command, *block)
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
            self._write_lines(block[0], *after, command)
            length = self._read_block_header(command, *block)
            self._read_payload(command, out[:length], length, *block)
            if length > len(out):
                rest = memoryview(bytearray(length - len(out)))
                self._read_payload(command, rest, length, *block)
            self._read_terminators(command, *block)
        return length

    def _write_lines(self, direct: DirectReader | None, *commands: str) -> None:
        """Each of `commands` as its own program message: one send on a pyvisa-py socket
        (`direct`), one write each (a message with END) on any other session."""
        resource = self._resource
        if direct is None:
            for command in commands:
                resource.write(command)
            return
        ending = resource.write_termination or ""
        direct.send("".join(c + ending for c in commands).encode(resource.encoding))

    def resync(self) -> None:
        """Bring the session back in step: nothing of an earlier reply may be read later.

        A session with a device clear (VXI-11, HiSLIP, USBTMC, GPIB) is cleared and its input
        drained; a raw `::SOCKET` has none, so it is closed and opened again (a late reply goes
        to the closed connection). Raises ConnectionLostError when that fails; the session
        then stays out of step and the next exchange tries again.
        """
        self.in_step = False
        if self._closed:
            raise ConnectionLostError("connection is closed", role=self.role)
        if _is_socket(self._resource):
            self._reconnect()
        else:
            try:
                self._resource.clear()
            except (pyvisa.Error, NotImplementedError, OSError):
                self._reconnect()
            else:
                self._discard_input()
        self.in_step = True

    def check_errors(self, *, after: str = "") -> None:
        """Drain the SCPI error queue; raise InstrumentReportedError if it held anything."""
        drain_error_queue(self, self.error_query, after=after)

    def close(self) -> None:
        self._closed = True  # for good: no resync opens it again
        with suppress(pyvisa.Error, OSError):
            self._resource.close()

    def _reconnect(self) -> None:
        """Close the session and open the same resource with the same settings."""
        old = self._resource
        name = str(old.resource_name)
        settings = {
            "read_termination": old.read_termination,
            "write_termination": old.write_termination,
            "timeout": old.timeout,
            "query_delay": float(getattr(old, "query_delay", 0.0) or 0.0),
        }
        manager = getattr(old, "_resource_manager", None) or pyvisa.ResourceManager("@py")
        with suppress(pyvisa.Error, OSError):
            old.close()
        self._resource = _open_resource(manager, name, self.role, **settings)

    @contextmanager
    def _exchange(self, command: str) -> Iterator[None]:
        """One exchange: in step first, then out of step until it ends cleanly (a timeout, a
        protocol error, a lost connection or a KeyboardInterrupt leave it out of step)."""
        if not self.in_step:
            self.resync()
        self.in_step = False
        with self._errors(command):
            yield
        self.in_step = True

    # -- text replies ----------------------------------------------------------------------

    def _read_reply(self, command: str) -> str:
        """One text reply through its termination character (or END), within its time and size
        bounds: its first chunk may take `timeout`, the rest must follow within another."""
        data, ended = self._read_some()
        if ended:
            return data.decode(self._resource.encoding)
        deadline = time.monotonic() + self.timeout
        while not ended:
            if len(data) > self.max_reply:
                raise ProtocolError(
                    f"reply longer than {self.max_reply} bytes without its termination",
                    role=self.role,
                    command=command,
                    received=bytes(data[-40:]),
                )
            chunk, ended = self._read_rest(command, deadline, data)
            data += chunk
        return data.decode(self._resource.encoding)

    def _read_some(self) -> tuple[bytearray, bool]:
        """One chunk of a reply, and whether it ended the reply (termination character or END).

        On a pyvisa-py socket the chunk is taken straight from the line (what pyvisa-py
        buffered first), as pyvisa-py would take it, without its layers."""
        resource = self._resource
        direct = DirectReader.of(resource)
        termination = resource.read_termination
        if direct is not None and termination:
            ending = termination.encode(resource.encoding)
            line = direct.read_line(ending, resource.chunk_size, self.timeout)
            if line is None:  # nothing within the timeout, or the connection closed
                raise pyvisa.VisaIOError(constants.StatusCode.error_timeout)
            return line, line.endswith(ending)
        with resource.ignore_warning(*_CHUNK_WARNINGS):
            chunk, status = resource.visalib.read(resource.session, resource.chunk_size)
        return bytearray(chunk), status in _REPLY_ENDED

    def _read_rest(
        self, command: str, deadline: float, received: bytearray
    ) -> tuple[bytearray, bool]:
        """The next chunk of a reply that has begun, by `deadline` (time.monotonic()); the
        deadline, or a stall of a whole timeout, is a ProtocolError: the reply is incomplete."""
        timeout = self._resource.timeout
        remaining = (deadline - time.monotonic()) * 1000.0
        late = f"reply did not end within {timeout / 1000.0:g} s of its first bytes"
        if remaining <= 0:
            raise self._incomplete(late, command, received)
        self._resource.timeout = min(remaining, timeout)
        try:
            return self._read_some()
        except pyvisa.VisaIOError as exc:
            if exc.error_code != constants.StatusCode.error_timeout or self._peer_closed():
                raise
            problem = late if remaining < timeout else "reply stopped"
            raise self._incomplete(problem, command, received) from None
        finally:
            self._resource.timeout = timeout

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
        other sessions) and the read timeout in s, looked up once."""
        return DirectReader.of(self._resource), self.timeout

    def _read_block_header(self, command: str, direct: DirectReader | None, wait: float) -> int:
        """The payload length a definite-length block header announces. On a pyvisa-py socket a
        well-formed header is taken in one look at the line; anything else (a command-header
        echo first, a header split across packets, a malformed one) is read byte by byte,
        through PyVISA in exact-count mode."""
        if direct is not None:
            head = direct.peek(2 + 9, wait)
            if not head:
                raise pyvisa.VisaIOError(constants.StatusCode.error_timeout)
            size = _header_size(head)
            if size:
                direct.skip(size)
                return self._announced(command, head[:size])
        with self._raw_reads():
            return self._read_header_bytewise(command)

    def _read_header_bytewise(self, command: str) -> int:
        seen = self._read_until_hash(command)
        digit = self._read_exact(1, command, "block header truncated", seen)
        seen += digit
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
        digits = header[header.index(b"#") + 2 :]
        if int(digits) > self.max_block:
            raise ProtocolError(
                f"block header announces {int(digits)} bytes, more than the {self.max_block} "
                "a block may hold",
                role=self.role,
                command=command,
                received=header,
            )
        return int(digits)

    def _read_until_hash(self, command: str) -> bytes:
        seen = b""
        while len(seen) <= MAX_HEADER_ECHO:
            problem = "reply ended before a '#' block header" if seen else None
            byte = self._read_exact(1, command, problem, seen)
            seen += byte
            if byte == b"#":
                return seen
            if byte == b"\n":
                break
        raise ProtocolError(
            "expected a '#' block header", role=self.role, command=command, received=seen
        )

    def _read_payload(
        self, command: str, out: memoryview, length: int, direct: DirectReader | None, wait: float
    ) -> None:
        """Fill `out` with payload bytes of a block whose header announced `length`."""
        if direct is None:
            with self._raw_reads():
                self._read_payload_visa(command, out, length)
            return
        got = direct.read_into(out, wait, wait + len(out) / MIN_BLOCK_RATE)
        if got < len(out):
            raise ProtocolError(
                f"block truncated: header announced {length} bytes, "
                f"{got} arrived within the time allowed",
                role=self.role,
                command=command,
                received=bytes(out[max(0, got - 40) : got]),
            )

    def _read_payload_visa(self, command: str, out: memoryview, length: int) -> None:
        got = 0
        deadline = time.monotonic() + self._block_time(len(out))
        while got < len(out):
            problem = (
                f"block truncated: header announced {length} bytes, "
                f"{got} arrived within the time allowed"
            )
            if time.monotonic() > deadline:
                raise ProtocolError(problem, role=self.role, command=command)
            tail = bytes(out[max(0, got - 40) : got])
            piece = self._read_exact(len(out) - got, command, problem, tail, partial=True)
            out[got : got + len(piece)] = piece
            got += len(piece)

    def _block_time(self, length: int) -> float:
        """The most a block payload of `length` bytes may take: a timeout, then MIN_BLOCK_RATE."""
        return self.timeout + length / MIN_BLOCK_RATE

    def _read_terminators(self, command: str, direct: DirectReader | None, wait: float) -> None:
        expected = b"\n" * self.block_terminators
        if direct is not None and expected and direct.peek(len(expected), wait) == expected:
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
        for a closed connection the VISA error propagates to `_errors`.
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
        """Read and drop whatever is still arriving, until the line is quiet for FLUSH_QUIET s."""
        timeout = self._resource.timeout
        self._resource.timeout = FLUSH_QUIET * 1000.0
        deadline = time.monotonic() + FLUSH_LIMIT
        try:
            while time.monotonic() < deadline:
                self._resource.read_bytes(1 << 16, break_on_termchar=True)
        except (pyvisa.VisaIOError, OSError):
            pass
        finally:
            self._resource.timeout = timeout

    @contextmanager
    def _raw_reads(self) -> Iterator[None]:
        """Exact-count reads: no termination-character scanning, and a read that stalls
        returns what has arrived (END not suppressed) so a truncated block can be measured."""
        termination = self._resource.read_termination
        suppress_end = self._get_attribute(_SUPPRESS_END)
        self._resource.read_termination = None
        self._set_attribute(_SUPPRESS_END, False)
        try:
            yield
        finally:
            self._resource.read_termination = termination
            self._set_attribute(_SUPPRESS_END, suppress_end)

    def _get_attribute(self, attribute: constants.ResourceAttribute) -> Any:
        with suppress(pyvisa.Error, NotImplementedError):
            return self._resource.get_visa_attribute(attribute)
        return None

    def _set_attribute(self, attribute: constants.ResourceAttribute, value: Any) -> None:
        if value is not None:
            with suppress(pyvisa.Error, NotImplementedError):
                self._resource.set_visa_attribute(attribute, value)

    # -- error translation -----------------------------------------------------------------

    @contextmanager
    def _errors(self, command: str) -> Iterator[None]:
        try:
            yield
        except pyvisa.VisaIOError as exc:
            raise self._translate(exc, command) from exc
        except pyvisa.errors.InvalidSession as exc:
            raise ConnectionLostError(
                "connection is closed", role=self.role, command=command
            ) from exc
        except OSError as exc:
            raise ConnectionLostError(
                f"connection lost: {exc}", role=self.role, command=command
            ) from exc
        except UnicodeDecodeError as exc:  # garbage on the line: bytes that are not text
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
        if exc.error_code in _LOST_CODES:
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


def _header_size(head: bytes) -> int:
    """The size of the complete, well-formed definite-length header `head` begins with
    (`#<n><n digits>`, n 1..9); 0 when it begins otherwise or is incomplete."""
    if len(head) < 2 or head[:1] != b"#" or head[1:2] not in b"123456789":
        return 0
    size = 2 + int(head[1:2])
    return size if len(head) >= size and head[2:size].isdigit() else 0


def _socket_of(resource: Any) -> socket.socket | None:
    """The TCP socket behind a pyvisa-py `::SOCKET` resource, or None for any other session."""
    try:
        session = resource.visalib.sessions.get(resource.session)
    except (AttributeError, pyvisa.Error):
        return None
    sock = getattr(session, "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def _is_socket(resource: Any) -> bool:
    """A raw `::SOCKET` session: no device clear in its protocol."""
    return str(getattr(resource, "resource_name", "")).upper().endswith("::SOCKET")


def _open_resource(manager: Any, name: str, role: str, **settings: Any) -> Any:
    """Open `name` through `manager` with `settings` (timeout in ms); ConnectionLostError
    naming `role` when it cannot be opened. A `::SOCKET` gets TCP_NODELAY, NI-VISA's default:
    without it a write that follows a write (a setting, then its error-queue query) waits
    ~40 ms for a delayed ACK, and pyvisa-py 0.8 cannot set VI_ATTR_TCPIP_NODELAY."""
    timeout = settings["timeout"]
    wait = int(timeout) if timeout is not None and math.isfinite(timeout) else OPEN_TIMEOUT
    try:
        resource = manager.open_resource(name, open_timeout=wait, **settings)
    except (pyvisa.Error, OSError, ValueError) as exc:
        raise ConnectionLostError(f"cannot open {name}: {exc}", role=role) from exc
    sock = _socket_of(resource)
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if sock is not None else 0
    if code:  # pyvisa-py's connect reports a refusal as success, leaving the error pending
        with suppress(pyvisa.Error, OSError):
            resource.close()
        raise ConnectionLostError(f"cannot open {name}: {os.strerror(code)}", role=role)
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return resource
