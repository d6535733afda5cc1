"""Measurements on sweeps: line and load regulation, dropout voltage, thresholds with hysteresis.

Each function takes a `SweepResult` (sourced levels and readings) or two arrays. Regulation is the
least-squares slope of the output against the swept quantity, which equals the datasheet's
end-point ratio for a linear response and averages the reading noise. Dropout and thresholds are
crossings of a level, interpolated between the sweep points around them.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from benchtest.analysis.estimators import crossings, hysteresis_transitions
from benchtest.analysis.trace import AnalysisError, FloatArray
from benchtest.values.sweep import SweepResult

Sweep: TypeAlias = SweepResult | npt.ArrayLike
Direction: TypeAlias = Literal["rising", "falling", "both"]


class Thresholds(NamedTuple):
    """Swept-quantity values at which the response crosses its level while the sweep goes up
    (`rising`) and down (`falling`); NaN for a direction that was not asked for."""

    rising: float
    falling: float

    @property
    def hysteresis(self) -> float:
        return self.rising - self.falling


def line_regulation(
    vin: Sweep, vout: npt.ArrayLike | None = None, *, percent: bool = False
) -> float:
    """dVout/dVin in V/V; with `percent`, in %/V of the mean output voltage."""
    return _regulation(*sweep_arrays(vin, vout), percent)


def load_regulation(
    iload: Sweep, vout: npt.ArrayLike | None = None, *, percent: bool = False
) -> float:
    """dVout/dIload in V/A (ohm; negative when the output droops); with `percent`, in %/A of the
    mean output voltage."""
    return _regulation(*sweep_arrays(iload, vout), percent)


def dropout_voltage(
    vin: Sweep,
    vout: npt.ArrayLike | None = None,
    *,
    vout_nominal: float | None = None,
    drop: float = 0.1,
    drop_percent: float | None = None,
) -> float:
    """Vin - Vout at the input voltage where the output has fallen `drop` volts (or `drop_percent`
    % of nominal) below its nominal value (default: the output at the highest Vin), in V.

    Vin is interpolated by a least-squares line through the two sweep points on either side of
    the crossing (exact for a straight segment, and it averages reading noise).
    """
    x, y = sweep_arrays(vin, vout)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    nominal = float(y[-1]) if vout_nominal is None else vout_nominal
    fall = drop if drop_percent is None else drop_percent / 100 * nominal
    threshold = nominal - fall
    below = np.flatnonzero(y < threshold)
    if not below.size:
        raise AnalysisError(
            f"the output never falls {fall:.4g} V below {nominal:.4g} V: the sweep down to "
            f"Vin = {x[0]:.4g} V does not reach dropout"
        )
    last = int(below[-1])
    if last == len(x) - 1:
        raise AnalysisError(
            f"the output is {y[-1]:.4g} V at the highest Vin ({x[-1]:.4g} V), already more than "
            f"{fall:.4g} V below {nominal:.4g} V: never in regulation"
        )
    near = slice(max(last - 1, 0), last + 3)  # the two points either side of the crossing
    slope, intercept = np.polyfit(x[near], y[near], 1)
    return float((threshold - intercept) / slope - threshold)


def threshold_crossing(
    x: Sweep,
    y: npt.ArrayLike | None = None,
    *,
    level: float,
    hysteresis: float = 0.0,
    direction: Direction = "both",
) -> Thresholds:
    """Where the response `y` crosses `level`, as x values, while x rises and while it falls.

    A crossing must take `y` through the band `level` +- `hysteresis`/2, so chatter around the
    level makes one crossing, placed by the count of points still on the old side (as for
    waveform edges) and interpolated linearly between points. Repeated crossings in one sweep
    direction are averaged. Typical use: an undervoltage lockout swept up then down.
    """
    xs, ys = sweep_arrays(x, y)
    if hysteresis < 0:
        raise ValueError(f"hysteresis must be >= 0, got {hysteresis!r}")
    start, end, up = hysteresis_transitions(ys, level - hysteresis / 2, level + hysteresis / 2)
    index = crossings(ys, level, up, start, end + 1) if len(start) else np.zeros(0)
    before = np.minimum(index.astype(np.intp), len(xs) - 2)
    at = xs[before] + (index - before) * (xs[before + 1] - xs[before])
    sweeping_up = xs[before + 1] > xs[before]
    wanted = ("rising", "falling") if direction == "both" else (direction,)
    result = []
    for name, found in (("rising", at[sweeping_up]), ("falling", at[~sweeping_up])):
        if name in wanted and not found.size:
            raise AnalysisError(
                f"the response never crosses {level:.4g} while the sweep is {name} "
                f"({len(at)} crossings in the other direction)"
            )
        result.append(float(np.mean(found)) if name in wanted else float("nan"))
    return Thresholds(*result)


def sweep_arrays(x: Sweep, y: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    """(swept, response) arrays from a `SweepResult` or from two equally long 1-D arrays."""
    if isinstance(x, SweepResult):
        if y is not None:
            raise TypeError("pass either a SweepResult or two arrays, not both")
        xs, ys = x.source, x.measured
    elif y is None:
        raise TypeError("the response array is missing (or pass a SweepResult)")
    else:
        xs, ys = np.asarray(x), np.asarray(y)
    xs, ys = xs.astype(np.float64), ys.astype(np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) < 2:
        raise ValueError(f"sweep arrays {xs.shape} and {ys.shape} must be 1-D, equal, >= 2 points")
    return xs, ys


def _regulation(x: FloatArray, y: FloatArray, percent: bool) -> float:
    if np.ptp(x) == 0:
        raise AnalysisError(f"the sweep does not vary its source (all points at {x[0]:.4g})")
    slope = float(np.polyfit(x, y, 1)[0])
    return slope / float(np.mean(y)) * 100 if percent else slope
