"""A 60 s current profile at 1 MS/s (60 M samples of current and voltage) streamed to a run file.

1. Throughput: the whole run (run file created, the capture streamed chunk by chunk through
   the recorder and `Hdf5RunWriter` with a flush per chunk, the test committed, the file closed
   and sealed) against bare h5py appending the same chunks to two resizable datasets with the
   same gzip-1+shuffle filters and closing the file. Paired, interleaved runs; the target is
   >= 0.8x bare h5py's throughput.
2. Memory: the growth of the process's peak resident memory while the capture streams, in a
   fresh process, against one chunk (1 M samples of current and voltage, 16 MB): <= 2x.
3. Analysis read back from that run file: `energy_profile_chunked` reading current and voltage
   1 M samples at a time (two passes) against `energy_profile` on the whole trace read into
   memory, each timed from the open run file to the result; paired, interleaved runs. The
   chunked analysis must give the whole trace's figures (checked) at >= 0.5x its throughput.
4. Peak memory of each analysis, in fresh processes, against one chunk: the chunked one
   <= 4 chunks; the whole-trace one is printed for comparison (it holds the record).

The chunks are made once by the simulated profiler and handed out again with advancing start
indices, so the figures are the storage path's, not the simulation's.

Run: python benchmarks/bench_profiler_stream.py [--quick]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import targets
from targets import interleaved, summarize, timed

from benchtest.analysis import EnergyProfile, energy_profile, energy_profile_chunked
from benchtest.config.assets import asset
from benchtest.config.dut import DutProfile
from benchtest.results import open_run
from benchtest.run.profiles import stream_profile
from benchtest.run.recorder import RunRecorder
from benchtest.runfile.codecs import GZIP
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.simulators.profiler import SimulatedProfiler
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.storage.nexus import CHUNK_POINTS
from benchtest.values.events import RunFinished, TestFinished, TestStarted
from benchtest.values.profile import ProfileChunk
from benchtest.values.waveform import Waveform

RATE = 1e6
CHUNK = 1 << 20
TEST = "mcu/test_mcu_energy.py::test_sleep_current_and_energy_per_event"
T0 = "2026-12-07T04:00:00+00:00"
#: The MCU plan's settings: stop | active | burst at 25 uA and 4.4 mA.
ANALYSIS = {"thresholds": (25e-6, 4.4e-3), "min_duration": 10e-6, "settle": 50e-6}


def template_chunk() -> ProfileChunk:
    model = DutProfile.load(asset("dut_profiles/bt_mcu_l0.yaml")).model
    profiler = SimulatedProfiler(McuModel.from_mapping(model, "B1"), vdd=3.0)
    return next(profiler.stream(CHUNK / RATE, sample_rate=RATE, chunk_points=CHUNK))


def chunks(template: ProfileChunk, points: int) -> Iterator[ProfileChunk]:
    for start in range(0, points, CHUNK):
        size = min(CHUNK, points - start)
        voltage = None if template.voltage is None else template.voltage[:size]
        yield ProfileChunk(start, template.current[:size], voltage, template.ranges[:0])


def through_writer(path: Path, template: ProfileChunk, points: int) -> int:
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    recorder.emit(TestStarted(TEST, T0))
    stored = stream_profile(
        recorder.emit, TEST, "idd", chunks(template, points), sample_rate=RATE, voltage=True
    )
    recorder.emit(TestFinished(TEST, "passed", T0, 60.0))
    recorder.emit(RunFinished(T0, "passed"))
    return stored


def bare_h5py(path: Path, template: ProfileChunk, points: int) -> int:
    stored = 0
    with h5py.File(path, "w") as f:
        datasets = [
            f.create_dataset(
                name,
                shape=(0,),
                maxshape=(None,),
                dtype=np.float64,
                chunks=(CHUNK_POINTS,),
                **GZIP.filter_args(),
            )
            for name in ("current", "voltage")
        ]
        for chunk in chunks(template, points):
            end = stored + len(chunk)
            for dataset, samples in zip(datasets, (chunk.current, chunk.voltage), strict=True):
                dataset.resize((end,))
                dataset[stored:end] = samples
            stored = end
    return stored


def analysed(path: Path, *, chunked: bool) -> EnergyProfile:
    """The energy profile of the stored capture: read back chunk by chunk, or whole."""
    with open_run(path) as run:
        group = run.test(TEST).waveforms["idd"].group
        dt = float(group.attrs["dt"])
        if chunked:
            return energy_profile_chunked(
                group["current"], dt=dt, voltage=group["voltage"], chunk_points=CHUNK, **ANALYSIS
            )
        current = Waveform(group["current"][:], dt, unit="A")
        return energy_profile(current, voltage=group["voltage"][:], **ANALYSIS)


def same_figures(chunked: EnergyProfile, whole: EnergyProfile) -> None:
    """Stop with an error unless both analyses found the same events and currents."""
    pairs = zip(chunked.events, whole.events, strict=False)
    if len(chunked.events) != len(whole.events) or any(
        not np.isclose(a.charge, b.charge, rtol=1e-9) for a, b in pairs
    ):
        raise SystemExit("the chunked analysis differs from the whole-trace analysis")
    for state, level in whole.state_currents.items():
        if not np.isclose(chunked.state_currents[state], level, rtol=1e-9):
            raise SystemExit(f"the chunked {state} current differs from the whole trace's")


def analysis_growth(path: Path, chunked: bool) -> None:
    """In this (fresh) process: print the peak memory growth of one analysis of `path`."""
    Path("/proc/self/clear_refs").write_text("5")
    before = memory_kib("VmRSS")
    analysed(path, chunked=chunked)
    print(json.dumps({"growth": memory_kib("VmHWM") - before, "chunk": CHUNK * 16}))


def child(*arguments: str) -> dict[str, float]:
    """The figures a fresh process of this benchmark prints last."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def memory_kib(field: str) -> int:
    """A `/proc/self/status` figure (VmRSS, VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/self/status")


def peak_growth(points: int) -> None:
    """In this (fresh) process: stream `points` samples and print the peak memory growth over
    the resident memory before (the peak is reset first, by `/proc/self/clear_refs`)."""
    template = template_chunk()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the present VmRSS
    before = memory_kib("VmRSS")
    with tempfile.TemporaryDirectory() as folder:
        through_writer(Path(folder) / "run.h5", template, points)
    after = memory_kib("VmHWM")
    chunk_bytes = template.current.nbytes + (
        0 if template.voltage is None else template.voltage.nbytes
    )
    print(json.dumps({"growth": after - before, "chunk": chunk_bytes}))


def main() -> int:
    parser = targets.arguments(__doc__)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--analysis-child", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.memory_child:
        peak_growth(options.memory_child)
        return 0
    if options.analysis_child:
        analysis_growth(Path(options.analysis_child[0]), options.analysis_child[1] == "chunked")
        return 0
    points = CHUNK + CHUNK // 4 if options.quick else 60_000_000  # quick: a partial last chunk
    pairs = 1 if options.quick else 3
    template = template_chunk()
    met = []
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = Path(folder) / "run.h5", Path(folder) / "bare.h5"

        def measured() -> float:
            ours.unlink(missing_ok=True)
            return timed(lambda: through_writer(ours, template, points))

        def baseline() -> float:
            theirs.unlink(missing_ok=True)
            return timed(lambda: bare_h5py(theirs, template, points))

        samples = interleaved(baseline, measured, pairs, warmup=0)
        rate = summarize([points / s for s in samples.measured])
        bare = summarize([points / s for s in samples.baseline])
        met.append(
            targets.result(
                "profile stream: 60 s at 1 MS/s to the run file vs bare h5py",
                rate.text(1e-6, "MS/s"),
                bare.text(1e-6, "MS/s"),
                summarize(samples.ratios(throughput=True)),
                0.8,
                at_least=True,
                included="run file created, chunks through recorder and writer (flush per "
                "chunk), test committed, file closed and sealed; bare: create, append, close",
            )
        )
        met += analysis_targets(ours, points, pairs)
    figures = child("--memory-child", str(points))
    met.append(
        targets.absolute(
            "profile stream: peak memory growth per chunk",
            figures["growth"] / figures["chunk"],
            "chunks",
            2.0,
            at_most=True,
            included=f"peak RSS growth of a fresh process streaming {points} samples, in "
            f"chunks of {figures['chunk'] / 1e6:.3g} MB (current and voltage)",
        )
    )
    return targets.exit_status(met)


def analysis_targets(path: Path, points: int, pairs: int) -> list[bool]:
    """Chunked against whole-trace analysis of the stored capture: throughput, then memory."""
    same_figures(analysed(path, chunked=True), analysed(path, chunked=False))
    samples = interleaved(
        lambda: timed(lambda: analysed(path, chunked=False)),
        lambda: timed(lambda: analysed(path, chunked=True)),
        pairs,
        warmup=0,
    )
    met = [
        targets.result(
            "energy analysis: read back in chunks vs the whole trace in memory",
            summarize([points / s for s in samples.measured]).text(1e-6, "MS/s"),
            summarize([points / s for s in samples.baseline]).text(1e-6, "MS/s"),
            summarize(samples.ratios(throughput=True)),
            0.5,
            at_least=True,
            included="run file opened, current and voltage read (chunked: twice, 1 M samples "
            "at a time; whole: at once), segmentation, state currents, events, periods",
        )
    ]
    chunked, whole = (child("--analysis-child", str(path), kind) for kind in ("chunked", "whole"))
    print(
        f"  whole-trace analysis: peak memory growth {whole['growth'] / 1e6:.4g} MB "
        f"({whole['growth'] / whole['chunk']:.3g} chunks)"
    )
    met.append(
        targets.absolute(
            "energy analysis in chunks: peak memory growth per chunk",
            chunked["growth"] / chunked["chunk"],
            "chunks",
            4.0,
            at_most=True,
            included=f"peak RSS growth of a fresh process analysing {points} samples read back "
            f"in chunks of {chunked['chunk'] / 1e6:.3g} MB (current and voltage); the "
            f"whole-trace analysis grows by {whole['growth'] / chunked['chunk']:.3g} chunks",
        )
    )
    return met


if __name__ == "__main__":
    sys.exit(main())
