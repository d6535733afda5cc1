"""Energy-per-operation analysis against closed forms, with and without noise.

Traces are built as an integrating profiler delivers them: each sample is the mean current over
its interval, so the charge of a rectangular pulse (A·w) and of an exponential pulse (A·tau) is
exact in the samples and any error comes from the analysis. Noise is white, from fixed seeds.
"""

from __future__ import annotations

import math
from typing import SupportsFloat

import numpy as np
import pytest

from benchtest import Waveform
from benchtest.analysis import (
    AnalysisError,
    average_current,
    battery_life,
    charge,
    energy,
    energy_profile,
    find_events,
    segment_states,
    state_currents,
    wakeup_time,
)

DT = 1e-6  # s: 1 MS/s
SLEEP = 2e-9  # A
ACTIVE = 3e-3  # A
BURST = 12e-3  # A
PERIOD = 10e-3  # s between wake-ups
WIDTH = 1e-3  # s of each rectangular wake-up
THRESHOLDS = (1e-6, 6e-3)  # sleep | active | burst


def exact_pulse(n: int, start: int, width: int, level: float) -> np.ndarray:
    wave = np.zeros(n)
    wave[start : start + width] = level
    return wave


def exponential(n: int, start: int, amplitude: float, tau: float) -> np.ndarray:
    """A·exp(-(t - ts)/tau) for t >= ts, averaged over each sample interval."""
    k = np.arange(n - start, dtype=np.float64)
    edges = np.exp(-k * DT / tau) - np.exp(-(k + 1) * DT / tau)
    wave = np.zeros(n)
    wave[start:] = amplitude * tau / DT * edges
    return wave


def trace(values: np.ndarray, noise: float = 0.0, seed: int = 0) -> Waveform:
    rng = np.random.default_rng(seed)
    return Waveform(values + rng.normal(0.0, noise, len(values)) if noise else values, DT, unit="A")


def rectangular_train(periods: int = 5, noise: float = 0.0) -> Waveform:
    n = round(periods * PERIOD / DT)
    values = np.full(n, SLEEP)
    for k in range(periods):
        start = round((k + 0.5) * PERIOD / DT)
        values += exact_pulse(n, start, round(WIDTH / DT), ACTIVE - SLEEP)
    return trace(values, noise)


@pytest.mark.parametrize("noise", [0.0, 0.2e-9])
def test_rectangular_wakeups_give_state_currents_charge_and_duty_cycle(noise: float) -> None:
    wf = rectangular_train(noise=noise)
    profile = energy_profile(wf, states=("sleep", "active"), thresholds=(1e-6,), voltage=3.0)
    assert profile.state_currents["sleep"] == pytest.approx(SLEEP, rel=0.01)
    assert profile.state_currents["active"] == pytest.approx(ACTIVE, rel=1e-6)
    assert len(profile.events) == 5  # each pulse lies between two sleep segments
    for event in profile.events:
        assert event.charge == pytest.approx((ACTIVE - SLEEP) * WIDTH, rel=1e-5)
        assert event.energy == pytest.approx(3.0 * event.charge, rel=1e-12)
        assert event.duration == pytest.approx(WIDTH)
        assert event.states == ("active",)
    assert profile.duty_cycle["active"] == pytest.approx(WIDTH / PERIOD)
    assert [p.charge for p in profile.periods] == pytest.approx(
        [SLEEP * PERIOD + (ACTIVE - SLEEP) * WIDTH] * 4, rel=1e-5
    )
    assert all(p.duration == pytest.approx(PERIOD) for p in profile.periods)


@pytest.mark.parametrize(("tau", "noise"), [(20e-6, 0.0), (50e-6, 0.0), (50e-6, 1e-9)])
def test_exponential_pulse_charge_is_amplitude_times_tau(tau: float, noise: float) -> None:
    n = 40_000
    values = np.full(n, SLEEP)
    starts = (5_000, 15_000, 25_000)
    for start in starts:
        values += exponential(n, start, 5e-3, tau)
        values[start + 2000 :] -= exponential(n, start, 5e-3, tau)[start + 2000 :]  # cut tail
    seg = segment_states(trace(values, noise), states=("sleep", "active"), thresholds=(1e-6,))
    events = find_events(trace(values, noise), seg)
    assert len(events) == 3
    expected = 5e-3 * tau * (1 - math.exp(-2000 * DT / tau))
    for event in events:
        # a threshold at 1 uA cuts 1 uA·tau of the 5 mA·tau tail; the widened window takes it
        assert event.charge == pytest.approx(expected, rel=2e-4)


def test_three_states_with_automatic_thresholds_match_the_explicit_ones() -> None:
    n = 60_000
    values = np.full(n, SLEEP)
    for start in (10_000, 30_000, 50_000):
        values[start : start + 2000] = ACTIVE
        values[start + 2000 : start + 2500] = BURST
        values[start + 2500 : start + 3000] = ACTIVE
    wf = trace(values, noise=0.1e-9, seed=3)
    explicit = segment_states(wf, thresholds=THRESHOLDS)
    automatic = segment_states(wf)
    assert [s.state for s in automatic.segments] == [s.state for s in explicit.segments]
    assert explicit.states == ("sleep", "active", "burst")
    assert 1e-8 < automatic.thresholds[0] < ACTIVE and ACTIVE < automatic.thresholds[1] < BURST
    currents = state_currents(wf, explicit)
    assert currents == pytest.approx({"sleep": SLEEP, "active": ACTIVE, "burst": BURST}, rel=0.02)
    events = find_events(wf, explicit, voltage=np.full(n, 2.0))
    assert [e.states for e in events] == [("active", "burst", "active")] * 3
    above = ((ACTIVE - SLEEP) * 2500 + (BURST - SLEEP) * 500) * DT
    assert [e.charge for e in events] == pytest.approx([above] * 3, rel=1e-4)
    assert [e.energy for e in events] == pytest.approx([2 * above] * 3, rel=1e-4)
    assert [e.peak_current for e in events] == pytest.approx([BURST] * 3, rel=0.01)
    duty = explicit.duty_cycle()
    assert duty["burst"] == pytest.approx(3 * 500 / n) and sum(duty.values()) == pytest.approx(1)


def test_automatic_thresholds_use_fewer_states_when_the_trace_has_fewer_levels() -> None:
    seg = segment_states(rectangular_train(periods=3, noise=0.1e-9))
    assert seg.states == ("sleep", "active")
    assert len(seg.thresholds) == 1


def test_range_switch_glitches_are_absorbed_by_the_minimum_duration() -> None:
    wf_values = rectangular_train(periods=3).values.copy()
    glitches = np.arange(2_000, 28_000, 3_000)
    wf_values[glitches] = 50e-6  # one-sample spikes in sleep, as a range change makes them
    wf = trace(wf_values)
    noisy = segment_states(wf, states=("sleep", "active"), thresholds=(1e-6,))
    clean = segment_states(wf, states=("sleep", "active"), thresholds=(1e-6,), min_duration=5e-6)
    assert len(noisy.segments) > len(clean.segments) == 7
    assert [s.state for s in clean.segments] == ["sleep", "active"] * 3 + ["sleep"]
    settled = state_currents(wf, clean, settle=20e-6)["sleep"]
    kept = [wf_values[s.start + 20 : s.stop - 20] for s in clean.segments if s.state == "sleep"]
    assert settled == pytest.approx(np.mean(np.concatenate(kept)), rel=1e-12)
    assert settled > SLEEP  # a glitch inside a sleep segment is drawn current: it counts


def test_wakeup_time_is_latency_plus_tau_ln2_for_a_first_order_rise() -> None:
    n, edge, latency, tau = 2000, 300, 5e-6, 0.3e-6
    t = np.arange(n) * DT * 0.01  # 10 ns sampling
    values = np.full(n, SLEEP)
    rising = t >= edge * DT * 0.01 + latency
    values[rising] = SLEEP + (ACTIVE - SLEEP) * (
        1 - np.exp(-(t[rising] - edge * DT * 0.01 - latency) / tau)
    )
    measured = wakeup_time((t, values), edge * DT * 0.01, low=SLEEP, high=ACTIVE)
    assert measured == pytest.approx(latency + tau * math.log(2), rel=2e-3)
    with pytest.raises(AnalysisError, match="never reaches"):
        wakeup_time((t, values), edge * DT * 0.01, low=SLEEP, high=10 * ACTIVE)


def test_battery_life_of_a_duty_profile_matches_the_closed_form() -> None:
    capacity = 225 * 3.6  # CR2032: 225 mAh
    currents = {"sleep": 1e-6, "active": 1e-3}
    duty: dict[str, SupportsFloat] = {"sleep": np.float64(0.99), "active": np.float32(0.01)}
    mean = average_current(currents, duty, event_charge=2e-6, event_rate=0.5)
    assert mean == pytest.approx(0.99e-6 + 10e-6 + 1e-6, rel=1e-6)
    life = battery_life(np.float64(capacity), currents, duty, event_charge=2e-6, event_rate=0.5)
    assert life == pytest.approx(capacity / mean)
    assert battery_life(capacity, currents, duty, usable=0.8) == pytest.approx(
        0.8 * capacity / (0.99e-6 + 10e-6), rel=1e-6
    )


def test_charge_and_energy_of_a_window() -> None:
    wf = rectangular_train(periods=2)
    assert charge(wf) == pytest.approx(2 * PERIOD * SLEEP + 2 * (ACTIVE - SLEEP) * WIDTH)
    window = (0.5 * PERIOD, 0.5 * PERIOD + WIDTH)
    assert charge(wf, start=window[0], stop=window[1]) == pytest.approx(ACTIVE * WIDTH)
    volts = Waveform(np.full(len(wf), 1.8), DT, unit="V")
    assert energy(wf, volts, start=window[0], stop=window[1]) == pytest.approx(1.8 * ACTIVE * WIDTH)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda wf: segment_states(wf, thresholds=(1e-3, 1e-6)), "increasing"),
        (lambda wf: segment_states(wf, thresholds=(1e-6,)), "3 states need 2 thresholds"),
        (lambda wf: segment_states(wf, states=("a", "a")), "distinct"),
        (lambda wf: charge(wf, start=0.01, stop=0.005), "empty window"),
        (lambda wf: energy(wf, np.ones(10)), "voltage trace has"),
        (lambda wf: energy(wf, math.nan), "finite"),
        (
            lambda wf: state_currents(wf, segment_states(trace(np.ones(100)), states=("s",))),
            "segmentation",
        ),
    ],
)
def test_bad_input_gets_one_clear_error(call: object, message: str) -> None:
    wf = rectangular_train(periods=1)
    with pytest.raises(AnalysisError, match=message):
        call(wf)  # type: ignore[operator]


def test_bad_duty_profiles_are_refused_with_the_reason() -> None:
    currents = {"sleep": 1e-6, "active": 1e-3}
    with pytest.raises(AnalysisError, match=r"add up to 0\.9"):
        average_current(currents, {"sleep": 0.8, "active": 0.1})
    with pytest.raises(AnalysisError, match="no current for state"):
        average_current(currents, {"sleep": 0.5, "radio": 0.5})
    with pytest.raises(AnalysisError, match="capacity"):
        battery_life(0.0, currents, {"sleep": 1.0})
    with pytest.raises(AnalysisError, match="no 'burst' segment"):
        from benchtest.analysis.energy import state_current

        wf = rectangular_train(periods=1)
        state_current(wf, segment_states(wf, thresholds=THRESHOLDS), "burst")
