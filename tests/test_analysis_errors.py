"""Waveform analysis refuses signals without the feature asked for, in words that say what is
missing, and accepts every documented input form."""

from __future__ import annotations

import math

import numpy as np
import pytest

import benchtest.analysis
from benchtest import Waveform
from benchtest.analysis import (
    AnalysisError,
    duty_cycle,
    fall_time,
    mean,
    peak_to_peak,
    period,
    pulse_width,
    rise_time,
    rms,
    settling_time,
    state_levels,
    top_level,
    transitions,
)

DT = 1e-6


def rc_step(n: int = 2000, tau: float = 50e-6, t_step: float = 200e-6) -> Waveform:
    t = np.arange(n) * DT
    v = np.where(t > t_step, 3.3 * (1 - np.exp(-(t - t_step) / tau)), 0.0)
    return Waveform(v, dt=DT, channel="CH1")


def square(n: int, period_samples: int, high: int, start: int = 0) -> Waveform:
    """0/1 V square wave with two-sample linear edges, `high` samples at 1 V per period."""
    phase = (np.arange(n) + start) % period_samples
    knots = [0, 2, 2 + high, 4 + high, period_samples]
    return Waveform(np.interp(phase, knots, [0, 1, 1, 0, 0]), dt=DT, channel="CH2")


def test_public_names_are_pinned() -> None:
    assert set(benchtest.analysis.__all__) == {
        "AnalysisError",
        "EnergyProfile",
        "PowerEvent",
        "Segmentation",
        "Thresholds",
        "Transition",
        "average_current",
        "base_level",
        "battery_life",
        "charge",
        "dropout_voltage",
        "duty_cycle",
        "energy",
        "energy_profile",
        "energy_profile_chunked",
        "fall_time",
        "find_events",
        "frequency",
        "line_regulation",
        "load_regulation",
        "mean",
        "overshoot",
        "peak_to_peak",
        "period",
        "pulse_width",
        "rise_time",
        "rms",
        "segment_states",
        "settling_time",
        "state_currents",
        "state_levels",
        "threshold_crossing",
        "top_level",
        "transitions",
        "undershoot",
        "wakeup_time",
    }
    assert issubclass(AnalysisError, benchtest.BenchtestError)


def test_flat_signal_has_no_rising_edge() -> None:
    flat = Waveform(np.full(100, 1.0), dt=1e-6, channel="CH1")
    with pytest.raises(AnalysisError, match=r"no rising edge .* on CH1 \(the signal is flat at 1"):
        rise_time(flat)
    assert state_levels(flat) == (1.0, 1.0)
    assert top_level(flat) == 1.0


def test_bad_reference_levels() -> None:
    with pytest.raises(ValueError, match="reference levels"):
        rise_time(rc_step(), reference=(90.0, 10.0))


def test_one_step_has_no_falling_edge_and_no_period() -> None:
    step = rc_step()
    with pytest.raises(
        AnalysisError, match=r"^no falling edge between 10 % and 90 % of 0 V\.\.3\.3 V on CH1$"
    ):
        fall_time(step)
    for measure in (period, duty_cycle, lambda wf: mean(wf, over="periods")):
        with pytest.raises(AnalysisError, match=r"not enough periods on CH1: .* found 1 rising"):
            measure(step)
    with pytest.raises(AnalysisError, match="no complete positive pulse on CH1"):
        pulse_width(step)
    assert mean(step) == pytest.approx(np.mean(step.values))  # not periodic: the record
    with pytest.raises(AnalysisError, match=r"rising edge 1 asked for, but there are only 1"):
        rise_time(step, transition=1)


def test_a_single_pulse_has_a_width_but_no_period() -> None:
    pulse = square(1000, 1000, high=300, start=-200)  # rises at 200, falls at 502
    assert pulse_width(pulse) == pytest.approx(302 * DT)
    with pytest.raises(AnalysisError, match="not enough periods"):
        period(pulse)


def test_noise_alone_has_no_edges() -> None:
    noise = Waveform(np.random.default_rng(0).normal(0.0, 0.1, 10_000), dt=DT, channel="CH3")
    with pytest.raises(AnalysisError, match=r"no rising edge .* within the noise"):
        rise_time(noise)
    with pytest.raises(AnalysisError, match=r"no crossings .* within the noise"):
        period(noise)
    assert rms(noise) == pytest.approx(0.1, rel=0.02)  # not periodic: over the record


def test_a_record_that_ends_while_ringing_does_not_settle() -> None:
    t = np.arange(2000) * DT
    ringing = np.where(t > 100e-6, 1 - np.exp(-(t - 100e-6) / 10e-6) + 0.05 * np.sin(3e5 * t), 0)
    with pytest.raises(
        AnalysisError, match=r"does not settle within ±2 % .* before the end of the record"
    ):
        settling_time(Waveform(ringing, dt=DT, channel="CH1"))
    with pytest.raises(ValueError, match="tolerance"):
        settling_time(rc_step(), tolerance=60.0)


def test_a_record_that_starts_inside_an_edge_does_not_count_it() -> None:
    wf = square(1000, 200, high=100, start=1)  # starts one sample into a rising edge
    edges = transitions(wf)
    assert not edges[0].rising
    assert edges[0].middle == pytest.approx(102 * DT)  # phase 103: half-way down


def test_explicit_and_minmax_levels() -> None:
    step = rc_step()
    tau_ln9 = 50e-6 * math.log(9)
    assert rise_time(step, levels=(0.0, 3.3)) == pytest.approx(tau_ln9, rel=1e-3)
    assert rise_time(step, levels="minmax") == pytest.approx(tau_ln9, rel=1e-3)
    assert state_levels(step, "minmax") == (0.0, pytest.approx(3.3, rel=1e-4))
    with pytest.raises(ValueError, match="low < high"):
        rise_time(step, levels=(3.3, 0.0))
    with pytest.raises(ValueError, match="unknown state-level method"):
        state_levels(step, "median")  # type: ignore[arg-type]


def test_time_and_value_arrays_work_like_a_waveform() -> None:
    step = rc_step()
    assert rise_time((step.time, step.values)) == pytest.approx(rise_time(step))
    with pytest.raises(ValueError, match="equal steps"):
        rise_time((step.time**2, step.values))
    with pytest.raises(ValueError, match="same length"):
        rise_time((step.time[:-1], step.values))
    broken = step.values.copy()
    broken[5] = np.nan
    with pytest.raises(AnalysisError, match="NaN"):
        rise_time((step.time, broken))


def test_peak_to_peak_of_the_samples_is_max_minus_min() -> None:
    noisy = Waveform(np.random.default_rng(0).normal(0.0, 0.1, 1000), dt=DT)
    assert peak_to_peak(noisy, method="samples") == np.ptp(noisy.values)
