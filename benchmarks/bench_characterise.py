"""Characterise benchmark for issue 13: `characterise` over 1 000 run files reads only what it
needs, within 2x the time plain h5py takes to read the same measurement tables.

Each run file is one unit of a sensor characterisation: 15 tests with one measurement each
(over three VDD and three temperature conditions), one 1 200-point scope capture, written
through the writer by two processes into a temporary folder that is deleted at the end.

Measured: `benchtest.review.characterise(files)`, all the work behind the table the command
prints: opening each file, checking its seal (a damaged file is never counted) and that its
journal is empty, reading the identity attributes, the test table's numbers and conditions
and the measurement table, and the statistics of every row. Not included: sweeps, which only
the HTML page reads. Baseline: plain h5py opening each file and reading /summary/measurements
and the part, serial number and lot attributes. Pairs are interleaved, the order alternating.

Run: python benchmarks/bench_characterise.py [--runs N] [--quick]. Exits 1 when the target is
missed. `--quick` writes 40 run files.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import h5py
import numpy as np
import targets

from benchtest.review.characterise import characterise
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started, startup_waveform
from benchtest.values.events import (
    MeasurementRecorded,
    RunFinished,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement

TARGET = 2.0  # characterise time / plain h5py time, at most
PLAN = "sensor/test_sensor_characterisation.py"
STAMP = "2026-11-28T15:43:00+00:00"
#: (parameter, unit, limits, typical, sigma, conditions) of each test.
TESTS = [
    ("accuracy", "degC", Limits(-0.5, 0.5, "degC"), 0.0, 0.12, {"vdd": vdd, "temperature": t})
    for vdd in (1.8, 3.3, 5.5)
    for t in (-20.0, 25.0, 85.0)
] + [
    ("idd_active", "A", Limits(None, 220e-6, "A"), 135e-6, 9e-6, {"vdd": vdd, "temperature": 25.0})
    for vdd in (1.8, 3.3, 5.5)
] + [
    ("t_conversion", "s", Limits(None, 17.5e-3, "s"), 15.5e-3, 0.35e-3,
     {"vdd": 3.3, "temperature": t})
    for t in (-20.0, 25.0, 85.0)
]  # fmt: skip


def write_one(args: tuple[Path, int]) -> None:
    """The run file of unit number `i`, its values drawn with a seed of `i`."""
    folder, i = args
    rng = np.random.default_rng(i)
    event = dataclasses.replace(
        run_started(), serial_number=f"SN{i:05d}", lot=f"L{i % 4}", run_id=f"run{i}",
        part="BT-TEMP-S1",
    )  # fmt: skip
    capture = startup_waveform(points=1200, seed=i)
    with Hdf5RunWriter(folder / f"unit{i:05d}.h5", sync="never") as writer:
        writer(event)
        for k, (name, unit, limits, typ, sigma, conditions) in enumerate(TESTS):
            test_id = f"{PLAN}::test_{name}[{k}]"
            writer(TestStarted(test_id, STAMP, conditions=conditions))
            value = typ + sigma * float(rng.standard_normal())
            m = Measurement.judge(name, value, unit, limits)
            writer(MeasurementRecorded(test_id, dataclasses.replace(m, conditions=conditions)))
            if k == 0:
                writer(WaveformRecorded(test_id, "idd_conversion", capture, "IDD at CH2"))
            writer(TestFinished(test_id, "passed", STAMP, 0.1))
        writer(RunFinished(STAMP, "passed"))


def plain_h5py(files: list[Path]) -> int:
    """The baseline: each file's measurement table and identity, with h5py alone."""
    rows = 0
    for path in files:
        with h5py.File(path, "r") as f:
            rows += len(f["summary/measurements"][()])
            _ = [f.attrs[name] for name in ("part", "serial_number", "lot")]
    return rows


def main() -> int:
    parser = targets.arguments(__doc__)
    parser.add_argument("--runs", type=int, default=None, help="run files (default 1 000)")
    options = parser.parse_args()
    runs = options.runs or (40 if options.quick else 1000)
    pairs = 3 if options.quick else 7
    folder = Path(tempfile.mkdtemp(prefix="bench_characterise_"))
    try:
        start = time.perf_counter()
        with Pool(2) as pool:
            pool.map(write_one, [(folder, i) for i in range(runs)], chunksize=25)
        files = sorted(folder.glob("*.h5"))
        print(f"wrote {len(files)} run files in {time.perf_counter() - start:.1f} s")
        expected = runs * len(TESTS)

        def ours() -> int:
            result = characterise(files)
            return sum(r.spread.count for r in result.rows if not r.group)

        sample_ours = targets.sized_sample(ours, expected, "values")
        sample_base = targets.sized_sample(lambda: plain_h5py(files), expected, "rows")
        measured = targets.interleaved(sample_base, sample_ours, pairs)
        ratio = targets.summarize(measured.ratios(throughput=False))
        per_file = 1e3 / runs
        met = targets.result(
            f"characterise: {runs} run files vs plain h5py (time ratio)",
            targets.summarize(measured.measured).text(per_file, "ms/file"),
            targets.summarize(measured.baseline).text(per_file, "ms/file"),
            ratio,
            TARGET,
            at_least=False,
            included="open, seal check (CRC of every region), 6 identity attributes, the "
            "journal's head, the test table's numbers and conditions, the measurement table, "
            "statistics of every row and lot; baseline: open, /summary/measurements, "
            "3 attributes",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return targets.exit_status([met])


if __name__ == "__main__":
    sys.exit(main())
