"""A 24-million-point Rigol DS1000Z RAW readout: the driver against a raw-socket client.

A server in its own process speaks the DS1000Z's readout commands and serves prepared bytes (a
stopped 24 Mpts acquisition, built once), so only the clients' cost is compared, not a
simulator's rendering. In interleaved pairs (which goes first alternates): (a) the baseline, a
raw-socket client, sends the guide's sequence (`:STOP`, `:WAV:SOUR`, `:WAV:MODE RAW`,
`:WAV:FORM BYTE`, `:WAV:PRE?`, then `:WAV:STAR`/`:WAV:STOP`/`:WAV:DATA?` per 250 000-point
chunk) and `recv_into`s each chunk into one buffer; (b) `RigolDS1000Z.fetch_waveform(1, "max")`:
the same commands and chunks, the settings a Waveform records queried, the error queue read
once at the end. Each keeps its connection open from one readout to the next, as a test session
does. Then one more driver readout under `tracemalloc` for its peak memory. Exits 1 if the
median per-pair throughput ratio (b)/(a) is below 0.7 or the peak above 3x the waveform's size.

For context, the cost of one exchange, in CPU time of this process (the server's excluded), in
interleaved pairs against the same exchange on the raw socket: a query answered at once
(`:SYSTem:ERRor?`), a query answered 1 ms later (`*OPC?`: the client sleeps, then wakes, as
when an instrument takes its time), and an unchecked write, each through the driver
(`ScpiInstrument.query` / `write(..., check=False)`).

    python benchmarks/bench_deep_memory.py [--quick]
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from multiprocessing.connection import Connection

from loopback import receive, server_process
from targets import arguments, exit_status, interleaved, result, sized_sample, summarize

from instruments.rigol.ds1000z import RigolDS1000Z

POINTS, QUICK_POINTS = 24_000_000, 1_000_000
PAIRS, QUICK_PAIRS = 15, 3
EXCHANGES, QUICK_EXCHANGES = 200, 10  # exchanges a sample of the exchange cost
SLOW_REPLY = 0.001  # s the prepared scope takes to answer `*OPC?`
CHUNK = 250_000
SPEED_TARGET, MEMORY_TARGET = 0.7, 3.0
INCLUDED = (
    "both: the setup writes, the preamble and every chunk's STAR/STOP/DATA? into one buffer "
    "(connections opened before); (b) also the 5 settings a Waveform records, the Waveform, "
    "and one error-queue read at the end"
)


def replies(points: int) -> dict[str, bytes]:
    """The fixed answers of the prepared scope, by short-form header."""
    return {
        ":SYST:ERR?": b'0,"No error"\n',
        "*OPC?": b"1\n",  # after SLOW_REPLY s
        ":WAV:PRE?": b"0,2,%d,1,1.0e-09,-1.2e-02,0,4.0e-02,-75,127\n" % points,
        ":CHAN1:SCAL?": b"5.0e-01\n",
        ":CHAN1:OFFS?": b"0.0e+00\n",
        ":CHAN1:PROB?": b"1.0e+01\n",
        ":TIM:MAIN:SCAL?": b"5.0e-03\n",
        ":ACQ:SRAT?": b"1.0e+09\n",
    }


def short_form(line: str) -> tuple[str, str]:
    """(header in short form, argument): `:WAVeform:STARt 1` -> (`:WAV:STAR`, `1`)."""
    header, _, argument = line.strip().partition(" ")
    return re.sub("[a-z]", "", header).upper(), argument


def serve(ready: Connection, points: int) -> None:
    """Child process: the prepared scope, until the parent terminates it."""
    memory = memoryview(bytes(range(256)) * (points // 256) + bytes(points % 256))
    answers = replies(points)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ready.send(listener.getsockname()[1])
        while True:
            client, _ = listener.accept()
            args = (client, memory, answers)
            threading.Thread(target=converse, args=args, daemon=True).start()


def converse(client: socket.socket, memory: memoryview, answers: dict[str, bytes]) -> None:
    """One client: STAR/STOP select points (1-based, inclusive), DATA? sends them as a block."""
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start, stop, pending = 1, len(memory), b""
    with client:
        while data := client.recv(65536):
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                header, argument = short_form(line.decode())
                if header == ":WAV:STAR":
                    start = int(argument)
                elif header == ":WAV:STOP":
                    stop = int(argument)
                elif header == ":WAV:DATA?":
                    payload = memory[start - 1 : stop]
                    client.sendmsg([b"#9%09d" % len(payload), payload, b"\n"])
                elif header in answers:
                    if header == "*OPC?":
                        time.sleep(SLOW_REPLY)
                    client.sendall(answers[header])


def raw_socket_client(port: int) -> Callable[[], int]:
    """The baseline: the guide's commands on a raw socket, each chunk `recv_into` one buffer."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return lambda: raw_socket_readout(sock)


def raw_socket_readout(sock: socket.socket) -> int:
    """One readout on the open socket `sock`."""
    sock.sendall(b":STOP\n:WAV:SOUR CHAN1\n:WAV:MODE RAW\n:WAV:FORM BYTE\n:WAV:PRE?\n")
    preamble = b""
    while not preamble.endswith(b"\n"):
        preamble += sock.recv(256)
    total = int(preamble.split(b",")[2])
    samples = bytearray(total)
    view = memoryview(samples)
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        sock.sendall(b":WAV:STAR %d\n:WAV:STOP %d\n:WAV:DATA?\n" % (start + 1, stop))
        length = int(receive(sock, 11)[2:11])
        got = 0
        while got < length:
            got += sock.recv_into(view[start + got : stop], length - got)
        receive(sock, 1)  # the LF
    return len(samples)


def raw_query(sock: socket.socket, query: bytes) -> bytes:
    """Send `query` (with its LF) on `sock` and return its reply through the LF."""
    sock.sendall(query)
    reply = sock.recv(256)
    while not reply.endswith(b"\n"):
        reply += sock.recv(256)
    return reply


def with_cpu(sample: Callable[[], float], cpu: list[float]) -> Callable[[], float]:
    """`sample`, appending the CPU seconds of this process it took to `cpu` (the warm-up's
    first)."""

    def sample_and_cpu() -> float:
        start = time.process_time()
        elapsed = sample()
        cpu.append(time.process_time() - start)
        return elapsed

    return sample_and_cpu


def cpu_per_exchange(exchange: Callable[[], object], count: int) -> Callable[[], float]:
    """A sampler: CPU seconds of this process per `exchange`, over `count` of them."""

    def sample() -> float:
        start = time.process_time()
        for _ in range(count):
            exchange()
        return (time.process_time() - start) / count

    return sample


def exchange_costs(scope: RigolDS1000Z, port: int, pairs: int, count: int) -> list[str]:
    """The lines that report the CPU per exchange of the driver and of a raw-socket client,
    measured in interleaved pairs."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "query, reply at once",
            lambda: raw_query(sock, b":SYST:ERR?\n"),
            lambda: scope.query(":SYSTem:ERRor?"),
        ),
        (
            f"query, reply after {SLOW_REPLY * 1e3:g} ms",
            lambda: raw_query(sock, b"*OPC?\n"),
            lambda: scope.query("*OPC?"),
        ),
        (
            "write, unchecked",
            lambda: sock.sendall(b":WAV:STAR 1\n"),
            lambda: scope.write(":WAVeform:STARt 1", check=False),
        ),
    ]
    lines = [
        f"exchange cost, CPU time of this process per exchange (the server's excluded), "
        f"{count} exchanges a sample, {pairs} interleaved pairs"
    ]
    with sock:
        for name, raw, ours in cases:
            times = interleaved(cpu_per_exchange(raw, count), cpu_per_exchange(ours, count), pairs)
            driver = summarize(times.measured).text(1e6, "us")
            baseline = summarize(times.baseline).text(1e6, "us")
            ratio = summarize(times.ratios(throughput=False)).text(unit="x")
            lines.append(f"  {name:24s} driver {driver}  raw socket {baseline}  ratio {ratio}")
        raw_query(sock, b":SYST:ERR?\n")  # the writes are all read before the socket closes
    return lines


def peak_memory(scope: RigolDS1000Z) -> int:
    tracemalloc.start()
    try:
        scope.fetch_waveform(1, "max")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    quick = arguments(__doc__).parse_args().quick
    points, pairs = (QUICK_POINTS, QUICK_PAIRS) if quick else (POINTS, PAIRS)
    exchanges = QUICK_EXCHANGES if quick else EXCHANGES
    with server_process(serve, points) as port:
        scope = RigolDS1000Z.open(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=30.0)
        try:
            raw_cpu: list[float] = []
            our_cpu: list[float] = []
            baseline = with_cpu(sized_sample(raw_socket_client(port), points, "points"), raw_cpu)
            ours = with_cpu(
                sized_sample(lambda: len(scope.fetch_waveform(1, "max")), points, "points"),
                our_cpu,
            )
            times = interleaved(baseline, ours, pairs)
            peak = peak_memory(scope)
            costs = exchange_costs(scope, port, pairs, exchanges)
        finally:
            scope.close()
    rate = 1e-6 * points
    name = f"deep memory {points / 1e6:g} Mpts DS1000Z readout"
    print(f"{name}, {CHUNK}-point chunks, prepared bytes, {pairs} interleaved pairs")
    print(f"  (a) raw socket   {summarize([rate / t for t in times.baseline]).text(unit='Mpts/s')}")
    print(f"  (b) driver       {summarize([rate / t for t in times.measured]).text(unit='Mpts/s')}")
    print(
        "  CPU time of this process per readout (the server's excluded): "
        f"(a) {summarize(raw_cpu[1:]).text(1e3, 'ms')}, "
        f"(b) {summarize(our_cpu[1:]).text(1e3, 'ms')}"
    )
    speed = result(
        f"{name}: driver / raw socket throughput",
        summarize(times.measured).text(1e3, "ms"),
        summarize(times.baseline).text(1e3, "ms"),
        summarize(times.ratios(throughput=True)),
        SPEED_TARGET,
        at_least=True,
        included=INCLUDED,
    )
    memory = result(
        f"{name}: driver peak memory / waveform size",
        f"{peak / 1e6:.1f} MB",
        f"{points / 1e6:g} MB",
        summarize([peak / points]),
        MEMORY_TARGET,
        at_least=False,
        included="peak of Python and numpy allocations (tracemalloc) during one driver readout",
    )
    print("\n".join(costs))
    return exit_status([speed, memory])


if __name__ == "__main__":
    sys.exit(main())
