"""Exact-count reads straight from the TCP socket behind a pyvisa-py `::SOCKET` session.

pyvisa-py reads a raw socket 4 KB at a time and copies every piece several times, which caps a
block transfer far below what the loopback or a LAN delivers. For a block payload of known length
`DirectReader` first takes what pyvisa-py already buffered, then `recv_into` the caller's
buffer (the numpy array a waveform keeps), so a multi-megabyte waveform costs one pass over the
socket and no copy after it. A block's header and terminator, the commands before it and text
replies (`read_line`) take the same short path, bypassing pyvisa-py's layers; a wait is one
blocking `recv` bounded by SO_RCVTIMEO. It is an optimisation of that one kind of session
only (`pyvisa_py_socket`); every other session is read through PyVISA's public API.
"""

from __future__ import annotations

import functools
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MIN_WAIT, MAX_WAIT = 0.001, 3600.0  # s: one wait; the shortest never spins, an infinite
# timeout is waited out one MAX_WAIT at a time
# recv() that returns at once when nothing has arrived (Linux, macOS). There, a wait is a plain
# blocking recv() bounded by SO_RCVTIMEO: waking from select() cost ~40 us more per reply on
# loopback. Where there is none, select() before each recv().
_DONT_WAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_TIMEVAL = struct.Struct("@ll")
_NO_TIMEOUT = _TIMEVAL.pack(0, 0)


def pyvisa_py_socket(resource: Any) -> tuple[Any, socket.socket] | None:
    """(session, TCP socket) of a pyvisa-py TCPIP SOCKET resource; None for every other session
    (another VISA library, another interface, a closed session)."""
    classes = _pyvisa_py_classes()
    if classes is None or not isinstance(getattr(resource, "visalib", None), classes[0]):
        return None
    try:
        session = resource.visalib.sessions.get(resource.session)
    except Exception:  # closed: the ordinary read path reports it
        return None
    sock = getattr(session, "interface", None)
    pending = getattr(session, "_pending_buffer", None)
    if not isinstance(session, classes[1]) or not isinstance(sock, socket.socket):
        return None
    return (session, sock) if isinstance(pending, bytearray) else None


@functools.cache
def _pyvisa_py_classes() -> tuple[type, type] | None:
    """pyvisa-py's library and TCPIP SOCKET session classes; None without pyvisa-py."""
    try:
        from pyvisa_py.highlevel import PyVisaLibrary
        from pyvisa_py.tcpip import TCPIPSocketSession
    except ImportError:
        return None
    return PyVisaLibrary, TCPIPSocketSession


class PeerClosedError(OSError):
    """The instrument closed the connection part-way through a payload."""


class DirectReader:
    """Reads payload bytes from a pyvisa-py SOCKET session, honouring its pending buffer."""

    def __init__(self, session: Any, sock: socket.socket) -> None:
        self._session = session
        self._sock = sock

    @classmethod
    def of(cls, resource: Any) -> DirectReader | None:
        """The reader for a pyvisa-py `::SOCKET` resource; None for any other kind of session."""
        found = pyvisa_py_socket(resource)
        return cls(*found) if found is not None else None

    def read_into(self, out: memoryview, timeout: float, total: float) -> int:
        """Fill `out` (a writable byte view) from the session; return how many bytes arrived,
        `len(out)` unless the line went quiet for `timeout` s, or `total` s passed, first.

        The bytes land in `out` itself: nothing is copied afterwards. Raises PeerClosedError
        when the instrument closes the connection before `out` is full.
        """
        length = len(out)
        got = self._take_pending(out)
        end = time.monotonic() + total
        deadline = min(time.monotonic() + timeout, end)
        while got < length:
            received = self._arrived_by(deadline, self._sock.recv_into, out[got:], length - got)
            if received is None:
                if time.monotonic() >= deadline:
                    return got
                continue
            if received == 0:
                raise PeerClosedError(f"connection closed after {got} of {length} bytes")
            got += received
            now = time.monotonic()
            deadline = min(now + timeout, end)
            if got < length and now >= end:
                return got
        return got

    def peek(self, count: int, timeout: float) -> bytes:
        """Up to `count` bytes at the head of the reply, left unread: what pyvisa-py buffered,
        topped up (one wait of at most `timeout` s, one `recv`) by what the socket holds.

        b"" when nothing arrived within `timeout`, or the instrument closed the connection.
        """
        pending: bytearray = self._session._pending_buffer
        if len(pending) < count:
            pending.extend(self._receive(count - len(pending), timeout))
        return bytes(pending[:count])

    def _receive(self, count: int, timeout: float) -> bytes:
        """Up to `count` bytes: what has arrived, else what arrives first within `timeout`."""
        deadline = time.monotonic() + timeout
        received = self._arrived_by(deadline, self._sock.recv, count)
        return received or b""

    def _arrived_by(self, deadline: float, receive: Callable[..., T], *args: Any) -> T | None:
        """`receive(*args, flags)` of what has arrived, else of what arrives by `deadline`
        (time.monotonic()); None when nothing did."""
        if _DONT_WAIT:
            try:
                return receive(*args, _DONT_WAIT)
            except (BlockingIOError, InterruptedError):
                pass
        wait = min(max(deadline - time.monotonic(), MIN_WAIT), MAX_WAIT)
        if not _DONT_WAIT:
            readable, _, _ = select.select([self._sock], [], [], wait)
            return receive(*args, 0) if readable else None
        whole = int(wait)
        self._sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL.pack(whole, int((wait - whole) * 1e6))
        )
        try:
            return receive(*args, 0)
        except (BlockingIOError, InterruptedError):
            return None
        finally:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _NO_TIMEOUT)

    def read_line(self, ending: bytes, limit: int, timeout: float) -> bytearray | None:
        """The reply's bytes through the first `ending`, else what has arrived (at most
        `limit`), waiting at most `timeout` s when nothing has; None when nothing arrived (the
        line stayed quiet, or the instrument closed the connection). Bytes after `ending`
        stay buffered for the next read."""
        pending: bytearray = self._session._pending_buffer
        if ending not in pending:
            received = self._receive(limit, timeout)
            if not received and not pending:
                return None
            pending.extend(received)
        end = pending.find(ending)
        size = end + len(ending) if end >= 0 else min(len(pending), limit)
        line = pending[:size]
        del pending[:size]
        return line

    def send(self, data: bytes) -> None:
        """Write `data` to the socket, as pyvisa-py's own write does, without its layers."""
        self._sock.sendall(data)

    def skip(self, count: int) -> None:
        """Drop `count` bytes that `peek` returned."""
        del self._session._pending_buffer[:count]

    def _take_pending(self, view: memoryview) -> int:
        pending: bytearray = self._session._pending_buffer
        count = min(len(pending), len(view))
        view[:count] = pending[:count]
        del pending[:count]
        return count
