"""Sweep analysis against closed forms: regulation slopes, LDO dropout, hysteretic thresholds.

Cases are drawn from a seeded generator. Noise-free results agree with the closed form to 0.5 %;
with additive noise of 1 % of the feature measured (the output change across a regulation sweep,
the dropout criterion, the response step of a threshold) they agree to 2 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchtest.analysis import (
    AnalysisError,
    dropout_voltage,
    line_regulation,
    load_regulation,
    threshold_crossing,
)
from benchtest.values.sweep import SweepResult

EXACT = 5e-3
NOISY = 2e-2
NOISE = 0.01
CASES = range(8)
Rng = np.random.Generator


def noisy(rng: Rng, clean: np.ndarray, rms: float) -> np.ndarray:
    return clean + rng.normal(0.0, rms, clean.shape)


@pytest.mark.parametrize("noise", [0.0, NOISE])
@pytest.mark.parametrize("case", CASES)
def test_line_regulation_is_the_slope_of_a_linear_sweep(case: int, noise: float) -> None:
    rng = np.random.default_rng(case)
    vin = np.linspace(rng.uniform(2.0, 3.5), rng.uniform(4.5, 6.0), int(rng.integers(100, 400)))
    slope, vout_nominal = 10 ** rng.uniform(-4, -2), rng.uniform(1.2, 3.3)
    clean = vout_nominal + slope * (vin - vin[0])
    vout = noisy(rng, clean, noise * np.ptp(clean))
    tolerance = NOISY if noise else EXACT
    assert line_regulation(vin, vout) == pytest.approx(slope, rel=tolerance)
    percent_per_volt = 100 * slope / np.mean(clean)
    assert line_regulation(vin, vout, percent=True) == pytest.approx(
        percent_per_volt, rel=tolerance
    )


@pytest.mark.parametrize("noise", [0.0, NOISE])
@pytest.mark.parametrize("case", CASES)
def test_load_regulation_from_a_sweep_result_is_the_output_resistance(
    case: int, noise: float
) -> None:
    rng = np.random.default_rng(case)
    iload = np.linspace(0.0, rng.uniform(0.05, 1.0), int(rng.integers(100, 400)))
    resistance = 10 ** rng.uniform(-3, -0.5)
    clean = rng.uniform(1.2, 3.3) - resistance * iload
    sweep = SweepResult(iload, noisy(rng, clean, noise * np.ptp(clean)), "A", "V")
    assert load_regulation(sweep) == pytest.approx(-resistance, rel=NOISY if noise else EXACT)


def ldo_transfer(rng: Rng) -> tuple[float, float, float, float]:
    """Vout = Vnom - k softplus((Vnom + Vdo - Vin) / k): Vin - Vdo in dropout, Vnom above it."""
    return rng.uniform(1.2, 5.0), rng.uniform(0.1, 0.4), rng.uniform(0.01, 0.05), 0.1


@pytest.mark.parametrize("noise", [0.0, NOISE])
@pytest.mark.parametrize("case", CASES)
def test_dropout_of_a_smooth_ldo_transfer_curve(case: int, noise: float) -> None:
    rng = np.random.default_rng(case)
    nominal, v_dropout, knee, drop = ldo_transfer(rng)
    vin = np.arange(nominal - 0.8, nominal + 1.0, rng.uniform(0.002, 0.01))
    clean = nominal - knee * np.logaddexp(0.0, (nominal + v_dropout - vin) / knee)
    vout = noisy(rng, clean, noise * drop)
    # Vout = Vnom - drop where softplus(u) = drop / k, u = ln(exp(drop / k) - 1)
    expected = v_dropout + drop - knee * math.log(math.expm1(drop / knee))
    measured = dropout_voltage(vin, vout, vout_nominal=nominal, drop=drop)
    assert measured == pytest.approx(expected, rel=NOISY if noise else EXACT)


def test_dropout_by_percent_of_nominal_from_a_sweep_result() -> None:
    vin = np.linspace(2.0, 4.5, 251)
    vout = np.minimum(3.3, vin - 0.2)  # ideal: Vout = Vin - 0.2 V below regulation
    sweep = SweepResult(vin, vout, "V", "V")
    # 1 % of 3.3 V below nominal: Vout = 3.267 V at Vin = 3.467 V, Vin - Vout = 0.2 V
    assert dropout_voltage(sweep, drop_percent=1.0) == pytest.approx(0.2, rel=EXACT)


def test_dropout_needs_a_sweep_that_reaches_dropout() -> None:
    vin = np.linspace(3.6, 5.0, 50)
    with pytest.raises(AnalysisError, match="does not reach dropout"):
        dropout_voltage(vin, np.full(50, 3.3))
    with pytest.raises(AnalysisError, match="never in regulation"):
        dropout_voltage(vin, vin - 2.0, vout_nominal=3.3)


def uvlo_sweep(rng: Rng, noise: float) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Vin swept up then down; the output switches on at `on` rising and off at `off` falling."""
    on = rng.uniform(2.0, 3.0)
    off = on - rng.uniform(0.05, 0.3)
    up = np.linspace(1.5, 3.6, int(rng.integers(200, 800)))
    width = rng.uniform(0.001, 0.01)
    high = rng.uniform(1.0, 3.3)
    rise = high * np.exp(-np.logaddexp(0.0, -(up - on) / width))  # logistic, no overflow
    fall = high * np.exp(-np.logaddexp(0.0, -(up[::-1] - off) / width))
    x = np.concatenate((up, up[::-1]))
    return x, noisy(rng, np.concatenate((rise, fall)), noise * high), high, on, off


@pytest.mark.parametrize("noise", [0.0, NOISE])
@pytest.mark.parametrize("case", CASES)
def test_threshold_crossing_with_hysteresis_finds_both_thresholds(case: int, noise: float) -> None:
    rng = np.random.default_rng(case)
    x, y, high, on, off = uvlo_sweep(rng, noise)
    found = threshold_crossing(x, y, level=high / 2, hysteresis=0.2 * high)
    tolerance = NOISY if noise else EXACT
    assert found.rising == pytest.approx(on, rel=tolerance)
    assert found.falling == pytest.approx(off, rel=tolerance)
    assert found.hysteresis == pytest.approx(on - off, rel=10 * tolerance)


def test_threshold_crossing_in_one_direction_of_a_step_response() -> None:
    x = np.linspace(0.0, 5.0, 501)
    y = np.where(x >= 2.5, 1.0, 0.0)  # a comparator: the crossing lies between 2.49 and 2.50
    found = threshold_crossing(SweepResult(x, y, "V", "V"), level=0.5, direction="rising")
    assert found.rising == pytest.approx(2.495)
    assert math.isnan(found.falling)
    with pytest.raises(AnalysisError, match="while the sweep is falling"):
        threshold_crossing(x, y, level=0.5)


def test_chatter_inside_the_hysteresis_band_is_not_a_crossing() -> None:
    x = np.arange(10.0)
    y = np.array([0.0, 0.0, 0.45, 0.55, 0.45, 0.55, 1.0, 1.0, 1.0, 1.0])
    # one crossing, placed by the count of points below the level: 3 of them from x = 1
    assert threshold_crossing(x, y, level=0.5, hysteresis=0.3, direction="rising").rising == 3.5
    without = threshold_crossing(x, y, level=0.5, direction="rising")  # three crossings
    assert without.rising == pytest.approx((2.5 + 4.5) / 2)


def test_sweep_arguments_are_checked() -> None:
    sweep = SweepResult(np.arange(3.0), np.arange(3.0), "V", "V")
    with pytest.raises(TypeError, match="not both"):
        line_regulation(sweep, np.arange(3.0))
    with pytest.raises(TypeError, match="missing"):
        line_regulation(np.arange(3.0))
    with pytest.raises(ValueError, match="1-D"):
        line_regulation(np.arange(3.0), np.arange(4.0))
    with pytest.raises(AnalysisError, match="does not vary"):
        line_regulation(np.full(3, 3.3), np.arange(3.0))
