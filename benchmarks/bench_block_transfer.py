"""A 10 MB IEEE 488.2 definite-length block from a loopback server: the driver's two read paths
against a raw socket.

A server in its own process answers every query with `#9` + 10 MB + LF, prepared once. The
baseline (a), a raw-socket client, sends the query, parses the header and `recv_into`s a fresh
buffer of the announced size. benchtest's `VisaTransport.read_block_into` on a pyvisa-py
`TCPIP::…::SOCKET` session sends the query, parses the header, reads the payload into a fresh
numpy array (the one a Waveform keeps) and checks the terminator, by either path (`--path`):
(d) direct: the payload straight from pyvisa-py's socket (`DirectReader`), the optimisation
that only this kind of session gets; (p) public: PyVISA's public API only (`read_bytes`,
`visalib.read`, termination off), what every other VISA library and session gets. Each path is
paired with (a) in its own interleaved repeats (which goes first alternates); printed: median
and spread of each and of the per-pair throughput ratio path/(a). Targets: direct >= 0.8x,
public >= 0.5x; exit 1 when one is missed. For context, twice each: (c) stock pyvisa-py
`query_binary_values`; (e) pyvisa-py's own exact-count read, `read_bytes(n)` with the
termination off, into `bytes` (what any reader through pyvisa-py's API can hope for).
`--transport vxi11` / `hislip` also time the public path through the simulated bench's
VXI-11 or HiSLIP server in front of the same block server, against (a): context, no
target (the Python server in between sets the pace).

    python benchmarks/bench_block_transfer.py [--quick] [--path public|direct|both]
        [--transport vxi11 --transport hislip]
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

import numpy as np
import pyvisa
from loopback import receive, server_process
from targets import Pairs, arguments, exit_status, interleaved, result, sized_sample, summarize

from benchtest.driver.transport import VisaTransport

SIZE, PAIRS = 10_000_000, 15
QUICK_SIZE, QUICK_PAIRS = 1_000_000, 3
TARGETS = {"direct": 0.8, "public": 0.5}
QUERY = b":WAV:DATA?"
INCLUDED = (
    "both: the query's write, the header, the payload into a fresh buffer, the LF; "
    "the driver also PyVISA's session and benchtest's exchange bookkeeping, the buffer being "
    "the numpy array a Waveform keeps; the server's send is outside neither"
)
PATHS = {
    "direct": "(d) direct: pyvisa-py socket read straight",
    "public": "(p) public: PyVISA's public API",
}


def serve(ready: Connection, size: int, protocol: str = "socket") -> None:
    """Child process: answer every line with the block, until the client disconnects; with
    `protocol` "vxi11" or "hislip" also serve that socket through the simulated bench's
    server for it. Sends (raw port, the VISA resource to open)."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reply = b"#9%09d" % size + payload + b"\n"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        address = f"TCPIP::127.0.0.1::{port}::SOCKET"
        if protocol != "socket":
            address = lan_server(protocol, port).address
        ready.send((port, address))
        while True:
            client, _ = listener.accept()
            threading.Thread(target=answer_lines, args=(client, reply), daemon=True).start()


def lan_server(protocol: str, port: int) -> object:
    """The simulated bench's VXI-11 or HiSLIP server in front of the raw socket at `port`."""
    endpoint = ("127.0.0.1", port)
    if protocol == "vxi11":
        from benchtest.sim.server.vxi11 import Vxi11Server

        server: object = Vxi11Server(lambda: endpoint, name="bench-vxi11")
    else:
        from benchtest.sim.server.hislip import HislipServer

        server = HislipServer(lambda: endpoint, name="bench-hislip")
    server.start()  # type: ignore[attr-defined]
    return server


def lan_unavailable(protocol: str) -> str | None:
    """Why `protocol` cannot be served here (None: it can)."""
    if importlib.util.find_spec(f"benchtest.sim.server.{protocol}") is None:
        return f"benchtest/sim/server/{protocol}.py is not there"
    if protocol == "vxi11":
        from benchtest.sim.server.vxi11 import unavailable_reason

        return unavailable_reason()
    return None


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


def driver_reader(address: str, size: int, *, direct: bool) -> Callable[[], int]:
    """benchtest: the payload lands in the numpy array a Waveform would keep."""
    transport = VisaTransport.open(address, timeout=10.0, direct_socket=direct)

    def read() -> int:
        samples = np.empty(size, dtype=np.uint8)
        return transport.read_block_into(QUERY.decode(), samples.data.cast("B"))

    return read


def pyvisa_reader(address: str) -> Callable[[], int]:
    resource = pyvisa.ResourceManager("@py").open_resource(
        address, read_termination="\n", write_termination="\n", timeout=60_000
    )

    def read() -> int:
        values = resource.query_binary_values(QUERY.decode(), datatype="B", container=bytes)
        return len(values)

    return read


def exact_count_reader(address: str) -> Callable[[], int]:
    resource = pyvisa.ResourceManager("@py").open_resource(
        address, read_termination=None, write_termination="\n", timeout=60_000
    )

    def read() -> int:
        resource.write(QUERY.decode())
        length = int(resource.read_bytes(int(resource.read_bytes(2)[1:2])))
        payload = resource.read_bytes(length, chunk_size=1 << 20)
        resource.read_bytes(1)  # the LF
        return len(payload)

    return read


def show(size: int, label: str, samples: list[float]) -> None:
    print(f"  {label:44} {summarize([size / 1e6 / t for t in samples]).text(unit='MB/s')}")


def path_result(path: str, size: int, times: Pairs) -> bool:
    return result(
        f"block transfer {size / 1e6:g} MB, {path} path: driver / raw socket throughput",
        summarize(times.measured).text(1e3, "ms"),
        summarize(times.baseline).text(1e3, "ms"),
        summarize(times.ratios(throughput=True)),
        TARGETS[path],
        at_least=True,
        included=INCLUDED,
    )


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument(
        "--path",
        choices=("public", "direct", "both"),
        default="both",
        help="which read path of the driver to pair with the raw socket (default: both)",
    )
    parser.add_argument(
        "--transport",
        action="append",
        choices=("vxi11", "hislip"),
        default=[],
        help="also time the public path over the simulated bench's VXI-11 or HiSLIP server",
    )
    options = parser.parse_args()
    size, pairs = (QUICK_SIZE, QUICK_PAIRS) if options.quick else (SIZE, PAIRS)
    paths = ["direct", "public"] if options.path == "both" else [options.path]
    met: list[bool] = []
    print(f"{size / 1e6:g} MB definite-length block over loopback, {pairs} interleaved pairs each")
    with server_process(serve, size) as (port, address):
        baseline = sized_sample(raw_socket_reader(port), size, "bytes")
        for path in paths:
            reader = driver_reader(address, size, direct=path == "direct")
            ours = sized_sample(reader, size, "bytes")
            times = interleaved(baseline, ours, pairs)
            show(size, "(a) raw socket", times.baseline)
            show(size, PATHS[path], times.measured)
            met.append(path_result(path, size, times))
        stock = [sized_sample(pyvisa_reader(address), size, "bytes")() for _ in range(2)]
        show(size, "(c) pyvisa query_binary_values", stock)
        exact = [sized_sample(exact_count_reader(address), size, "bytes")() for _ in range(2)]
        show(size, "(e) pyvisa-py read_bytes(n), termination off", exact)
    for protocol in options.transport:
        reason = lan_unavailable(protocol)
        if reason:
            print(f"  {protocol}: not measured: {reason}")
            continue
        with server_process(serve, size, protocol) as (port, address):
            baseline = sized_sample(raw_socket_reader(port), size, "bytes")
            ours = sized_sample(driver_reader(address, size, direct=False), size, "bytes")
            times = interleaved(baseline, ours, pairs)
        show(size, "(a) raw socket", times.baseline)
        show(size, f"(p) public path over {protocol} ({address})", times.measured)
        ratio = summarize(times.ratios(throughput=True))
        print(f"  ratio {ratio.text(digits=3)}x (context, no target)")
    return exit_status(met)


if __name__ == "__main__":
    sys.exit(main())
