"""Report benchmark for issue 13: the HTML report of a run with 1 000 tests and 100 waveforms of
1 M points is written in <= 10 s and is <= 20 MB.

The run file is written first through the writer (gzip, as a real run), into a temporary folder
deleted at the end; its writing is not timed. One sample is `write_report(run)`, all of it:
opening the run file (with its seal check), reading every test and measurement, the run file's
SHA-256, reading every waveform in full (its min/max envelope for display, and its first edge
for the marks), rendering, the report's own digest, and writing the report under a temporary
name and renaming it. The file is in the page cache (just written), as when a report follows
its run.

Baseline, in the same run and interleaved with the report: plain h5py opening the same file and
reading every waveform's samples and the measurement table, the least any report must read.
The targets are absolute (the issue's); the baseline is printed beside them as a ratio.
`--quick`: 20 tests and 4 waveforms of 20 000 points.

Run: python benchmarks/bench_report.py [--quick]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import targets

from benchtest.report import write_report
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

T0 = "2026-11-28T15:43:00+00:00"
SECONDS_TARGET = 10.0
MEGABYTES_TARGET = 20.0


def write_run(path: Path, tests: int, waveforms: int, points: int) -> None:
    """`tests` tests of three measurements each (every 10th fails one); the first `waveforms`
    record a noisy start-up ramp of `points` samples."""
    wf = startup_waveform(points)
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        for i in range(tests):
            test_id = f"test_plans/ldo/test_bulk.py::test_point[{i}]"
            writer(TestStarted(test_id, T0, conditions={"vin": 3.6 + i % 5 * 0.1}))
            iq = 71e-6 if i % 10 == 9 else 45e-6
            for m in (
                Measurement.judge("iq", iq, "A", Limits(0.0, 60e-6, "A")),
                Measurement.judge("vout", 3.3, "V", Limits(3.2, 3.4, "V")),
                Measurement.judge("dropout", 0.18, "V", Limits(None, 0.25, "V")),
            ):
                writer(MeasurementRecorded(test_id, m))
            if i < waveforms:
                writer(WaveformRecorded(test_id, "vout_startup", wf, "VOUT at CH1"))
            outcome = "failed" if i % 10 == 9 else "passed"
            writer(TestFinished(test_id, outcome, T0, 0.1, "iq above its limit" * (i % 10 == 9)))
        writer(RunFinished(T0, "failed"))


def read_plainly(path: Path) -> int:
    """Plain h5py: every waveform's samples and the measurement table; returns the samples."""
    samples = 0
    with h5py.File(path, "r") as f:
        f["summary/measurements"][...]
        for name in f:
            entry = f[name]
            if not isinstance(entry, h5py.Group) or name == "summary":
                continue
            for group in entry.values():
                if isinstance(group, h5py.Group) and "codes" in group:
                    samples += len(group["codes"][...])
    return samples


def main() -> int:
    options = targets.arguments(__doc__).parse_args()
    tests, waveforms, points = (20, 4, 20_000) if options.quick else (1000, 100, 1_000_000)
    pairs = 2 if options.quick else 3
    folder = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        run = folder / "run.h5"
        start = time.perf_counter()
        write_run(run, tests, waveforms, points)
        size = run.stat().st_size / 1e6
        print(f"wrote the run file ({tests} tests, {waveforms} x {points:,} points, {size:.0f} MB)"
              f" in {time.perf_counter() - start:.1f} s (not timed)")  # fmt: skip
        report = folder / "run.html"

        def measured() -> float:
            return targets.timed(lambda: write_report(run, report))

        baseline = targets.sized_sample(lambda: read_plainly(run), waveforms * points, "samples")
        timing = targets.interleaved(baseline, measured, pairs)
        ours, plain = targets.summarize(timing.measured), targets.summarize(timing.baseline)
        ratio = targets.summarize(timing.ratios(throughput=False))
        megabytes = report.stat().st_size / 1e6
        print(f"baseline, plain h5py reading the same samples and table: {plain.text(unit='s')}; "
              f"the report takes {ratio.text()}x that")  # fmt: skip
        included = (
            "open_run with seal check, tests and measurements, run-file sha256, every waveform "
            "read in full (envelope and edge marks), rendering, report digest, write and rename"
        )
        met = [
            targets.absolute(
                f"report: {tests} tests, {waveforms} x {points:,}-point waveforms, time",
                ours.median,
                "s",
                SECONDS_TARGET,
                at_most=True,
                included=f"{included}; {ours.text(unit='s')}; baseline (plain h5py reading the "
                f"same samples and table) {plain.text(unit='s')}",
            ),
            targets.absolute(
                f"report: {tests} tests, {waveforms} x {points:,}-point waveforms, size",
                megabytes,
                "MB",
                MEGABYTES_TARGET,
                at_most=True,
                included="the whole HTML file: inline CSS and SVG, nothing else to fetch",
            ),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return targets.exit_status(met)


if __name__ == "__main__":
    sys.exit(main())
