"""Cost per recorded scalar measurement, everything included: benchtest against OpenHTF.

One sample is one whole run: benchtest creates the run file, runs `TESTS` tests of
`PER_TEST` measurements each (`measure(name, value)`: profile limits, judgement, the event to
the HDF5 writer), commits each test (crash-safe), and closes the file (every test's NXentry
built from the tables, final flush, seal); the cost per measurement is the run's time divided
by its measurements. OpenHTF's sample is one `Test` of the same number of measurements, with
limits and units, written by its JSON output callback, run in a worker process that stays up
between samples (its import is not timed). The samples alternate (benchtest first, then
OpenHTF first, ...), so the machine's load falls on both. Target: <= 10 us per measurement
(the exit status); the ratio to OpenHTF is printed next to it (aim: >= 20x).

    python benchmarks/bench_measurements.py [--quick]

OpenHTF is used when importable (`pip install openhtf` into the venv, for the benchmark
only), or from the Python named by BENCHTEST_OPENHTF_PYTHON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from targets import RESULT_PREFIX, arguments, interleaved, result, summarize

from benchtest import DutProfile, Measure
from benchtest.run.recorder import RunRecorder
from benchtest.storage.hdf5_writer import Hdf5RunWriter
from benchtest.values.events import (
    ConfigSnapshot,
    RunFinished,
    RunStarted,
    TestFinished,
    TestStarted,
    utc_now,
)

REPO = Path(__file__).resolve().parent.parent
TARGET_US = 10.0
AIM_RATIO = 20.0
INCLUDED = (
    "run file creation, test start, measure() with profile limits, each test's crash-safe "
    "commit, and close (NXentry per test from the tables, flush, seal), per measurement"
)

OPENHTF_WORKER = r"""
import sys, time
sys.argv = sys.argv[:1]  # openhtf parses sys.argv when imported
import openhtf as htf
from openhtf.output.callbacks import json_factory
from openhtf.util import units
N, folder = int(sys.stdin.readline()), sys.stdin.readline().strip()
measurements = [htf.Measurement(f"m{i}").in_range(0.0, 10.0).with_units(units.VOLT)
                for i in range(N)]
@htf.measures(*measurements)
def phase(test):
    for i in range(N):
        test.measurements[f"m{i}"] = 3.3
print("@ready", flush=True)
count = 0
for line in sys.stdin:
    count += 1
    test = htf.Test(phase)
    test.add_output_callbacks(json_factory.OutputToJSON(f"{folder}/htf{count}.json"))
    start = time.perf_counter()
    test.execute(test_start=lambda: "DUT1")
    print("@", time.perf_counter() - start, flush=True)
"""


def benchtest_run(folder: Path, tests: int, per_test: int) -> float:
    """Seconds for one whole run of `tests` tests of `per_test` measurements."""
    dut = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
    snapshot = ConfigSnapshot(str(dut.path), dut.text, dut.sha256)
    names = ("iq_active", "iq_sleep", "vout", "t_startup")
    values = (45e-6, 1.2e-6, 3.3, 180e-6)
    path = folder / f"run{time.monotonic_ns()}.h5"
    start = time.perf_counter()
    recorder = RunRecorder()
    writer = Hdf5RunWriter(path)
    recorder.subscribe(writer)
    recorder.emit(RunStarted("bench", utc_now(), "bench", snapshot, snapshot, dut.name))
    for index in range(tests):
        test_id = f"bench.py::test_many[{index}]"
        recorder.emit(TestStarted(test_id, utc_now()))
        measure = Measure(test_id, dut, recorder.emit)
        for k in range(per_test):
            measure(names[k % 4], values[k % 4])
        recorder.emit(TestFinished(test_id, "passed", utc_now(), 0.0))
    recorder.emit(RunFinished(utc_now(), "passed"))
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


class OpenHtfWorker:
    """A process that runs one OpenHTF test of `measurements` measurements per request."""

    def __init__(self, python: str, folder: Path, measurements: int) -> None:
        self._log_path = folder / "openhtf_worker.log"
        self._log = self._log_path.open("w", encoding="utf-8")
        script = folder / "openhtf_worker.py"  # a file: OpenHTF reads its phases' source
        script.write_text(OPENHTF_WORKER, encoding="utf-8")
        self._process = subprocess.Popen(
            [python, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,  # OpenHTF logs a lot: a pipe nobody reads would fill up
            text=True,
        )
        self._send(f"{measurements}\n{folder}\n")
        if self._reply() != "ready":
            raise RuntimeError("the OpenHTF worker did not start")

    def _send(self, text: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(text)
        self._process.stdin.flush()

    def _reply(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        while line and not line.startswith("@"):  # OpenHTF prints too: skip its lines
            line = self._process.stdout.readline()
        if not line:
            log = self._log_path.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"the OpenHTF worker stopped:\n{log[-2000:]}")
        return line[1:].strip()

    def sample(self) -> float:
        """Seconds for one OpenHTF test, as the worker timed it."""
        self._send("go\n")
        return float(self._reply())

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)
        self._log.close()


def openhtf_python() -> str | None:
    """A Python that can import openhtf, or None."""
    python = os.environ.get("BENCHTEST_OPENHTF_PYTHON", sys.executable)
    probe = subprocess.run([python, "-c", "import openhtf"], capture_output=True, timeout=120)
    return python if probe.returncode == 0 else None


def main() -> int:
    options = arguments(__doc__).parse_args()
    tests, per_test, pairs = (2, 50, 2) if options.quick else (20, 1_000, 9)
    count = tests * per_test
    met = []
    with tempfile.TemporaryDirectory(prefix="benchtest-measure-") as name:
        folder = Path(name)
        ours: Callable[[], float] = lambda: benchtest_run(folder, tests, per_test)  # noqa: E731
        python = openhtf_python()
        worker = OpenHtfWorker(python, folder, count) if python else None
        try:
            if worker is None:
                samples = [ours() for _ in range(pairs + 1)][1:]
                theirs: list[float] | None = None
            else:
                paired = interleaved(worker.sample, ours, pairs)
                samples, theirs = paired.measured, paired.baseline
        finally:
            if worker is not None:
                worker.close()
    per = summarize([s / count for s in samples])
    print(f"{tests} tests of {per_test} measurements per run, {len(samples)} runs")
    print(f"benchtest: {per.text(1e6, 'us')} per measurement")
    print(f"  includes: {INCLUDED}")
    ok = per.median * 1e6 <= TARGET_US
    print(f"  target <= {TARGET_US:g} us: {'met' if ok else 'MISSED'}")
    line = {
        "benchmark": "cost per measurement (everything included)",
        "measured": per.text(1e6, "us"),
        "baseline": "",
        "ratio": None,
        "target": f"<= {TARGET_US:g} us",
        "met": ok,
        "included": INCLUDED,
    }
    print(RESULT_PREFIX + json.dumps(line), flush=True)
    met.append(ok)
    if theirs is None:
        print("OpenHTF: not importable here (pip install openhtf, or BENCHTEST_OPENHTF_PYTHON)")
    else:
        them = summarize([s / count for s in theirs])
        ratio = summarize([t / o for t, o in zip(theirs, samples, strict=True)])
        result(
            "benchtest vs OpenHTF, per measurement (aim, not the exit status)",
            per.text(1e6, "us"),
            f"OpenHTF {them.text(1e6, 'us')}",
            ratio,
            AIM_RATIO,
            at_least=True,
            included="OpenHTF: one Test of the same measurements with limits, JSON output; "
            "paired run by run with benchtest's",
        )
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
