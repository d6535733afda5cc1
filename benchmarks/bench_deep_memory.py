"""A 24-million-point Rigol DS1000Z RAW readout from the simulated scope, through the driver.

The simulated DS1000Z runs in its own process with a stopped 24 Mpts acquisition. (a) A plain-
socket reader (the baseline) sends the guide's commands and reads the same chunks of at most
250 000 points into one buffer; (b) `RigolDS1000Z.fetch_waveform(1, "max")` does the same with
its error checks. Prints both throughputs, their ratio and the driver's peak Python memory
(tracemalloc) against the waveform's size; exits 1 if (b) < 0.3x (a) or the peak > 3x.

    python benchmarks/bench_deep_memory.py
"""

from __future__ import annotations

import socket
import sys
import time
import tracemalloc
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import yaml
from loopback import receive, server_process

from benchtest.sim import LdoModel, World
from benchtest.sim.simulators.rigol_ds1000z import RigolDS1000Z as SimulatedDS1000Z
from instruments.rigol.ds1000z import RigolDS1000Z

POINTS = 24_000_000
CHUNK = 250_000
SPEED_TARGET, MEMORY_TARGET = 0.3, 3.0
PROFILE = Path(__file__).resolve().parents[1] / "dut_profiles" / "bt_ldo33.yaml"
SETUP = (":CHAN1:DISP 1", f":ACQ:MDEP {POINTS}", ":TIM:MAIN:SCAL 5e-3", ":STOP")


def serve(ready: Connection) -> None:
    """Child process: the simulated scope, until the parent terminates it."""
    model = LdoModel.from_mapping(yaml.safe_load(PROFILE.read_text(encoding="utf-8"))["model"])
    with SimulatedDS1000Z(World(model), {1: "vout"}) as scope:
        ready.send(scope.port)
        while True:
            time.sleep(1)


def plain_socket_readout(port: int) -> int:
    """The baseline: the same commands on a raw socket, each chunk `recv_into` one buffer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b":WAV:SOUR CHAN1\n:WAV:MODE RAW\n:WAV:FORM BYTE\n")
        samples = bytearray(POINTS)
        view = memoryview(samples)
        for start in range(0, POINTS, CHUNK):
            stop = min(start + CHUNK, POINTS)
            sock.sendall(b":WAV:STAR %d\n:WAV:STOP %d\n:WAV:DATA?\n" % (start + 1, stop))
            header = receive(sock, 11)
            length = int(header[2:11])
            got = 0
            while got < length:
                got += sock.recv_into(view[start + got : stop], length - got)
            receive(sock, 1)  # the LF
        return len(samples)


def driver_readout(port: int) -> int:
    scope = RigolDS1000Z.open(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=30.0)
    try:
        return len(scope.fetch_waveform(1, "max"))
    finally:
        scope.close()


def prepare(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall("".join(f"{c}\n" for c in SETUP).encode() + b"*OPC?\n")
        receive(sock, 2)


def seconds(readout: Callable[[int], int], port: int) -> float:
    started = time.perf_counter()
    count = readout(port)
    elapsed = time.perf_counter() - started
    if count != POINTS:
        raise SystemExit(f"read {count} points, expected {POINTS}")
    return elapsed


def peak_memory(readout: Callable[[int], int], port: int) -> int:
    tracemalloc.start()
    try:
        readout(port)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    with server_process(serve) as port:
        prepare(port)
        baseline = min(seconds(plain_socket_readout, port) for _ in range(2))
        ours = min(seconds(driver_readout, port) for _ in range(2))
        peak = peak_memory(driver_readout, port)
    return report(baseline, ours, peak)


def report(baseline: float, ours: float, peak: int) -> int:
    speed, memory = baseline / ours, peak / POINTS
    rate = {"a": POINTS / baseline / 1e6, "b": POINTS / ours / 1e6}
    print(f"24 Mpts DS1000Z RAW readout, simulated scope, {CHUNK}-point chunks, best of 2")
    print(f"  (a) plain socket reader  {baseline:6.2f} s {rate['a']:6.1f} Mpts/s  1.00x")
    print(f"  (b) RigolDS1000Z driver  {ours:6.2f} s {rate['b']:6.1f} Mpts/s  {speed:.2f}x")
    print(f"  driver peak memory {peak / 1e6:.1f} MB = {memory:.2f}x the 24 MB waveform")
    met = speed >= SPEED_TARGET and memory <= MEMORY_TARGET
    verdict = "met" if met else "MISSED"
    print(f"targets (b) >= {SPEED_TARGET}x (a) and peak <= {MEMORY_TARGET}x: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
