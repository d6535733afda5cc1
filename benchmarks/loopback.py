"""Helpers of the transfer benchmarks: a server in its own process, and exact socket reads.

`server_process(serve, *args)` runs `serve(ready, *args)` in a spawned child, which sends its
TCP port through `ready`; the context yields that port and terminates the child on exit.
Keeping the server out of the measuring process keeps its work from competing with the reader
for the interpreter lock.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def server_process(serve: Callable[..., None], *args: Any) -> Iterator[int]:
    """Run `serve(ready, *args)` in a child process; yield the port it reports; terminate it
    afterwards."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve, args=(child, *args), daemon=True)
    server.start()
    try:
        yield parent.recv()
    finally:
        server.terminate()
        server.join()


def receive(sock: socket.socket, count: int) -> bytes:
    """Exactly `count` bytes from `sock`."""
    data = b""
    while len(data) < count:
        data += sock.recv(count - len(data))
    return data
