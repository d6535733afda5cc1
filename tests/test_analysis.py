"""Waveform analysis against closed forms: a first-order step rises 10-90 % in tau*ln 9."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchtest import Waveform
from benchtest.analysis import AnalysisError, rise_time, top_level


def first_order_step(tau: float, n: int, dt: float, t_step: float, noise: float = 0.0) -> Waveform:
    t = np.arange(n) * dt
    v = np.where(t > t_step, 3.3 * (1 - np.exp(-(t - t_step) / tau)), 0.0)
    v = v + np.random.default_rng(1).normal(0.0, noise, n)
    return Waveform(v, dt=dt)


@pytest.mark.parametrize(("tau", "n"), [(80e-6, 1200), (10e-6, 5000), (1e-3, 20_000)])
def test_rise_time_of_first_order_step(tau: float, n: int) -> None:
    wf = first_order_step(tau, n, dt=20 * tau / n, t_step=2 * tau)
    assert rise_time(wf) == pytest.approx(tau * math.log(9), rel=5e-3)
    assert top_level(wf) == pytest.approx(3.3, rel=1e-3)


def test_rise_time_with_noise() -> None:
    wf = first_order_step(80e-6, 10_000, dt=0.16e-6, t_step=100e-6, noise=3.3e-3 * 0.1)
    assert rise_time(wf) == pytest.approx(80e-6 * math.log(9), rel=0.02)


def test_rise_time_on_integer_codes_uses_scale() -> None:
    wf = first_order_step(80e-6, 1200, dt=1e-6, t_step=100e-6)
    codes = np.round(wf.values / 0.033).astype(np.uint8)
    coded = Waveform(codes, dt=1e-6, scale=0.033, offset=0.0)
    assert rise_time(coded) == pytest.approx(80e-6 * math.log(9), rel=0.05)


def test_flat_signal_has_no_rising_edge() -> None:
    with pytest.raises(AnalysisError, match="no rising edge"):
        rise_time(Waveform(np.full(100, 1.0), dt=1e-6, channel="CH1"))


def test_bad_reference_levels() -> None:
    with pytest.raises(ValueError, match="reference levels"):
        rise_time(first_order_step(1e-5, 100, 1e-6, 1e-5), low=0.9, high=0.1)
