"""Datasheet statistics of one parameter: min, typ (median), max, mean, sigma, Cp, Cpk, yield.

Sigma is the sample standard deviation (numpy `ddof=1`, Bessel's correction), the estimate of
the population's spread from the units at hand. Cp = (USL - LSL) / (6 sigma) needs both limits;
Cpk = min(USL - mean, mean - LSL) / (3 sigma) over the limits there are (a one-sided limit gives
Cpu or Cpl alone). Both are NaN when they are not defined: no limit, fewer than two values, or
no spread at all. Yield counts the values inside the limits, limits included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: The usual Cpk a process must reach (4 sigma to the nearest limit); automotive asks 1.67.
DEFAULT_CPK_MIN = 1.33


@dataclass(frozen=True)
class Spread:
    """The statistics of the values of one parameter under one condition."""

    count: int
    minimum: float
    typical: float  # the median
    maximum: float
    mean: float
    sigma: float  # sample standard deviation, ddof=1; NaN below two values
    low: float  # lower specification limit (LSL); NaN: none
    high: float  # upper specification limit (USL); NaN: none
    cp: float  # NaN unless both limits are there and sigma > 0
    cpk: float  # NaN without a limit or with sigma 0 or NaN
    passed: int  # values inside the limits

    @property
    def yield_fraction(self) -> float:
        """Share of the values inside the limits (NaN without values)."""
        return self.passed / self.count if self.count else math.nan

    def below(self, cpk_min: float) -> bool:
        """Whether Cpk is known and below `cpk_min`."""
        return not math.isnan(self.cpk) and self.cpk < cpk_min


def _limit(value: Any) -> float:
    """A limit as a float; None and NaN both mean "no limit" (NaN)."""
    if value is None:
        return math.nan
    return float(value)


def capability(mean: float, sigma: float, low: float, high: float) -> tuple[float, float]:
    """(Cp, Cpk) of a process with `mean` and `sigma` against `low` and `high` (NaN: none)."""
    if not (sigma > 0 and math.isfinite(sigma)):
        return math.nan, math.nan
    sides = [d for d in (high - mean, mean - low) if not math.isnan(d)]
    cpk = min(sides) / (3 * sigma) if sides else math.nan
    cp = (high - low) / (6 * sigma) if not (math.isnan(low) or math.isnan(high)) else math.nan
    return cp, cpk


def spread(values: npt.ArrayLike, low: Any = None, high: Any = None) -> Spread:
    """The statistics of the finite `values` (NaN values, a failed reading, are not counted)
    against the limits `low` and `high` (None or NaN: no such limit)."""
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    lsl, usl = _limit(low), _limit(high)
    if not len(data):
        nan = math.nan
        return Spread(0, nan, nan, nan, nan, nan, lsl, usl, nan, nan, 0)
    mean = float(np.mean(data))
    sigma = float(np.std(data, ddof=1)) if len(data) > 1 else math.nan
    cp, cpk = capability(mean, sigma, lsl, usl)
    inside = np.ones(len(data), dtype=bool)
    if not math.isnan(lsl):
        inside &= data >= lsl
    if not math.isnan(usl):
        inside &= data <= usl
    return Spread(
        count=len(data),
        minimum=float(np.min(data)),
        typical=float(np.median(data)),
        maximum=float(np.max(data)),
        mean=mean,
        sigma=sigma,
        low=lsl,
        high=usl,
        cp=cp,
        cpk=cpk,
        passed=int(np.count_nonzero(inside)),
    )


__all__ = ["DEFAULT_CPK_MIN", "Spread", "capability", "spread"]
