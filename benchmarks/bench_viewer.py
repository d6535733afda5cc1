"""The desktop viewer (`benchtest view`), offscreen: launch to first waveform, and pan/zoom.

1. Launch to the first waveform drawn, for a 2 GB run file against a 20 MB one (target: at most
   2x). Each sample is a new process, timed from its start until the viewer has opened the file,
   listed its tests, read and drawn the first test's waveform and painted the plot. Both files
   hold records of 10 M points (int16, full-range noise: incompressible, 20 MB each): the 20 MB
   file one of them, the 2 GB file 100, so the first waveform costs the same and the figure
   shows what the size of the file adds. The samples alternate between the two files.
2. Pan and zoom on a 100 M-point waveform: each step sets a new time range, reads what is in
   view (from the file, or the kept envelope) and paints the plot; median at most 50 ms, with
   the peak memory of the viewer's process (RSS, Qt included) at most 500 MB. The steps zoom
   in by halves from the whole record down to ~2000 samples in view, pan at each zoom level and
   zoom back out. The first drawing of the whole record (which reads it once) is printed, not
   part of the target.

    python benchmarks/bench_viewer.py [--quick]

Needs the viewer extra (pyqtgraph, PySide6); without the fast codec (hdf5plugin) the files are
written with gzip, which takes longer to write and to read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import targets

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchtest.storage import Hdf5RunWriter  # noqa: E402
from benchtest.storage.example import run_started  # noqa: E402
from benchtest.values.events import (  # noqa: E402
    RunFinished,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.waveform import Waveform  # noqa: E402

T = "2026-11-28T15:43:00+00:00"

FIRST_DRAW = """
import os, sys, json
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from benchtest.viewer.app import application, close, window
viewer = window([sys.argv[1]])
app = application()
viewer.browser.expandAll()
row = viewer.browser.row("waveform ch1")
row.setSelected(True)
app.processEvents()
viewer.waveforms.graph.grab()
assert viewer.waveforms.curves[0].shown is not None
tests = len(viewer.entries[next(iter(viewer.entries))].tests)
close(viewer)
print(json.dumps({"tests": tests}), flush=True)
"""

PAN_ZOOM = """
import os, sys, json, time
import numpy as np
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from benchtest.viewer.app import application, close, window
viewer = window([sys.argv[1]])
app = application()
viewer.browser.expandAll()
start = time.perf_counter()
viewer.browser.row("waveform ch1").setSelected(True)
app.processEvents()
plot = viewer.waveforms
plot.graph.grab()
first = time.perf_counter() - start
t0, t1 = plot.curves[0].envelope.duration
steps = []
width, centre = t1 - t0, 0.37 * (t1 - t0)
ranges = []
while width > 2000 * plot.curves[0].envelope.dt:
    width /= 2
    ranges.append((centre - width / 2, centre + width / 2))
    for shift in (0.1, 0.2, -0.3):
        centre += shift * width
        ranges.append((centre - width / 2, centre + width / 2))
ranges += ranges[::-1]
for a, b in ranges:
    began = time.perf_counter()
    plot.set_time_range(a, b)
    plot.graph.viewport().repaint()  # paints now, as the screen would
    steps.append(time.perf_counter() - began)
try:  # VmHWM: this process's peak RSS (Linux's ru_maxrss would include the parent's)
    peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024
except OSError:
    import resource
    unit = 1 if sys.platform == "darwin" else 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
points = len(plot.curves[0].envelope.samples)
close(viewer)
print(json.dumps({"first": first, "steps": steps, "peak": peak,
                  "points": points}), flush=True)
"""


def codec() -> str:
    return "fast" if importlib.util.find_spec("hdf5plugin") else "gzip"


def write_run(path: Path, records: int, points: int) -> None:
    """A run of `records` tests, each with one int16 record of `points` samples of noise."""
    codes = np.random.default_rng(5).integers(-(1 << 15), 1 << 15, points, dtype=np.int16)
    with Hdf5RunWriter(path, compression=codec(), sync="never") as writer:
        writer(run_started())
        for k in range(records):
            test = f"plan.py::test_record[{k}]"
            writer(TestStarted(test, T))
            wf = Waveform(np.roll(codes, k * 997), dt=1e-9, t0=0.0, scale=1e-3, unit="V")
            writer(WaveformRecorded(test, "ch1", wf, "CH1"))
            writer(TestFinished(test, "passed", T, 1.0))
        writer(RunFinished(T, "passed"))


def child(script: str, path: Path) -> tuple[float, dict[str, object]]:
    """Run `script` on `path` in a new process: seconds from its start to its answer."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"viewer process failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    options = targets.arguments(__doc__).parse_args()
    if importlib.util.find_spec("pyqtgraph") is None or importlib.util.find_spec("PySide6") is None:
        raise SystemExit("bench_viewer needs the viewer extra: pip install 'benchtest[viewer]'")
    points = 100_000 if options.quick else 10_000_000
    large_records = 10 if options.quick else 100
    long_points = 1_000_000 if options.quick else 100_000_000
    pairs = 1 if options.quick else 5
    folder = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    try:
        need = (large_records + 1) * points * 2 + long_points * 2
        free = shutil.disk_usage(folder).free
        if free < need * 1.3:
            raise SystemExit(f"bench_viewer needs {need / 1e9:.1f} GB free in {folder}")
        small, large, long = folder / "small.h5", folder / "large.h5", folder / "long.h5"
        began = time.perf_counter()
        write_run(small, 1, points)
        write_run(large, large_records, points)
        write_run(long, 1, long_points)
        sizes = {p.name: p.stat().st_size for p in (small, large, long)}
        print(
            f"files ({codec()} codec, written in {time.perf_counter() - began:.0f} s): "
            + ", ".join(f"{name} {size / 1e6:,.0f} MB" for name, size in sizes.items())
        )
        pair = targets.interleaved(
            lambda: child(FIRST_DRAW, small)[0],
            lambda: child(FIRST_DRAW, large)[0],
            pairs,
            warmup=0 if options.quick else 1,
        )
        ratio = targets.summarize(pair.ratios(throughput=False))
        met = [
            targets.result(
                f"viewer: launch to first waveform, {sizes['large.h5'] / 1e9:.1f} GB file vs "
                f"{sizes['small.h5'] / 1e6:.0f} MB file",
                targets.summarize(pair.measured).text(unit="s"),
                targets.summarize(pair.baseline).text(unit="s"),
                ratio,
                2.0,
                at_least=False,
                included="process start, Qt and viewer import, opening the run, listing its "
                "tests, reading and drawing the first 10 M-point waveform, painting the plot",
            )
        ]
        _, found = child(PAN_ZOOM, long)
        steps = [float(s) for s in found["steps"]]  # type: ignore[attr-defined]
        step = targets.summarize(steps)
        print(
            f"pan/zoom on {found['points']:,} points: first whole view {found['first']:.2f} s "
            f"(reads the record once); {len(steps)} steps {step.text(1e3, 'ms')}"
        )
        met.append(
            targets.absolute(
                "viewer: pan/zoom redraw on a 100 M-point waveform (median)",
                step.median * 1e3,
                "ms",
                50.0,
                at_most=True,
                included="new time range, reading what is in view, drawing, painting the plot",
            )
        )
        met.append(
            targets.absolute(
                "viewer: peak memory while panning a 100 M-point waveform",
                float(found["peak"]) / 1e6,  # type: ignore[arg-type]
                "MB",
                500.0,
                at_most=True,
                included="the viewer's whole process (Qt, pyqtgraph, envelope, file reads)",
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return targets.exit_status(met)


if __name__ == "__main__":
    sys.exit(main())
