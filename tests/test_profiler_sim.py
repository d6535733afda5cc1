"""The simulated current profiler on the BT-MCU-L0 model, and the energy analysis measuring it.

Acceptance: across 30 units with their spread, the stop-mode current measured from a 1 MS/s
profile is within 2 % of the model's value and the charge per wake-up within 1 % of the
model's integral, with the profiler's noise and its range-switching glitches. The samples are
the same however the capture is chunked, and a stalled or unplugged profiler ends the capture
in one error that keeps the samples so far.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchtest.analysis import energy_profile
from benchtest.config.assets import asset
from benchtest.config.dut import DutProfile
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.power_profile import GLITCH_POINTS, RANGES
from benchtest.sim.simulators.profiler import SimulatedProfiler
from benchtest.sim.testing import ManualClock
from benchtest.values.errors import InstrumentError
from benchtest.values.profile import CaptureError, ProfileChunk

PROFILE = DutProfile.load(asset("dut_profiles/bt_mcu_l0.yaml"))
VDD = 3.0
RATE = 1e6
THRESHOLDS = (20e-6, 5e-3)  # sleep | active | radio burst, A
SETTLE = 50e-6  # s left out at each segment's edges (range-switch settling)


def unit(serial: str | None) -> McuModel:
    return McuModel.from_mapping(PROFILE.model, serial)


def measured(profiler: SimulatedProfiler, seconds: float = 0.1) -> tuple[float, float]:
    """(stop-mode current, mean charge per wake-up) from one capture."""
    profile = profiler.capture(seconds, sample_rate=RATE)
    found = energy_profile(
        profile.current,
        voltage=profile.voltage,
        thresholds=THRESHOLDS,
        min_duration=10e-6,
        settle=SETTLE,
    )
    assert len(found.events) == round(seconds / profiler.schedule.period)  # wake-ups mid-period
    return found.state_currents["sleep"], found.event_charge()


def test_thirty_units_meet_the_sleep_current_and_charge_per_wakeup_bars() -> None:
    sleep_errors, charge_errors, sleep_currents = [], [], []
    for k in range(30):
        profiler = SimulatedProfiler(unit(f"L0-{k:04d}"), vdd=VDD, seed=k)
        sleep, charge = measured(profiler)
        model = profiler.schedule
        sleep_errors.append(sleep / model.sleep_current - 1)
        charge_errors.append(charge / model.event_charge - 1)
        sleep_currents.append(model.sleep_current)
    assert max(map(abs, sleep_errors)) < 0.02
    assert max(map(abs, charge_errors)) < 0.01
    spread = np.std(sleep_currents) / np.mean(sleep_currents)
    assert spread > 0.05, "the units' leakage spread is what the 2 % bar is measured against"
    assert min(sleep_currents) > 0.5e-6 and max(sleep_currents) < 1.5e-6  # the nA level


def test_the_capture_is_the_same_however_it_is_chunked() -> None:
    profiler = SimulatedProfiler(unit("L0-0001"), vdd=VDD, seed=5)
    whole = profiler.capture(0.045, sample_rate=RATE)
    pieces = list(profiler.stream(0.045, sample_rate=RATE, chunk_points=7777))
    assert [c.start for c in pieces] == list(range(0, 45_000, 7777))
    joined = np.concatenate([c.current for c in pieces])
    # the same samples, to the rounding of sums taken over different windows
    np.testing.assert_allclose(joined, whole.current.samples, rtol=1e-9, atol=1e-13)  # 0.1 pA
    assert np.array_equal(np.concatenate([c.ranges for c in pieces]), whole.ranges)


def test_range_switches_are_recorded_and_glitch_like_a_real_profiler() -> None:
    profiler = SimulatedProfiler(unit(None), vdd=VDD)
    profile = profiler.capture(0.02, sample_rate=RATE)
    ranges = profile.ranges
    assert ranges[0]["index"] == 0 and ranges[0]["range"] == RANGES[0]  # asleep at the start
    rise = round((profiler.schedule.wake_at + profiler.schedule.latency) * RATE)
    first_up = int(ranges[1]["index"])
    assert abs(first_up - rise) <= 1 and ranges[1]["range"] > RANGES[0]
    clipped = profile.current.samples[first_up : first_up + GLITCH_POINTS]
    assert np.all(clipped <= RANGES[0])  # clipped at the old full scale while switching
    after = profile.current.samples[first_up + GLITCH_POINTS + 5]
    assert after == pytest.approx(profiler.schedule.active_current, rel=0.01)
    assert profile.voltage is not None and np.mean(profile.voltage.values) == pytest.approx(
        VDD, abs=1e-4
    )


def test_a_rate_the_profiler_cannot_do_is_refused() -> None:
    profiler = SimulatedProfiler(unit(None), vdd=VDD)
    with pytest.raises(InstrumentError, match=r"300000 S/s is not one this profiler delivers"):
        profiler.capture(0.01, sample_rate=300_000)
    with pytest.raises(InstrumentError, match=r"beyond this profiler \(0 < rate <= 1e\+06"):
        profiler.capture(0.01, sample_rate=2e6)
    with pytest.raises(InstrumentError, match="positive number of seconds"):
        profiler.capture(-1.0, sample_rate=RATE)


def test_a_profiler_that_stops_streaming_keeps_the_samples_so_far() -> None:
    clock = ManualClock()
    profiler = SimulatedProfiler(
        unit(None), vdd=VDD, stall_after=25_000, clock=clock, sleep=clock.sleep
    )
    with pytest.raises(CaptureError, match=r"after 25000 samples: .*stopped streaming") as info:
        profiler.capture(0.1, sample_rate=RATE)
    assert info.value.partial is not None and len(info.value.partial) == 25_000
    assert info.value.role == "profiler"


def test_an_unplugged_profiler_ends_the_capture_in_one_error() -> None:
    profiler = SimulatedProfiler(unit(None), vdd=VDD, unplug_after=30_000)
    chunks = []
    with pytest.raises(InstrumentError, match="unplugged after 30000 samples"):
        for chunk in profiler.stream(0.1, sample_rate=RATE, chunk_points=8192):
            chunks.append(chunk)
    assert sum(len(c) for c in chunks) == 30_000


def test_a_capture_until_a_trigger_ends_with_the_chunk_that_holds_it() -> None:
    profiler = SimulatedProfiler(unit(None), vdd=VDD)
    rise = (profiler.schedule.wake_at + profiler.schedule.latency) * RATE

    def woke(chunk: ProfileChunk) -> bool:
        return bool(np.max(chunk.current) > 1e-3)

    profile = profiler.capture_until(woke, sample_rate=RATE, duration=1.0, chunk_points=4096)
    assert len(profile) == 4096 * (int(rise) // 4096 + 1)  # the chunk with the rise, then stop
    assert np.max(profile.current.values[-4096:]) > 1e-3 > np.max(profile.current.values[:-4096])
