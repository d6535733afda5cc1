"""The energy analysis read chunk by chunk equals the whole-trace analysis.

A trace read `chunk_points` samples at a time must give the same segmentation, state currents,
events (charge, energy, peak) and periods as `energy_profile` on the whole trace, to the
rounding of sums, wherever the chunk boundaries fall: inside events, inside range-switching
glitches shorter than `min_duration`, on the first sample of a state. Closed forms hold: a
rectangular pulse's charge is A·w, an exponential pulse's A·tau. A capture stored in an HDF5
file is analysed from its datasets without reading them whole.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from test_energy_analysis import (
    ACTIVE,
    DT,
    PERIOD,
    SLEEP,
    WIDTH,
    exact_pulse,
    exponential,
    rectangular_train,
)

from benchtest import Waveform
from benchtest.analysis import AnalysisError, energy_profile, energy_profile_chunked
from benchtest.analysis.energy import EnergyProfile
from benchtest.config.assets import asset
from benchtest.config.dut import DutProfile
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.power_profile import ProfileSource, WakeSchedule

MCU = WakeSchedule.of(
    McuModel.from_mapping(DutProfile.load(asset("dut_profiles/bt_mcu_l0.yaml")).model, "L0-0003"),
    3.0,
)
MCU_SETTINGS = {"thresholds": (25e-6, 4.4e-3), "min_duration": 10e-6, "settle": 50e-6}


def mcu_capture(points: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """The simulated MCU at 1 MS/s: noise, range-switch glitches, five wake-ups."""
    chunk = ProfileSource(MCU, 1e6, seed=(3,)).chunk(0, points)
    assert chunk.voltage is not None
    return chunk.current, chunk.voltage


def assert_same(chunked: EnergyProfile, whole: EnergyProfile) -> None:
    rows = [(s.state, s.start, s.stop) for s in whole.segmentation.segments]
    assert [(s.state, s.start, s.stop) for s in chunked.segmentation.segments] == rows
    for mine, theirs in zip(
        chunked.segmentation.segments, whole.segmentation.segments, strict=True
    ):
        assert mine.charge == pytest.approx(theirs.charge, rel=1e-9, abs=1e-18)
    assert chunked.state_currents.keys() == whole.state_currents.keys()
    for state, level in whole.state_currents.items():
        assert chunked.state_currents[state] == pytest.approx(level, rel=1e-9)
    assert len(chunked.events) == len(whole.events) and len(chunked.periods) == len(whole.periods)
    for mine, theirs in zip(chunked.events, whole.events, strict=True):
        assert (mine.start, mine.stop, mine.states) == (theirs.start, theirs.stop, theirs.states)
        assert mine.charge == pytest.approx(theirs.charge, rel=1e-9)
        assert mine.peak_current == theirs.peak_current
        if theirs.energy is None:
            assert mine.energy is None
        else:
            assert mine.energy == pytest.approx(theirs.energy, rel=1e-9)
    for mine_period, their_period in zip(chunked.periods, whole.periods, strict=True):
        assert mine_period.charge == pytest.approx(their_period.charge, rel=1e-9)
        if their_period.energy is None:
            assert mine_period.energy is None
        else:
            assert mine_period.energy == pytest.approx(their_period.energy, rel=1e-9)
    assert chunked.mean_current == pytest.approx(whole.mean_current, rel=1e-9)


@pytest.mark.parametrize("chunk_points", [997, 4096, 10_501, 1 << 20])
def test_chunked_analysis_of_the_simulated_mcu_equals_the_whole_trace(chunk_points: int) -> None:
    current, voltage = mcu_capture()
    whole = energy_profile(Waveform(current, 1e-6, unit="A"), voltage=voltage, **MCU_SETTINGS)
    chunked = energy_profile_chunked(
        current, dt=1e-6, voltage=voltage, chunk_points=chunk_points, **MCU_SETTINGS
    )
    assert_same(chunked, whole)
    straddling = [
        e for e in whole.events if e.start // chunk_points != (e.stop - 1) // chunk_points
    ]
    assert straddling or chunk_points > len(current) // 2  # boundaries do fall inside events
    assert chunked.event_charge() == pytest.approx(MCU.event_charge, rel=0.01)


def test_glitches_and_state_changes_on_chunk_boundaries_are_carried_across() -> None:
    """Short runs (shorter than min_duration) cut by a boundary join the segment before them;
    a state that starts on the first sample of a chunk is not a glitch."""
    n, rng = 6_000, np.random.default_rng(5)
    values = np.full(n, SLEEP) + rng.normal(0.0, 0.2e-9, n)
    for start in (995, 2_000, 3_503):  # 100 us wake-ups, cut by 1000-sample chunks or not
        values[start : start + 100] = ACTIVE
    for glitch in (2_998, 4_000, 4_999):  # 4-sample glitches across boundaries
        values[glitch : glitch + 4] = ACTIVE
    values[:3] = ACTIVE  # short runs before the first long one join it
    settings = {
        "states": ("sleep", "active"),
        "thresholds": (1e-6,),
        "min_duration": 10e-6,
        "settle": 20e-6,
        "voltage": 1.8,
    }
    whole = energy_profile(Waveform(values, DT, unit="A"), **settings)  # type: ignore[arg-type]
    for chunk_points in (1_000, 2, 7):
        assert_same(
            energy_profile_chunked(values, dt=DT, chunk_points=chunk_points, **settings), whole
        )  # type: ignore[arg-type]
    assert [e.start for e in whole.events] == [995, 2_000, 3_503]
    first = whole.segmentation.segments[0]
    assert (first.state, first.start) == ("sleep", 0)  # the 3 samples joined the sleep after


def test_hysteresis_is_carried_across_chunk_boundaries() -> None:
    """Slow edges through a threshold, with noise: inside the band a sample keeps the side of
    the last one outside it, also when the band is entered in one chunk and left in another."""
    n, rng = 20_000, np.random.default_rng(9)
    ramp = np.clip((np.arange(n) % 5_000 - 1_000) / 2_000, 0.0, 1.0)  # 2 ms edges up
    values = 1e-6 * (0.5 + ramp) + rng.normal(0.0, 0.05e-6, n)  # 0.5 uA .. 1.5 uA
    values[3_000:4_000] = 1.5e-6  # hold before falling back
    settings = {"states": ("sleep", "active"), "thresholds": (1e-6,), "hysteresis": 0.2}
    plain = energy_profile(Waveform(values, DT, unit="A"), states=("sleep", "active"),
                           thresholds=(1e-6,))  # fmt: skip
    whole = energy_profile(Waveform(values, DT, unit="A"), **settings)  # type: ignore[arg-type]
    assert len(whole.segmentation.segments) < len(plain.segmentation.segments) / 10
    for chunk_points in (1_000, 1_999, 257):
        chunked = energy_profile_chunked(values, dt=DT, chunk_points=chunk_points, **settings)  # type: ignore[arg-type]
        assert_same(chunked, whole)
    with pytest.raises(AnalysisError, match="bands of thresholds"):
        energy_profile_chunked(values, dt=DT, thresholds=(1e-6, 1.2e-6), hysteresis=0.2)
    with pytest.raises(AnalysisError, match=r"hysteresis must be a fraction within \[0, 1\)"):
        energy_profile(Waveform(values, DT), thresholds=(1e-6, 1e-3), hysteresis=1.5)


def test_a_record_without_a_long_run_is_one_segment_in_the_longest_runs_state() -> None:
    values = np.tile([SLEEP, SLEEP, ACTIVE], 20)  # runs of 2 and 1 samples, none of 10
    settings = {"states": ("sleep", "active"), "thresholds": (1e-6,), "min_duration": 10 * DT}
    whole = energy_profile(Waveform(values, DT, unit="A"), **settings)  # type: ignore[arg-type]
    chunked = energy_profile_chunked(values, dt=DT, chunk_points=4, **settings)  # type: ignore[arg-type]
    assert_same(chunked, whole)
    assert [s.state for s in chunked.segmentation.segments] == ["sleep"]


@pytest.mark.parametrize("noise", [0.0, 0.2e-9])
def test_rectangular_pulses_give_a_times_w_read_in_chunks(noise: float) -> None:
    wf = rectangular_train(noise=noise)
    profile = energy_profile_chunked(
        wf, states=("sleep", "active"), thresholds=(1e-6,), voltage=3.0, chunk_points=3001
    )
    assert profile.state_currents["sleep"] == pytest.approx(SLEEP, rel=0.01)
    assert len(profile.events) == 5
    for event in profile.events:
        assert event.charge == pytest.approx((ACTIVE - SLEEP) * WIDTH, rel=1e-5)
        assert event.energy == pytest.approx(3.0 * event.charge, rel=1e-12)
    assert profile.periods[0].duration == pytest.approx(PERIOD)


def test_exponential_pulses_give_a_times_tau_from_an_hdf5_file(tmp_path: Path) -> None:
    n, tau, amplitude = 50_000, 200e-6, 5e-3
    values = np.full(n, SLEEP)
    for start in (10_000, 30_000):
        values += exponential(n, start, amplitude, tau) * (np.arange(n) < start + 10_000)
    values += np.random.default_rng(2).normal(0.0, 0.2e-9, n)
    with h5py.File(tmp_path / "capture.h5", "w") as f:
        f.create_dataset("current", data=values, chunks=(4096,))
        f.create_dataset("voltage", data=np.full(n, 3.3), chunks=(4096,))
    with h5py.File(tmp_path / "capture.h5", "r") as f:
        profile = energy_profile_chunked(
            f["current"],
            dt=DT,
            voltage=f["voltage"],
            states=("sleep", "active"),
            thresholds=(1e-6,),
            chunk_points=4096,
        )
    assert len(profile.events) == 2
    for event in profile.events:  # the rest level holds the tails below 1 uA: 1e-4 of A·tau
        assert event.charge == pytest.approx(amplitude * tau, rel=3e-4)
        assert event.energy == pytest.approx(3.3 * amplitude * tau, rel=3e-4)
    assert exact_pulse(4, 1, 2, 1.0).sum() == 2.0  # the helpers are the whole-trace tests'


def test_bad_input_is_refused_with_what_was_wrong() -> None:
    values = np.full(100, SLEEP)
    with pytest.raises(AnalysisError, match="needs the thresholds"):
        energy_profile_chunked(values, dt=DT)
    with pytest.raises(AnalysisError, match="dt must be"):
        energy_profile_chunked(values, thresholds=(1e-6, 1e-3))
    with pytest.raises(AnalysisError, match="voltage trace has 99 samples; the current has 100"):
        energy_profile_chunked(values, dt=DT, thresholds=(1e-6, 1e-3), voltage=np.ones(99))
    with pytest.raises(AnalysisError, match="chunk_points must be >= 1"):
        energy_profile_chunked(values, dt=DT, thresholds=(1e-6, 1e-3), chunk_points=0)
    with pytest.raises(AnalysisError, match="3 states need 2 thresholds"):
        energy_profile_chunked(values, dt=DT, thresholds=(1e-6,))
