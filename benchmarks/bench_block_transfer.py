"""A 10 MB IEEE 488.2 definite-length block from a loopback server, read three ways.

(a) a plain-socket reader (the baseline), (b) benchtest's `VisaTransport.read_block`, (c) stock
pyvisa-py `query_binary_values`, for context. The server runs in its own process. Prints each
throughput and its ratio to (a) measured in the same run; exits 1 if (b) is below 0.5x (a).

    python benchmarks/bench_block_transfer.py
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import pyvisa
from loopback import receive, server_process

from benchtest.driver.transport import VisaTransport

SIZE = 10_000_000
ROUNDS = 9  # interleaved rounds of (a) and (b); (c) is slow and runs twice
TARGET = 0.5
QUERY = b":WAV:DATA?"


def block() -> bytes:
    payload = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)
    return b"#9%09d" % SIZE + payload + b"\n"


def serve(ready: Connection) -> None:
    """Child process: answer every line with the block, until the client disconnects."""
    reply = block()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ready.send(listener.getsockname()[1])
        while True:
            client, _ = listener.accept()
            threading.Thread(target=answer_lines, args=(client, reply), daemon=True).start()


def answer_lines(client: socket.socket, reply: bytes) -> None:
    """Serve one client (each reader keeps its own connection open)."""
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = b""
    with client:
        while data := client.recv(65536):
            pending += data
            while b"\n" in pending:
                _, pending = pending.split(b"\n", 1)
                client.sendall(reply)


def plain_socket_reader(port: int) -> Callable[[], bytes | bytearray]:
    """The baseline: parse the `#9` header, then `recv_into` one buffer of the announced size."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read() -> bytearray:
        sock.sendall(QUERY + b"\n")
        header = receive(sock, 2)
        length = int(receive(sock, int(header[1:2])))
        payload = bytearray(length)
        view, got = memoryview(payload), 0
        while got < length:
            got += sock.recv_into(view[got:], length - got)
        receive(sock, 1)  # the LF
        return payload

    return read


def benchtest_reader(port: int) -> Callable[[], bytes]:
    transport = VisaTransport.open(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=10.0)
    return lambda: transport.read_block(QUERY.decode())


def pyvisa_reader(port: int) -> Callable[[], bytes]:
    resource = pyvisa.ResourceManager("@py").open_resource(
        f"TCPIP::127.0.0.1::{port}::SOCKET",
        read_termination="\n",
        write_termination="\n",
        timeout=60_000,
    )

    def read() -> bytes:
        values = resource.query_binary_values(QUERY.decode(), datatype="B", container=bytes)
        return bytes(values)

    return read


def seconds(read: Callable[[], bytes | bytearray]) -> float:
    started = time.perf_counter()
    data = read()
    elapsed = time.perf_counter() - started
    if len(data) != SIZE:
        raise SystemExit(f"read {len(data)} bytes, expected {SIZE}")
    return elapsed


def main() -> int:
    with server_process(serve) as port:
        baseline, ours = plain_socket_reader(port), benchtest_reader(port)
        times: dict[str, list[float]] = {"a": [], "b": []}
        for _ in range(ROUNDS):
            times["a"].append(seconds(baseline))
            times["b"].append(seconds(ours))
        stock = [seconds(pyvisa_reader(port)) for _ in range(2)]
    return report(times["a"], times["b"], stock)


def report(baseline: list[float], ours: list[float], stock: list[float]) -> int:
    rate = {name: SIZE / statistics.median(t) / 1e6 for name, t in
            (("a", baseline), ("b", ours), ("c", stock))}  # fmt: skip
    print(f"10 MB definite-length block over loopback, median of {ROUNDS} reads (c: 2)")
    print(f"  (a) plain socket reader           {rate['a']:8.0f} MB/s   1.00x (baseline)")
    print(
        f"  (b) benchtest VisaTransport       {rate['b']:8.0f} MB/s   {rate['b'] / rate['a']:.2f}x"
    )
    print(
        f"  (c) pyvisa query_binary_values    {rate['c']:8.0f} MB/s   {rate['c'] / rate['a']:.3f}x"
    )
    ratio = rate["b"] / rate["a"]
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"target (b) >= {TARGET}x (a): {verdict}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
