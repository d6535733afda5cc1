"""Exact-count reads straight from the TCP socket behind a pyvisa-py `::SOCKET` session.

pyvisa-py reads a raw socket 4 KB at a time and copies every piece several times, which caps a
block transfer far below what the loopback or a LAN delivers. For a block payload of known length
`DirectReader` first takes what pyvisa-py already buffered, then `recv_into` one preallocated
buffer, so a multi-megabyte waveform costs one pass over the socket and one copy.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

MIN_WAIT = 0.001  # s: shortest select() wait, so a stalled read never spins


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
        try:
            session = resource.visalib.sessions.get(resource.session)
        except Exception:  # not pyvisa-py, or closed: use the ordinary read path
            return None
        sock = getattr(session, "interface", None)
        pending = getattr(session, "_pending_buffer", None)
        if not isinstance(sock, socket.socket) or not isinstance(pending, bytearray):
            return None
        return cls(session, sock)

    def read(self, length: int, timeout: float, total: float) -> tuple[bytes, bool]:
        """Up to `length` bytes; the flag is False when the line went quiet for `timeout` s, or
        `total` s passed, before all had arrived.

        Raises PeerClosedError when the instrument closes the connection before `length` bytes.
        """
        buffer = bytearray(length)
        view = memoryview(buffer)
        got = self._take_pending(view)
        end = time.monotonic() + total
        deadline = min(time.monotonic() + timeout, end)
        while got < length:
            wait = deadline - time.monotonic()
            readable, _, _ = select.select([self._sock], [], [], max(wait, MIN_WAIT))
            if not readable:
                if wait <= 0:
                    return bytes(view[:got]), False
                continue
            received = self._sock.recv_into(view[got:], length - got)
            if received == 0:
                raise PeerClosedError(f"connection closed after {got} of {length} bytes")
            got += received
            deadline = min(time.monotonic() + timeout, end)
            if got < length and time.monotonic() >= end:
                return bytes(view[:got]), False
        view.release()
        return bytes(buffer), True

    def _take_pending(self, view: memoryview) -> int:
        pending: bytearray = self._session._pending_buffer
        count = min(len(pending), len(view))
        view[:count] = pending[:count]
        del pending[:count]
        return count
