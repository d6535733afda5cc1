"""Cost per recorded scalar measurement: benchtest against OpenHTF, 1 000 measurements a test.

benchtest: `measure(name, value)` with the limit check, the event to the HDF5 writer, and the
test's share of its crash-safe commit (TestFinished), per measurement. OpenHTF: the same
number of measurements with limits and units in one phase, written by its JSON output
callback. Target: <= 10 us per measurement. OpenHTF runs in a subprocess when importable
(`pip install openhtf`; or point BENCHTEST_OPENHTF_PYTHON at a Python that has it).
Run: python benchmarks/bench_measurements.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
PER_TEST = 1_000
TESTS = 7
TARGET_US = 10.0


def benchtest_us_per_measurement(folder: Path) -> float:
    dut = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
    recorder = RunRecorder()
    writer = Hdf5RunWriter(folder / "run.h5")
    recorder.subscribe(writer)
    snapshot = ConfigSnapshot(str(dut.path), dut.text, dut.sha256)
    recorder.emit(RunStarted("bench", utc_now(), "bench", snapshot, snapshot, dut.name))
    names = ("iq_active", "iq_sleep", "vout", "t_startup")
    values = (45e-6, 1.2e-6, 3.3, 180e-6)
    costs = []
    for index in range(TESTS):
        test_id = f"bench.py::test_many[{index}]"
        start = time.perf_counter()
        recorder.emit(TestStarted(test_id, utc_now()))
        measure = Measure(test_id, dut, recorder.emit)
        for k in range(PER_TEST):
            measure(names[k % 4], values[k % 4])
        recorder.emit(TestFinished(test_id, "passed", utc_now(), 0.0))
        costs.append((time.perf_counter() - start) / PER_TEST * 1e6)
    recorder.emit(RunFinished(utc_now(), "passed"))
    writer.close()
    return statistics.median(costs)


def openhtf_us_per_measurement(folder: Path) -> float | None:
    python = os.environ.get("BENCHTEST_OPENHTF_PYTHON", sys.executable)
    script = folder / "openhtf_bench.py"
    script.write_text(
        "import statistics, sys, time\n"
        "out = sys.argv[1]; sys.argv = sys.argv[:1]  # openhtf parses sys.argv when imported\n"
        "import openhtf as htf\n"
        "from openhtf.output.callbacks import json_factory\n"
        "from openhtf.util import units\n"
        f"N, TESTS = {PER_TEST}, {TESTS}\n"
        "measurements = [htf.Measurement(f'm{i}').in_range(0.0, 10.0).with_units(units.VOLT)\n"
        "                for i in range(N)]\n"
        "@htf.measures(*measurements)\n"
        "def phase(test):\n"
        "    for i in range(N):\n"
        "        test.measurements[f'm{i}'] = 3.3\n"
        "costs = []\n"
        "for t in range(TESTS):\n"
        "    test = htf.Test(phase)\n"
        "    test.add_output_callbacks(json_factory.OutputToJSON(f'{out}/htf{t}.json'))\n"
        "    start = time.perf_counter()\n"
        "    test.execute(test_start=lambda: 'DUT1')\n"
        "    costs.append((time.perf_counter() - start) / N * 1e6)\n"
        "print(statistics.median(costs))\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [python, str(script), str(folder)], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        if "No module named 'openhtf'" in done.stderr:
            return None
        sys.exit(f"the OpenHTF baseline failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="benchtest-measure-") as name:
        folder = Path(name)
        ours = benchtest_us_per_measurement(folder)
        theirs = openhtf_us_per_measurement(folder)
    print(
        f"benchtest: {ours:8.2f} us per measurement ({PER_TEST} per test, median of {TESTS} tests)"
    )
    if theirs is None:
        print(
            "OpenHTF  : not installed here (pip install openhtf, or set BENCHTEST_OPENHTF_PYTHON);"
            " it took 170-240 us per measurement on the reference machine"
        )
    else:
        print(
            f"OpenHTF  : {theirs:8.2f} us per measurement; benchtest is {theirs / ours:.1f}x faster"
        )
    print(f"target <= {TARGET_US:.0f} us: {'met' if ours <= TARGET_US else 'MISSED'}")
    print(json.dumps({"benchtest_us": ours, "openhtf_us": theirs}))
    return 0 if ours <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
