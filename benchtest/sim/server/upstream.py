"""One client's line to a simulated instrument's raw socket, read as IEEE 488.2 response messages.

A VXI-11 or HiSLIP server of the simulated bench is a LAN gateway in front of the instrument's
`::SOCKET` port (or the fault proxy in front of it). A raw socket carries no END, so
`ResponseFramer` finds where each response message ends, as the instrument would assert END
with its last byte: at the LF that ends a text reply, or after a definite-length block
(`#<n><n digits><payload>`, at the start of the reply or after `,`/`;`) and the LF that follows
it. `Upstream` is the client's own connection to that socket: it forwards program messages (an
END without a final LF gets one, as END terminates a program message), and a device clear
drops the connection with whatever reply was under way, and opens a fresh one on next use.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections import deque

RECV_SIZE = 1 << 20  # bytes asked of the instrument's socket at a time
POLL = 0.05  # s: a wait checks for a device abort and for the server stopping this often
_TEXT_STOP = re.compile(rb"\n|[,;]#")
_BLOCK_HEAD = re.compile(rb"#([1-9])")


class InstrumentGone(ConnectionError):
    """The instrument's socket closed (the instrument dropped the connection, or stopped)."""


class ResponseFramer:
    """The bytes an instrument sent, and where each response message in them ends.

    `feed` appends bytes; `take(limit, term_char)` removes the next piece: at most `limit`
    bytes, stopping after `term_char` (when given) and at the end of a response message. The
    bytes are kept as they arrived, so a piece that is one whole arrival costs no copy.
    """

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # bytes of the first chunk already taken
        self._size = 0  # bytes buffered
        self._taken = 0  # bytes taken since the start: the stream offset of the next byte
        self._ends: deque[int] = deque()  # stream offsets just after each message's last byte
        self._unit_start = True  # the next byte begins a response (a '#' there is a block)
        self._head = b""  # a block header begun but not complete: '#', its digit, its digits
        self._block_left = 0  # payload bytes of a block still to come

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        self._taken += self._size
        self._chunks.clear()
        self._ends.clear()
        self._offset = self._size = 0
        self._unit_start, self._head, self._block_left = True, b"", 0

    @property
    def complete(self) -> bool:
        """Whether a whole response message is buffered."""
        return bool(self._ends)

    def feed(self, data: bytes) -> None:
        if data:
            self._frame(data, self._taken + self._size)
            self._chunks.append(data)
            self._size += len(data)

    def ready(self, limit: int, term_char: int | None) -> bool:
        """Whether `take(limit, term_char)` would end a read: `limit` bytes, a message end or
        the termination character are buffered."""
        if self._size >= limit or (self._ends and self._ends[0] - self._taken <= limit):
            return True
        return term_char is not None and self._find(term_char, limit) >= 0

    def take(self, limit: int, term_char: int | None = None) -> tuple[bytes, bool, bool]:
        """The next piece of at most `limit` bytes: (data, whether it ends a response message,
        whether it ends with `term_char`)."""
        size = min(limit, self._size)
        if self._ends:
            size = min(size, self._ends[0] - self._taken)
        found_term = False
        if term_char is not None:
            index = self._find(term_char, size)
            if index >= 0:
                size, found_term = index + 1, True
        data = self._remove(size)
        ended = bool(self._ends) and self._ends[0] == self._taken
        if ended:
            self._ends.popleft()
        return data, ended, found_term

    def _find(self, byte: int, limit: int) -> int:
        """Where `byte` first is within the first `limit` buffered bytes (-1: not there)."""
        seen = 0
        for index, chunk in enumerate(self._chunks):
            start = self._offset if index == 0 else 0
            end = min(len(chunk), start + limit - seen)
            found = chunk.find(byte, start, end)
            if found >= 0:
                return seen + found - start
            seen += end - start
            if seen >= limit:
                break
        return -1

    def _remove(self, size: int) -> bytes:
        """The next `size` bytes, taken out of the buffer."""
        pieces: list[bytes] = []
        left = size
        while left:
            chunk = self._chunks[0]
            end = min(len(chunk), self._offset + left)
            whole = self._offset == 0 and end == len(chunk)
            pieces.append(chunk if whole else chunk[self._offset : end])
            left -= end - self._offset
            if end == len(chunk):
                self._chunks.popleft()
                self._offset = 0
            else:
                self._offset = end
        self._size -= size
        self._taken += size
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _frame(self, chunk: bytes, base: int) -> None:
        """Find the message ends in `chunk` (at stream offset `base`), carrying the state
        across chunks."""
        at = 0
        while at < len(chunk):
            if self._block_left:
                step = min(self._block_left, len(chunk) - at)
                self._block_left -= step
                at += step
            elif self._head or (self._unit_start and chunk[at] == ord("#")):
                at = self._header_byte(chunk, at)
            else:
                self._unit_start = False
                match = _TEXT_STOP.search(chunk, at)
                if match is None:
                    self._unit_start = chunk.endswith((b",", b";"))
                    return
                if match.group() == b"\n":
                    self._ends.append(base + match.end())
                at = match.start() + 1  # after the LF, or on the '#' after the separator
                self._unit_start = True

    def _header_byte(self, buffer: bytes, at: int) -> int:
        """Take the byte at `at` into a block header; returns where framing goes on. A `#`
        that does not begin a well-formed header is text, from the first byte that breaks it."""
        byte = buffer[at : at + 1]
        if self._head:
            allowed = b"123456789" if len(self._head) == 1 else b"0123456789"
            if byte not in allowed:
                self._head, self._unit_start = b"", False
                return at
        self._head += byte
        if len(self._head) < 2 or len(self._head) < 2 + int(self._head[1:2]):
            return at + 1
        self._block_left = int(self._head[2:])
        self._head, self._unit_start = b"", False
        return at + 1


class Upstream:
    """A connection to the instrument at `host:port`, opened on first use; `stopping` (set
    when the server stops) and `aborted` (a device abort) end any wait."""

    def __init__(self, host: str, port: int, stopping: threading.Event) -> None:
        self._address = (host, port)
        self._stopping = stopping
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.framer = ResponseFramer()
        self.aborted = threading.Event()

    def _connection(self) -> socket.socket:
        with self._lock:
            if self._sock is None:
                try:
                    sock = socket.create_connection(self._address, timeout=5.0)
                except OSError as error:
                    raise InstrumentGone(f"cannot reach the instrument: {error}") from error
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sock = sock
            return self._sock

    def write(self, data: bytes, end: bool) -> None:
        """Forward program bytes; `end`: they end a program message."""
        if end and not data.endswith(b"\n"):
            data += b"\n"
        if not data:
            return
        try:
            self._connection().sendall(data)
        except OSError as error:
            self._drop()
            raise InstrumentGone(f"the instrument closed the connection: {error}") from error

    def has_output(self) -> bool:
        """Message available: reply bytes buffered or waiting on the socket."""
        if len(self.framer) or self._sock is None:
            return bool(len(self.framer))
        with contextlib.suppress(InstrumentGone):
            self.receive(0.0)
        return bool(len(self.framer))

    def receive(self, timeout: float) -> bool:
        """Wait up to `timeout` s for reply bytes and buffer them; False when none came.

        Raises InstrumentGone when the instrument closed the connection."""
        sock = self._connection()
        deadline = time.monotonic() + timeout
        while True:
            if self._stopping.is_set():
                raise InstrumentGone("the simulated instrument is stopping")
            wait = max(0.0, min(POLL, deadline - time.monotonic()))
            try:
                readable, _, _ = select.select([sock], [], [], wait)
                data = sock.recv(RECV_SIZE) if readable else None
            except (OSError, ValueError) as error:
                self._drop()
                raise InstrumentGone(f"the instrument's connection failed: {error}") from error
            if data == b"":
                self._drop()
                raise InstrumentGone("the instrument closed the connection")
            if data:
                self.framer.feed(data)
                return True
            if self.aborted.is_set() or time.monotonic() >= deadline:
                return False

    def clear(self) -> None:
        """Device clear: forget the buffered reply, and drop the connection with any reply
        still under way (the next use opens a fresh one)."""
        self._drop()
        self.framer.clear()

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
