"""The step response of a second-order system, for nets that overshoot (an LDO's start-up).

An under-damped step is described by its fractional overshoot, which gives the damping ratio,
and by the same time constant a first-order step would have: the natural frequency is chosen so
that both have the same 10-90 % rise time (tau * ln 9). Decay factors are vectorised; the first
crossing of a level is found by bisection before the first peak, where the step is monotonic.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
LN9 = math.log(9.0)


def damping_ratio(overshoot: float) -> float:
    """The damping ratio of a step with fractional `overshoot` (0: critically damped, 1.0)."""
    if overshoot <= 0.0:
        return 1.0
    log = math.log(min(overshoot, 0.999))
    return -log / math.sqrt(math.pi**2 + log**2)


def natural_frequency(tau: float, zeta: float) -> float:
    """rad/s of an under-damped step whose 10-90 % rise time equals tau * ln 9."""
    return _rise_units(zeta) / (tau * LN9)


def decay(x: FloatArray, zeta: FloatArray, wn: FloatArray) -> FloatArray:
    """The part of the step still to go at time `x` after its start (1 at 0, 0 when settled)."""
    z = np.minimum(zeta, 0.999999)
    wd = wn * np.sqrt(1.0 - z * z)
    ringing = np.cos(wd * x) + z / np.sqrt(1.0 - z * z) * np.sin(wd * x)
    return np.asarray(np.exp(-z * wn * x) * ringing, dtype=np.float64)


def crossing(fraction: float, zeta: float, wn: float) -> float | None:
    """Time after the start at which the step first reaches `fraction` of its swing."""
    peak = math.pi / (wn * math.sqrt(1.0 - zeta * zeta))
    if not 0.0 < fraction <= 1.0 - _decay(peak, zeta, wn):
        return None
    low, high = 0.0, peak
    for _ in range(60):
        middle = 0.5 * (low + high)
        if 1.0 - _decay(middle, zeta, wn) < fraction:
            low = middle
        else:
            high = middle
    return high


def _decay(x: float, zeta: float, wn: float) -> float:
    return float(decay(np.array([x]), np.array([zeta]), np.array([wn]))[0])


@lru_cache(maxsize=64)
def _rise_units(zeta: float) -> float:
    """10-90 % rise time of the step with natural frequency 1 rad/s."""
    ten = crossing_unit(0.1, zeta)
    ninety = crossing_unit(0.9, zeta)
    return ninety - ten


def crossing_unit(fraction: float, zeta: float) -> float:
    found = crossing(fraction, zeta, 1.0)
    assert found is not None
    return found
