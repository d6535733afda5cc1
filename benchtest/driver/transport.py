"""Byte transport to a message-based instrument: PyVISA (pyvisa-py backend) with exact block reads.

`VisaTransport` writes commands, reads text replies and IEEE 488.2 definite-length blocks, and
turns every low-level failure into the benchtest error tree (timeout, lost connection, protocol
error), naming the role, the command and what arrived. `Transport` is the protocol drivers see,
so tests can hand them a scripted transport instead (`benchtest.driver.testing.expected_protocol`).
"""

from __future__ import annotations

import os
import re
import select
import socket
import time
from collections.abc import Iterator
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
MAX_QUEUED_ERRORS = 64  # an error queue that never reaches code 0 is itself a protocol error
_ERROR_REPLY = re.compile(r"\s*([+-]?\d+)(?:\s*[,\s]\s*(.*?))?\s*", re.DOTALL)
_SUPPRESS_END = constants.ResourceAttribute.suppress_end_enabled
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
    (1 for Rigol, 2 for Siglent).
    """

    def __init__(
        self,
        resource: Any,
        *,
        role: str = "",
        block_terminators: int = 1,
        error_query: str = ERROR_QUERY,
    ) -> None:
        if block_terminators not in (0, 1, 2):
            raise ValueError(f"block_terminators must be 0, 1 or 2, got {block_terminators!r}")
        self._resource = resource
        self.role = role or str(getattr(resource, "resource_name", ""))
        self.block_terminators = block_terminators
        self.error_query = error_query

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
        try:
            resource = pyvisa.ResourceManager("@py").open_resource(
                resource_name,
                read_termination=read_termination,
                write_termination=write_termination,
                timeout=timeout * 1000.0,
                open_timeout=int(timeout * 1000.0),
                query_delay=query_delay,
            )
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise ConnectionLostError(
                f"cannot open {resource_name}: {exc}", role=role or resource_name
            ) from exc
        transport = cls(
            resource,
            role=role or resource_name,
            block_terminators=block_terminators,
            error_query=error_query,
        )
        problem = transport._socket_error()
        if problem:
            transport.close()
            raise ConnectionLostError(
                f"cannot open {resource_name}: {problem}", role=transport.role
            )
        transport._no_delay()
        return transport

    @property
    def timeout(self) -> float:
        """Read timeout in seconds."""
        return float(self._resource.timeout) / 1000.0

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._resource.timeout = seconds * 1000.0

    def write(self, command: str) -> None:
        with self._errors(command):
            self._resource.write(command)

    def query(self, command: str) -> str:
        with self._errors(command):
            self._resource.write(command)
            delay = float(getattr(self._resource, "query_delay", 0.0) or 0.0)
            if delay > 0:
                time.sleep(delay)  # PyVISA's query_delay, as its own query() applies it
            reply: str = self._resource.read()
        return reply.strip()

    def read_block(self, command: str) -> bytes:
        """Send `command` and return the payload of the definite-length block it answers with."""
        with self._errors(command):
            self._resource.write(command)
            with self._raw_reads():
                try:
                    length = self._read_block_header(command)
                    payload = self._read_payload(command, length)
                    self._read_terminators(command)
                except ProtocolError:
                    self._discard_input()  # so the next reply is not read from this one's rest
                    raise
        return payload

    def check_errors(self, *, after: str = "") -> None:
        """Drain the SCPI error queue; raise InstrumentReportedError if it held anything."""
        drain_error_queue(self, self.error_query, after=after)

    def close(self) -> None:
        with suppress(pyvisa.Error, OSError):
            self._resource.close()

    # -- block parsing ---------------------------------------------------------------------

    def _read_block_header(self, command: str) -> int:
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

    def _read_payload(self, command: str, length: int) -> bytes:
        direct = DirectReader.of(self._resource)
        if direct is None:
            return self._read_payload_visa(command, length)
        payload, complete = direct.read(length, self.timeout)
        if not complete:
            raise ProtocolError(
                f"block truncated: header announced {length} bytes, "
                f"{len(payload)} arrived before the timeout",
                role=self.role,
                command=command,
                received=payload[-40:],
            )
        return payload

    def _read_payload_visa(self, command: str, length: int) -> bytes:
        payload = bytearray()
        while len(payload) < length:
            want = length - len(payload)
            problem = (
                f"block truncated: header announced {length} bytes, "
                f"{len(payload)} arrived before the timeout"
            )
            payload += self._read_exact(want, command, problem, bytes(payload[-40:]), partial=True)
        return bytes(payload)

    def _read_terminators(self, command: str) -> None:
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

    def _socket_error(self) -> str:
        """A pending error on a pyvisa-py SOCKET (its connect reports a refusal as success)."""
        sock = _socket_of(self._resource)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if sock is not None else 0
        return os.strerror(code) if code else ""

    def _no_delay(self) -> None:
        """TCP_NODELAY, NI-VISA's default: without it a write that follows a write (a setting,
        then its error-queue query) waits ~40 ms for a delayed ACK. pyvisa-py 0.8 cannot set
        VI_ATTR_TCPIP_NODELAY, so it is set on the socket of a `::SOCKET` session."""
        sock = _socket_of(self._resource)
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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


def _socket_of(resource: Any) -> socket.socket | None:
    """The TCP socket behind a pyvisa-py `::SOCKET` resource, or None for any other session."""
    try:
        session = resource.visalib.sessions.get(resource.session)
    except (AttributeError, pyvisa.Error):
        return None
    sock = getattr(session, "interface", None)
    return sock if isinstance(sock, socket.socket) else None
