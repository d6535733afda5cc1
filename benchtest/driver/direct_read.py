"""Exact-count reads straight from the TCP socket behind a pyvisa-py `::SOCKET` session.

pyvisa-py reads a raw socket 4 KB at a time and copies every piece several times, which caps a
block transfer far below what the loopback or a LAN delivers. For a block payload of known length
`DirectReader` first takes what pyvisa-py already buffered, then `recv_into` the caller's
buffer (the numpy array a waveform keeps), so a multi-megabyte waveform costs one pass over the
socket and no copy after it; its last read takes the block's terminators too. A block's
header, the commands before it and text replies (`read_line`) take the same short path,
bypassing pyvisa-py's layers; a wait is one blocking `recv` bounded by SO_RCVTIMEO, set only
when the wait changes. It is an optimisation of that one kind of session only
(`pyvisa_py_socket`); every other session is read through PyVISA's public API.
"""

from __future__ import annotations

import functools
import math
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MIN_WAIT, MAX_WAIT = 0.001, 3600.0  # s: one wait; the shortest never spins, an infinite
# timeout is waited out one MAX_WAIT at a time
# Where SO_RCVTIMEO takes a timeval (Linux, macOS, the BSDs: the systems with MSG_DONTWAIT), a
# wait is a plain blocking recv() bounded by it; elsewhere (Windows) select() before each recv().
_TIMED_RECV = hasattr(socket, "MSG_DONTWAIT")
_TIMEVAL = struct.Struct("@ll")
# recvmsg_into() reads a payload's end and its terminators in one call (not on Windows)
_SCATTER = hasattr(socket.socket, "recvmsg_into")
_TAIL = 2  # bytes: the most terminators a block has
MAX_STRAY = 1 << 20  # bytes `drain` takes at most (an instrument may never stop sending)


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
    """Reads a pyvisa-py SOCKET session's replies straight from its socket, honouring its
    pending buffer (what pyvisa-py's own reads took from the line and left unread).

    It assumes it is the only reader that sets the socket's SO_RCVTIMEO: it sets the option
    only when a wait differs from the last one (in whole ms, rounded up), and leaves it set,
    since pyvisa-py's own reads `select` before each `recv` and never block on it. So an
    exchange with the ordinary timeout makes no `setsockopt` at all.
    """

    def __init__(self, session: Any, sock: socket.socket) -> None:
        self._session = session
        self._sock = sock
        self._wait = math.nan  # s: the wait SO_RCVTIMEO was last set for (nan: not yet)
        self._wait_set = -1  # us of SO_RCVTIMEO on the socket; -1 unknown
        self._buffer = bytearray()  # reused by read_line, grown to its largest `limit`
        self._poll: Any = None
        if hasattr(select, "poll"):
            self._poll = select.poll()
            self._poll.register(sock, select.POLLIN)
        tail = memoryview(bytearray(_TAIL))  # what the last read of a payload takes after it
        self._tails = [tail[:then] if _SCATTER and then else None for then in range(_TAIL + 1)]

    @classmethod
    def of(cls, resource: Any) -> DirectReader | None:
        """The reader for a pyvisa-py `::SOCKET` resource; None for any other kind of session."""
        found = pyvisa_py_socket(resource)
        return cls(*found) if found is not None else None

    @property
    def usable(self) -> bool:
        """Whether the session still reads from this reader's socket (not closed since)."""
        return self._session.interface is self._sock

    @property
    def timeout(self) -> float:
        """The session's read timeout in s (inf for none), as pyvisa-py keeps it."""
        timeout: float | None = self._session.timeout
        return math.inf if timeout is None else timeout

    def read_into(self, out: memoryview, timeout: float, total: float, *, then: int = 0) -> int:
        """Fill `out` (a writable byte view) from the session; return how many bytes arrived,
        `len(out)` unless the line went quiet for `timeout` s, or `total` s passed, first.

        The bytes land in `out` itself: nothing is copied afterwards. `then` is how many bytes
        are due right after `out` (a block's terminators, at most 2): the read that fills
        `out` also takes those of them that have arrived, for `peek`, in the same `recv`.
        Raises PeerClosedError when the instrument closes the connection before `out` is full.
        """
        length = len(out)
        got = self._take_pending(out)
        if got == length:
            return got
        tail = self._tails[then] if 0 <= then <= _TAIL else None
        sock = self._sock
        now = time.monotonic()
        end = now + total
        wait = timeout if timeout <= total else total  # the first, and after each arrival
        deadline = now + wait
        while got < length:
            view = out[got:]
            if tail is None:
                received = self._recv(wait, sock.recv_into, view, len(view))
            else:
                scattered = self._recv(wait, sock.recvmsg_into, [view, tail])
                received = None if scattered is None else scattered[0]
            now = time.monotonic()
            if received is None:
                if now >= deadline:
                    return got
                wait = deadline - now
                continue
            if received == 0:
                raise PeerClosedError(f"connection closed after {got} of {length} bytes")
            if tail is not None and received > len(view):  # the tail took what followed
                self._session._pending_buffer.extend(tail[: received - len(view)])
                received = len(view)
            got += received
            if got < length:
                if now >= end:
                    return got
                wait = timeout if now + timeout <= end else end - now
                deadline = now + wait
        return got

    def peek(self, count: int, timeout: float) -> bytes:
        """Up to `count` bytes at the head of the reply, left unread: what pyvisa-py buffered,
        topped up (one wait of at most `timeout` s, one `recv`) by what the socket holds.

        b"" when nothing arrived within `timeout`, or the instrument closed the connection.
        """
        pending: bytearray = self._session._pending_buffer
        if not pending:  # the usual case: all of it from the socket
            received: bytes | None = self._recv(timeout, self._sock.recv, count)
            if not received:
                return b""
            pending.extend(received)
            return received
        if len(pending) < count:
            received = self._recv(timeout, self._sock.recv, count - len(pending))
            if received:
                pending.extend(received)
        return bytes(pending[:count])

    def read_line(self, ending: bytes, limit: int, timeout: float) -> bytearray | None:
        """The reply's bytes through the first `ending`, else what has arrived (at most
        `limit`), waiting at most `timeout` s when nothing has; None when nothing arrived (the
        line stayed quiet, or the instrument closed the connection). Bytes after `ending`
        stay buffered for the next read."""
        pending: bytearray = self._session._pending_buffer
        if ending not in pending:
            if len(self._buffer) < limit:
                self._buffer = bytearray(limit)
            buffer = self._buffer
            received = self._recv(timeout, self._sock.recv_into, buffer, limit)
            if not received:
                if not pending:
                    return None
            elif not pending:  # the usual reply: one whole line in one recv
                end = buffer.find(ending, 0, received)
                if 0 <= end == received - len(ending):
                    return buffer[:received]
                pending.extend(memoryview(buffer)[:received])
            else:
                pending.extend(memoryview(buffer)[:received])
        end = pending.find(ending)
        size = end + len(ending) if end >= 0 else min(len(pending), limit)
        line = pending[:size]
        del pending[:size]
        return line

    def _recv(self, wait: float, receive: Callable[..., T], *args: Any) -> T | None:
        """`receive(*args)` of what has arrived, else of what arrives within `wait` s (at least
        MIN_WAIT); None when nothing did. A blocking call bounded by SO_RCVTIMEO, set only
        when the wait changed (waking from select() cost ~40 us more per reply on loopback);
        select() first where SO_RCVTIMEO takes no timeval."""
        if not _TIMED_RECV:
            wait = min(max(wait, MIN_WAIT), MAX_WAIT)
            readable, _, _ = select.select([self._sock], [], [], wait)
            if not readable:
                return None
        elif wait != self._wait:
            self._set_wait(wait)
        try:
            return receive(*args)
        except (BlockingIOError, InterruptedError):  # SO_RCVTIMEO ran out
            return None

    def _set_wait(self, wait: float) -> None:
        """SO_RCVTIMEO for a wait of `wait` s (MIN_WAIT..MAX_WAIT, whole ms rounded up), set
        only when that differs from what the socket has."""
        self._wait = math.nan  # unknown, should setsockopt fail
        clamped = min(max(wait, MIN_WAIT), MAX_WAIT)
        micros = math.ceil(clamped * 1000.0) * 1000
        if micros != self._wait_set:
            self._wait_set = -1
            value = _TIMEVAL.pack(*divmod(micros, 1_000_000))
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            self._wait_set = micros
        self._wait = wait

    def send(self, data: bytes) -> None:
        """Write `data` to the socket, as pyvisa-py's own write does, without its layers."""
        self._sock.sendall(data)

    def skip(self, count: int) -> None:
        """Drop `count` bytes that `peek` returned."""
        del self._session._pending_buffer[:count]

    def leftover(self) -> bytes:
        """The bytes that arrived with the reply just read, after its end: taken, not read
        again (no wait, no system call)."""
        pending: bytearray = self._session._pending_buffer
        left = bytes(pending)
        pending.clear()
        return left

    def drain(self) -> bytes:
        """Take what is buffered and what has arrived on the socket by now, without waiting
        (at most about MAX_STRAY bytes): before a query, none of it can be its reply."""
        stray = self.leftover()
        while len(stray) < MAX_STRAY and self._arrived():
            received = self._sock.recv(1 << 16)
            if not received:  # closed by the instrument: the exchange finds out
                break
            stray += received
        return stray

    def _arrived(self) -> bool:
        """Whether bytes wait on the socket (one poll, no wait)."""
        poll = self._poll
        if poll is None:  # pragma: no cover - no poll() (Windows)
            return bool(select.select([self._sock], [], [], 0)[0])
        return bool(poll.poll(0))

    def _take_pending(self, view: memoryview) -> int:
        pending: bytearray = self._session._pending_buffer
        count = min(len(pending), len(view))
        if count:
            view[:count] = pending[:count]
            del pending[:count]
        return count
