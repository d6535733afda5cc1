"""Serve the simulated bench in this process until it is told to stop (`serve`, `-m` mode).

The resolved bench is printed or written atomically, then the line `benchtest-sim ready`. The
process exits on SIGTERM or when its parent dies; as a child of a test run it also ignores SIGINT
and SIGHUP, which reach the whole process group on Ctrl-C or a closed terminal (the parent makes
the instruments safe first), and exits at EOF on stdin.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.sim.bench import SimulatedBench
from benchtest.sim.process import READY
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.timing import TIMINGS, Timing
from benchtest.values.atomic import replacing
from benchtest.values.errors import BenchtestError, SimulatorError

JOURNAL_ENV = "BENCHTEST_SIM_JOURNAL"
POLL = 0.5  # s between checks of the parent process

PathLike = str | os.PathLike[str]


def _write_atomically(path: PathLike, text: str) -> None:
    with replacing(Path(path), make_folder=False) as temporary:
        temporary.write_text(text, encoding="utf-8")


class _StopSignal:
    """Set by SIGTERM, by EOF on stdin (when watched), or when the parent process is gone.

    SIGTERM also writes to a pipe that the stdin watch selects on, so the wait ends at once
    rather than at the next poll.
    """

    def __init__(self, *, ignore_sigint: bool, watch_stdin: bool) -> None:
        self.event = threading.Event()
        self._parent = os.getppid()
        self._stdin = sys.stdin.fileno() if watch_stdin and os.name == "posix" else None
        self._wake = os.pipe() if self._stdin is not None else None
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if hasattr(signal, "SIGHUP"):
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._terminated)

    def _terminated(self, signum: int, frame: object) -> None:
        self.event.set()
        if self._wake is not None:
            os.write(self._wake[1], b"x")

    def wait(self) -> None:
        while not self.event.is_set() and os.getppid() == self._parent:
            if self._stdin is None:
                self.event.wait(POLL)
            elif self._stdin_closed():
                return

    def close(self) -> None:
        wake, self._wake = self._wake, None
        for fd in wake or ():
            os.close(fd)

    def _stdin_closed(self) -> bool:
        assert self._stdin is not None and self._wake is not None
        readable, _, _ = select.select([self._stdin, self._wake[0]], [], [], POLL)
        return self._stdin in readable and not os.read(self._stdin, 4096)


def serve(
    *,
    dut: PathLike,
    bench: PathLike,
    print_bench: bool = False,
    write_bench: PathLike | None = None,
    journal: PathLike | None = None,
    seed: int = 0,
    serial_transport: str | None = None,
    serial: str | None = None,
    ignore_sigint: bool = False,
    exit_on_stdin_eof: bool = False,
    timing: str = "instant",
) -> int:
    """Serve the `sim://` roles of `bench` for the part in `dut` until stopped; returns 0.

    `journal` (or the environment variable BENCHTEST_SIM_JOURNAL) names a JSON-lines file of
    state changes; `serial` picks the simulated unit (None: the typical part); `timing` is the
    timing of the roles whose resource names none. Without `ignore_sigint`, Ctrl-C stops the
    bench and raises KeyboardInterrupt.
    """
    stop = _StopSignal(ignore_sigint=ignore_sigint, watch_stdin=exit_on_stdin_eof)
    log = Journal(journal or os.environ.get(JOURNAL_ENV) or None)
    try:
        profile = dict(DutProfile.load(dut).data)
        bench_map = Bench.load(bench).to_mapping()
        try:
            simulated = SimulatedBench(
                profile,
                bench_map,
                journal=log,
                seed=seed,
                serial_transport=serial_transport,
                serial=serial,
                timing=Timing(timing),
            )
        except SimulatorError as error:
            raise SimulatorError(f"DUT profile {dut}, bench {bench}: {error}") from error
        with simulated:
            if write_bench is not None:
                _write_atomically(write_bench, simulated.bench_yaml())
            if print_bench:
                sys.stdout.write(simulated.bench_yaml())
            else:
                _print_addresses(simulated.resolved_bench(), write_bench)
            print(READY, flush=True)
            stop.wait()
    finally:
        log.close()
        stop.close()
    return 0


def _print_addresses(resolved: dict[str, Any], bench_file: PathLike | None) -> None:
    for role, spec in resolved["instruments"].items():
        print(f"  {role:<8} {spec['driver']:<20} {spec['resource']}")
    if bench_file is not None:
        print(f"bench file: {bench_file}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchtest.sim", description="Serve the simulated bench until stopped."
    )
    parser.add_argument("--dut", required=True, help="DUT profile (YAML)")
    parser.add_argument("--bench", required=True, help="bench file with sim:// resources (YAML)")
    parser.add_argument("--write-bench", help="write the resolved bench file here (else stdout)")
    parser.add_argument("--journal", help=f"append state changes as JSON lines (env {JOURNAL_ENV})")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument(
        "--serial", default="", help="serial number of the simulated unit (default: typical part)"
    )
    parser.add_argument("--serial-transport", choices=("pty", "socket"), help="debug-port endpoint")
    parser.add_argument(
        "--timing",
        choices=TIMINGS,
        default="instant",
        help="timing of the roles whose resource names none (default instant; real: the "
        "instruments take their real integration, acquisition, settling and baud-rate times)",
    )
    parser.add_argument("--ignore-stdin", action="store_true", help="do not exit at EOF on stdin")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m benchtest.sim`: the child-process mode (SIGINT ignored, exit at EOF on stdin)."""
    args = _parser().parse_args(argv)
    try:
        return serve(
            dut=args.dut,
            bench=args.bench,
            print_bench=args.write_bench is None,
            write_bench=args.write_bench,
            journal=args.journal,
            seed=args.seed,
            serial_transport=args.serial_transport,
            serial=args.serial or None,
            ignore_sigint=True,
            exit_on_stdin_eof=not args.ignore_stdin,
            timing=args.timing,
        )
    except (BenchtestError, OSError) as error:
        print(f"benchtest-sim: {error}", file=sys.stderr)
        return 1
