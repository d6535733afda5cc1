"""A 10 MB block from the simulated bench over SOCKET, VXI-11 and HiSLIP, against a raw socket.

A server in its own process runs one simulated SCPI instrument (the simulated bench's
`ScpiServer`) whose `:WAVeform:DATA?` answers `#9` + 10 MB + LF, prepared once, on its raw
socket, and the simulated bench's VXI-11 and HiSLIP servers in front of that socket (VXI-11
needs port 111: without root it is left out, saying why). For each transport, in interleaved
pairs (which goes first alternates, after a warm-up pair): (a) the baseline, a raw-socket
client reading the same block from the same instrument's socket (send the query, parse the
header, `recv_into` a fresh buffer, read the LF); (b) benchtest's `VisaTransport.read_block_into`
on a pyvisa-py session of that transport, into a fresh numpy array. (c) Stock pyvisa-py
`query_binary_values` per transport (no termination character), twice, for context. Prints
median and spread of each and of the per-pair throughput ratio (b)/(a); the targets are that
ratio's median: SOCKET >= 0.8 (as `bench_block_transfer.py`), HiSLIP >= 0.25 (its server is a
gateway in front of the socket: one more loopback hop, and the framing, in Python), VXI-11 >=
0.05 (every read is an RPC round trip through pyvisa-py's pure-Python RPC client, one per
256 KiB the driver asks for; the server's share of that is small, see benchmarks/README.md).

    python benchmarks/bench_transports.py [--quick]
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pyvisa
from bench_block_transfer import raw_socket_reader
from loopback import server_process
from targets import arguments, exit_status, interleaved, result, sized_sample, summarize

from benchtest.driver.transport import VisaTransport
from benchtest.sim.server.gateway import socket_endpoint
from benchtest.sim.server.hislip import HislipServer
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.server.vxi11 import Vxi11Server
from benchtest.values.errors import SimulatorError

SIZE, PAIRS = 10_000_000, 15
QUICK_SIZE, QUICK_PAIRS = 1_000_000, 3
TARGETS = {"socket": 0.8, "vxi11": 0.05, "hislip": 0.25}
LABELS = {"socket": "SOCKET", "vxi11": "VXI-11", "hislip": "HiSLIP"}
QUERY = ":WAV:DATA?"
INCLUDED = (
    "both: the query's write, the header, the payload into a fresh buffer, the LF, from the "
    "same simulated instrument; (b) also the protocol (VXI-11 RPCs or HiSLIP messages) through "
    "the simulated bench's server in front of the instrument's socket, pyvisa-py's session and "
    "benchtest's exchange bookkeeping"
)


class BlockInstrument(ScpiServer):
    """A simulated instrument whose `:WAVeform:DATA?` is one prepared definite-length block."""

    block = b""

    def register(self) -> None:
        self.command(":WAVeform:DATA?", lambda request: self.block)


def serve(ready: Connection, size: int) -> None:
    """Child process: the instrument and its VXI-11 and HiSLIP servers, until terminated."""
    instrument = BlockInstrument(role="scope")
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    instrument.block = b"#9%09d" % size + payload + b"\n"
    instrument.start()
    endpoint = socket_endpoint(instrument.address)
    addresses: dict[str, str] = {"socket": instrument.address}
    hislip = HislipServer(lambda: endpoint, name="bench-hislip")
    hislip.start()
    addresses["hislip"] = hislip.address
    vxi11 = Vxi11Server(lambda: endpoint, name="bench-vxi11")
    try:
        vxi11.start()
        addresses["vxi11"] = vxi11.address
    except SimulatorError as error:
        addresses["vxi11"] = f"unavailable: {error}"
    ready.send(addresses)
    threading.Event().wait()


def transport_reader(address: str, size: int) -> Callable[[], int]:
    """benchtest: the payload lands in the numpy array a Waveform would keep."""
    transport = VisaTransport.open(address, timeout=10.0)

    def read() -> int:
        samples = np.empty(size, dtype=np.uint8)
        return transport.read_block_into(QUERY, samples.data.cast("B"))

    return read


def pyvisa_reader(address: str) -> Callable[[], int]:
    """Stock pyvisa-py; a raw socket has no END, so its reads end at the termination character,
    while over VXI-11 and HiSLIP (whose END ends a read) one would end every read at each LF
    byte of the payload."""
    socket = address.upper().endswith("::SOCKET")
    resource: Any = pyvisa.ResourceManager("@py").open_resource(
        address, read_termination="\n" if socket else None, write_termination="\n", timeout=60_000
    )

    def read() -> int:
        values = resource.query_binary_values(QUERY, datatype="B", container=bytes)
        return len(values)

    return read


def main() -> int:
    quick = arguments(__doc__).parse_args().quick
    size, pairs = (QUICK_SIZE, QUICK_PAIRS) if quick else (SIZE, PAIRS)
    met: list[bool] = []
    with server_process(serve, size) as served:
        addresses: dict[str, str] = served  # type: ignore[assignment]  # the child sends a dict
        port = socket_endpoint(addresses["socket"])[1]
        baseline = sized_sample(raw_socket_reader(port), size, "bytes")
        print(f"{size / 1e6:g} MB definite-length block, {pairs} interleaved pairs per transport")
        for visa, target in TARGETS.items():
            address = addresses[visa]
            if address.startswith("unavailable"):
                print(f"  {LABELS[visa]}: left out, {address}")
                continue
            ours = sized_sample(transport_reader(address, size), size, "bytes")
            times = interleaved(baseline, ours, pairs)
            stock = [sized_sample(pyvisa_reader(address), size, "bytes")() for _ in range(2)]
            for label, samples in (
                ("(a) raw socket", times.baseline),
                (f"(b) benchtest driver, {LABELS[visa]}", times.measured),
                (f"(c) pyvisa query_binary_values, {LABELS[visa]}", stock),
            ):
                rates = summarize([size / 1e6 / t for t in samples])
                print(f"  {label:44} {rates.text(unit='MB/s')}")
            met.append(
                result(
                    f"transports {size / 1e6:g} MB over {LABELS[visa]}: driver / raw socket "
                    "throughput",
                    summarize(times.measured).text(1e3, "ms"),
                    summarize(times.baseline).text(1e3, "ms"),
                    summarize(times.ratios(throughput=True)),
                    target,
                    at_least=True,
                    included=INCLUDED,
                )
            )
    return exit_status(met)


if __name__ == "__main__":
    sys.exit(main())
