"""What the VXI-11 and HiSLIP tests share: an instrument with a 10 MB block, served over a LAN
protocol for one test with no thread left behind, and exact socket reads for raw clients."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from benchtest.sim.server.gateway import LanGateway
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.testing import wait_until

BLOCK = bytes(range(256)) * (10_000_000 // 256) + bytes(10_000_000 % 256)  # 10 MB, LFs inside
IDENTITY = ScpiServer.identity


class BlockInstrument(ScpiServer):
    """A SCPI instrument with a 10 MB `:WAVeform:DATA?` block, and `*TRG` it counts."""

    def register(self) -> None:
        self.triggers = 0
        self.command(":WAVeform:DATA?", lambda r: b"#9%09d" % len(BLOCK) + BLOCK + b"\n")
        self.command("*TRG", lambda r: self._trigger())

    def _trigger(self) -> None:
        self.triggers += 1


@contextmanager
def served_over(protocol: str) -> Iterator[LanGateway]:
    """A BlockInstrument behind a `protocol` server; afterwards every thread they ran is gone."""
    before = set(threading.enumerate())
    with LanGateway(BlockInstrument(role="scope"), protocol, role="scope") as served:
        yield served
    wait_until(lambda: set(threading.enumerate()) <= before, timeout=2.0)


def exactly(sock: socket.socket, count: int) -> bytes:
    """`count` bytes from `sock`; ConnectionError if it closes first."""
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data
