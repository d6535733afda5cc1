"""A 10 MB IEEE 488.2 definite-length block from a loopback server: the driver against a raw socket.

A server in its own process answers every query with `#9` + 10 MB + LF, prepared once. In
interleaved pairs (which goes first alternates), (a) the baseline, a raw-socket client, sends
the query, parses the header and `recv_into`s a fresh buffer of the announced size; (b)
benchtest's `VisaTransport.read_block_into` on a pyvisa-py `TCPIP::…::SOCKET` session sends the
query, parses the header, reads the payload into a fresh numpy array (the one a Waveform keeps)
and checks the terminator. (c) Stock pyvisa-py `query_binary_values`, twice, for context.
Prints median and spread of each and of the per-pair ratio (a)/(b) time; exits 1 when the
median ratio is below 0.8.

    python benchmarks/bench_block_transfer.py [--quick]
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np
import pyvisa
from loopback import receive, server_process
from targets import arguments, exit_status, interleaved, result, sized_sample, summarize

from benchtest.driver.transport import VisaTransport

SIZE, PAIRS = 10_000_000, 15
QUICK_SIZE, QUICK_PAIRS = 1_000_000, 3
TARGET = 0.8
QUERY = b":WAV:DATA?"
INCLUDED = (
    "both: the query's write, the header, the payload into a fresh buffer, the LF; "
    "(b) also pyvisa-py's session and benchtest's exchange bookkeeping, the buffer being the "
    "numpy array a Waveform keeps; the server's send is outside neither"
)


def serve(ready: Connection, size: int) -> None:
    """Child process: answer every line with the block, until the client disconnects."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reply = b"#9%09d" % size + payload + b"\n"
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


def raw_socket_reader(port: int) -> Callable[[], int]:
    """The baseline: parse the `#9` header, then `recv_into` one buffer of the announced size."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read() -> int:
        sock.sendall(QUERY + b"\n")
        header = receive(sock, 2)
        length = int(receive(sock, int(header[1:2])))
        payload = bytearray(length)
        view, got = memoryview(payload), 0
        while got < length:
            got += sock.recv_into(view[got:], length - got)
        receive(sock, 1)  # the LF
        return len(payload)

    return read


def driver_reader(port: int, size: int) -> Callable[[], int]:
    """benchtest: the payload lands in the numpy array a Waveform would keep."""
    transport = VisaTransport.open(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=10.0)

    def read() -> int:
        samples = np.empty(size, dtype=np.uint8)
        return transport.read_block_into(QUERY.decode(), samples.data.cast("B"))

    return read


def pyvisa_reader(port: int) -> Callable[[], int]:
    resource = pyvisa.ResourceManager("@py").open_resource(
        f"TCPIP::127.0.0.1::{port}::SOCKET",
        read_termination="\n",
        write_termination="\n",
        timeout=60_000,
    )

    def read() -> int:
        values = resource.query_binary_values(QUERY.decode(), datatype="B", container=bytes)
        return len(values)

    return read


def main() -> int:
    quick = arguments(__doc__).parse_args().quick
    size, pairs = (QUICK_SIZE, QUICK_PAIRS) if quick else (SIZE, PAIRS)
    with server_process(serve, size) as port:
        baseline = sized_sample(raw_socket_reader(port), size, "bytes")
        ours = sized_sample(driver_reader(port, size), size, "bytes")
        times = interleaved(baseline, ours, pairs)
        stock = [sized_sample(pyvisa_reader(port), size, "bytes")() for _ in range(2)]
    print(f"{size / 1e6:g} MB definite-length block over loopback, {pairs} interleaved pairs")
    for label, samples in (
        ("(a) raw socket", times.baseline),
        ("(b) benchtest driver", times.measured),
        ("(c) pyvisa query_binary_values", stock),
    ):
        print(f"  {label:32} {summarize([size / 1e6 / t for t in samples]).text(unit='MB/s')}")
    met = result(
        f"block transfer {size / 1e6:g} MB: driver / raw socket throughput",
        summarize(times.measured).text(1e3, "ms"),
        summarize(times.baseline).text(1e3, "ms"),
        summarize(times.ratios(throughput=True)),
        TARGET,
        at_least=True,
        included=INCLUDED,
    )
    return exit_status([met])


if __name__ == "__main__":
    sys.exit(main())
