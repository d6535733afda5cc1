"""A small threaded TCP server on the loopback interface, with a clean, joined shutdown.

Each accepted connection is served by its own thread through a `Connection` that yields the bytes
received. `stop()` wakes the accept loop with a connection of its own, closes the listening socket
and every client socket and joins every thread, so a test leaves no thread or port behind.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

ACCEPT_POLL = 0.1  # s; the accept loop checks for stop() this often


class Connection:
    """One client: `chunks()` yields what arrives until EOF or stop, `send()` writes bytes."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self._sock = sock
        self._stopping = stopping

    def chunks(self) -> Iterator[bytes]:
        while not self._stopping.is_set():
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            yield data

    def send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class TcpServer:
    """Serve `handler(connection)` for every client on `host:port` (port 0: a free port)."""

    def __init__(
        self,
        handler: Callable[[Connection], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "tcp",
    ) -> None:
        self._handler = handler
        self._host = host
        self._requested_port = port
        self._name = name
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._clients: dict[threading.Thread, Connection] = {}
        self._accept_thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self._host, self._requested_port))
        except OSError:
            listener.close()
            raise
        listener.listen(8)
        listener.settimeout(ACCEPT_POLL)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{self._name}-accept", daemon=True
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Close the listener and every client, and join all threads."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._wake_accept_loop()
            self._accept_thread.join()
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            clients = list(self._clients.items())
        for _, connection in clients:
            connection.close()
        for thread, _ in clients:
            thread.join()

    def _wake_accept_loop(self) -> None:
        """Connect once, so an accept() in progress returns now rather than at its next poll."""
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        with contextlib.suppress(OSError):
            socket.create_connection((host, self.port), timeout=ACCEPT_POLL).close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._stopping.is_set():
                sock.close()  # the wake-up connection of stop()
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._serve(Connection(sock, self._stopping))

    def _serve(self, connection: Connection) -> None:
        thread = threading.Thread(
            target=self._run_client, args=(connection,), name=f"{self._name}-client", daemon=True
        )
        with self._lock:
            self._clients = {t: c for t, c in self._clients.items() if t.is_alive()}
            self._clients[thread] = connection
        thread.start()

    def _run_client(self, connection: Connection) -> None:
        try:
            self._handler(connection)
        finally:
            connection.close()
