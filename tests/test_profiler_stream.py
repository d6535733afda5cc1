"""A current profile streamed into the run file chunk by chunk, complete or broken off.

The run file is checked with plain h5py, silx's NXdata validator and `benchtest.results`: the
samples equal the capture, the range changes and the analysis tables sit beside them, and a
capture that broke off keeps every chunk received before the break, marked as stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from silx.io import nxdata

from benchtest.analysis import AnalysisError, EnergyProfile, energy_profile
from benchtest.config.assets import asset
from benchtest.config.dut import DutProfile
from benchtest.results import open_run
from benchtest.run.profiles import capture_profile, record_profile, stream_profile
from benchtest.run.recorder import RunRecorder
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.simulators.profiler import SimulatedProfiler
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.errors import ConnectionLostError, ResultFileError
from benchtest.values.events import RunFinished
from benchtest.values.events import TestFinished as Finished
from benchtest.values.events import TestStarted as Started
from benchtest.values.profile import CurrentProfile, ProfileChunk
from benchtest.values.streams import ProfileChunkRecorded

TEST = "mcu/test_mcu_energy.py::test_sleep_current_and_energy_per_event"
T = "2026-12-07T04:00:00+00:00"
UNIT = McuModel.from_mapping(DutProfile.load(asset("dut_profiles/bt_mcu_l0.yaml")).model, "S7")


def started(path: Path) -> RunRecorder:
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    recorder.emit(Started(TEST, T))
    return recorder


def finish(recorder: RunRecorder, outcome: str) -> None:
    recorder.emit(Finished(TEST, outcome, T, 1.0))
    recorder.emit(RunFinished(T, outcome))


def test_a_streamed_capture_is_stored_whole_and_plottable(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    recorder = started(path)
    profiler = SimulatedProfiler(UNIT, vdd=3.0, seed=3)
    chunks = profiler.stream(0.05, sample_rate=1e6, chunk_points=8192)
    stored = stream_profile(
        recorder.emit, TEST, "idd profile", chunks, sample_rate=1e6, voltage=True
    )
    finish(recorder, "passed")
    expected = profiler.capture(0.05, sample_rate=1e6)
    assert stored == 50_000
    with open_run(path) as run:
        wf = run.test(TEST).waveforms["idd profile"]
        assert (len(wf), wf.unit, wf.dt, wf.t0) == (50_000, "A", 1e-6, 0.0)
        np.testing.assert_allclose(wf.values(), expected.current.values, rtol=1e-9, atol=1e-13)
        group = wf.group
        assert nxdata.is_valid_nxdata(group)  # type: ignore[attr-defined]
        assert (group.attrs["complete"], group.attrs["points"]) == (1, 50_000)
        assert list(group.attrs["auxiliary_signals"]) == ["voltage"]
        assert group["voltage"].attrs["units"] == "V" and group["voltage"].shape == (50_000,)
        assert np.array_equal(group["ranges"][()], expected.ranges)


def test_a_capture_that_breaks_off_keeps_the_chunks_before_the_break(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    recorder = started(path)
    profiler = SimulatedProfiler(UNIT, vdd=3.0, unplug_after=30_000)
    with pytest.raises(ConnectionLostError, match="unplugged"):
        stream_profile(
            recorder.emit,
            TEST,
            "idd",
            profiler.stream(0.1, sample_rate=1e6, chunk_points=8192),
            sample_rate=1e6,
            voltage=True,
        )
    finish(recorder, "error")
    with h5py.File(path, "r") as f:
        groups = [g for g in f.values() if isinstance(g, h5py.Group) and "idd" in g]
        group = groups[0]["idd"]
        assert group.attrs["complete"] == 0 and group.attrs["points"] == 30_000
        assert "unplugged after 30000 samples" in group.attrs["stopped"]
        assert group["current"].shape == (30_000,)
    with open_run(path) as run:
        assert len(run.test(TEST).waveforms["idd"]) == 30_000


def test_the_segmentation_and_events_are_stored_beside_the_samples(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    recorder = started(path)
    capture = SimulatedProfiler(UNIT, vdd=3.0).capture(0.06, sample_rate=1e6)
    analysis = energy_profile(
        capture.current, voltage=capture.voltage, thresholds=(20e-6, 5e-3), min_duration=1e-5
    )
    record_profile(recorder.emit, TEST, "wakeups", capture, analysis=analysis)
    finish(recorder, "passed")
    with open_run(path) as run:
        record = run.test(TEST)
        group = record.waveforms["wakeups"].group
        events, segments = group["events"][()], group["segments"][()]
        units = dict(group["events"].attrs)
    assert len(events) == len(analysis.events) == 3
    assert events["charge"] == pytest.approx([e.charge for e in analysis.events])
    assert [s.decode() for s in events["states"]] == ["active+burst+active"] * 3
    assert segments["state"][0] == b"sleep" and segments["stop"][-1] == len(capture)
    assert (units["charge_units"], units["energy_units"]) == ("C", "J")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: ProfileChunk(5, np.zeros(4), np.zeros(4)), "starts at sample 5"),
        (lambda: ProfileChunk(0, np.zeros(4)), "started with voltage"),
    ],
)
def test_a_chunk_out_of_order_is_refused_by_name(
    tmp_path: Path, bad: Callable[[], ProfileChunk], message: str
) -> None:
    recorder = started(tmp_path / "run.h5")
    events = iter([bad()])
    with pytest.raises(ResultFileError, match=message):
        stream_profile(recorder.emit, TEST, "idd", events, sample_rate=1e3, voltage=True)
    with pytest.raises(ResultFileError, match=r"'idd' of .* is not streaming"):
        recorder.emit(ProfileChunkRecorded(TEST, "idd", ProfileChunk(0, np.zeros(2))))
    finish(recorder, "error")


def test_an_analysis_that_fails_leaves_the_capture_stored_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    recorder = started(path)
    profiler = SimulatedProfiler(UNIT, vdd=3.0)

    def no_burst(capture: CurrentProfile) -> EnergyProfile:
        found = energy_profile(capture.current, thresholds=(20e-6, 5e-3))
        found.segmentation.of("radio")  # no such state: an AnalysisError
        return found

    with pytest.raises(AnalysisError, match="no state 'radio'"):
        capture_profile(
            recorder.emit, TEST, "idd", profiler, 0.03, sample_rate=1e6, analyse=no_burst
        )
    finish(recorder, "error")
    with open_run(path) as run:
        record = run.test(TEST)
        group = record.waveforms["idd"].group
        assert group.attrs["complete"] == 1 and group.attrs["points"] == 30_000
        assert "events" not in group and "segments" not in group
