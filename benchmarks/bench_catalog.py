"""Catalog benchmark for issue 6: 10 000 run files, indexed once, then queried and re-indexed.

The run files (3 tests, 6 measurements each, 40 serial numbers over 30 nights) are written
through the writer by two processes into a temporary folder, which is deleted at the end.
Targets: a parameter query across all runs answers in < 1 s once indexed, and re-indexing with
nothing changed takes < 2 s.

The targets are absolute times (there is no other catalog to compare with in the same run); as
a floor for the re-index, the time to walk the folder and stat every file is printed beside it.
`--quick` writes 40 run files.

Run: python benchmarks/bench_catalog.py [--runs N] [--quick]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path

import targets
from targets import Report

from benchtest.results import Catalog
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import MeasurementRecorded, RunFinished, TestFinished, TestStarted
from benchtest.values.measurement import Limits, Measurement

FIRST_NIGHT = datetime(2026, 10, 1, 22, 0, tzinfo=UTC)
PLANS = ("plans/test_power.py", "plans/test_ldo.py", "plans/test_timing.py")


def write_one(args: tuple[Path, int]) -> None:
    """Run file number `i`: its serial, night and values follow from `i`."""
    folder, i = args
    start = FIRST_NIGHT + timedelta(days=i % 30, minutes=i // 30)
    stamp = start.isoformat()
    event = dataclasses.replace(
        run_started(), serial_number=f"SN{i % 40:04d}", started=stamp, run_id=f"run{i}"
    )
    path = folder / f"night{i % 30:02d}" / f"run{i:05d}.h5"
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(event)
        for k, plan in enumerate(PLANS):
            test_id = f"{plan}::test_{k}"
            writer(TestStarted(test_id, stamp))
            for name in ("iq", "vout"):
                value = 1e-6 * (1 + (i % 7) / 10) if name == "iq" else 3.3
                m = Measurement.judge(name, value, "A", Limits(None, 1.6e-6 if name == "iq" else 5))
                writer(
                    MeasurementRecorded(
                        test_id, dataclasses.replace(m, timestamp=start.timestamp())
                    )
                )
            outcome = "failed" if (i + k) % 11 == 0 else "passed"
            writer(TestFinished(test_id, outcome, stamp, 0.01))
        writer(RunFinished(stamp, "passed"))


def stat_all(folder: Path) -> int:
    """Walk `folder` and stat every file: the least a re-index must do."""
    return sum(
        os.stat(os.path.join(top, name)).st_size
        for top, _, names in os.walk(folder)
        for name in names
    )


def timed(action: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = targets.arguments(__doc__)
    parser.add_argument("--runs", type=int, default=None, help="run files (default 10 000)")
    options = parser.parse_args()
    options.runs = options.runs or (40 if options.quick else 10_000)
    folder = Path(tempfile.mkdtemp(prefix="bench_catalog_"))
    index = folder / "index.sqlite3"
    report = Report("catalog")
    try:
        start = time.perf_counter()
        with Pool(2) as pool:
            pool.map(write_one, [(folder, i) for i in range(options.runs)], chunksize=50)
        print(f"generated {options.runs} run files in {time.perf_counter() - start:.1f} s")
        seconds, _ = timed(lambda: Catalog(folder, index).close())
        print(f"first indexing: {seconds:.1f} s ({seconds / options.runs * 1e3:.2f} ms/file)")
        with Catalog(folder, index, update=False) as catalog:
            span = ("2026-10-05", "2026-10-25")
            query, values = timed(lambda: catalog.values("iq", "LDO-3V3", *span), repeat=5)
            print(f"values('iq', part, 20 nights): {len(values):,} values in {query * 1e3:.1f} ms")  # type: ignore[arg-type]
            rates_s, rates = timed(catalog.pass_rate, repeat=5)
            print(f"pass_rate(): {len(rates)} (night, plan) rows in {rates_s * 1e3:.1f} ms")  # type: ignore[arg-type]
            again, unchanged = timed(catalog.update, repeat=3)
            print(f"re-index, nothing changed: {again:.3f} s ({unchanged})")
            walk, _ = timed(lambda: stat_all(folder), repeat=3)
            print(f"  floor: walking the folder and stat of every file: {walk:.3f} s")
        report.target("query s", query, 1.0, at_most=True)
        report.target("re-index s", again, 2.0, at_most=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())
