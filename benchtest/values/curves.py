"""Sweeps and families of curves as measurements: point-wise limits and member checks.

A sweep (y against x) is judged point by point against one set of limits; its outcome is the
outcome of its worst point, the one furthest outside (or, when all pass, closest to) a limit.
That point becomes the sweep's scalar row in the measurement tables, so tables stay scalar.
A family of curves is a sweep of waveforms: members must share length, dt, t0 and unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.values.errors import MeasurementError
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform


def worst_index(y: npt.NDArray[np.float64], limits: Limits) -> int:
    """Index of the point furthest outside (or least inside) `limits`; NaN points are worst.

    Without limits, the largest value.
    """
    if limits.is_open:
        return int(np.nanargmax(y)) if np.isfinite(y).any() else 0
    excess = np.full(y.shape, -np.inf)
    if limits.low is not None:
        excess = np.maximum(excess, limits.low - y)
    if limits.high is not None:
        excess = np.maximum(excess, y - limits.high)
    return int(np.argmax(np.where(np.isnan(y), np.inf, excess)))


@dataclass(frozen=True)
class SweepMeasurement(Measurement):
    """The worst point of a sweep, as a scalar measurement that also says where it was."""

    x: float = float("nan")
    x_name: str = ""
    x_unit: str = ""

    def explain(self) -> str:
        u = f" {self.x_unit}" if self.x_unit else ""
        return f"sweep {super().explain()} (worst point, at {self.x_name} = {self.x:.6g}{u})"


def judge_sweep(
    name: str,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    limits: Limits,
    axis: tuple[str, str],
    description: str = "",
) -> SweepMeasurement:
    """The worst point of `y` against `limits`; `axis` is the x name and unit."""
    k = worst_index(y, limits)
    value = float(y[k]) if len(y) else float("nan")
    return SweepMeasurement(
        name=name,
        value=value,
        unit=limits.unit,
        limits=limits,
        outcome=limits.check(value),
        description=description,
        x=float(x[k]) if len(x) else float("nan"),
        x_name=axis[0],
        x_unit=axis[1],
    )


def as_points(values: Any, what: str) -> npt.NDArray[np.float64]:
    """`values` as a 1-D float64 array, or a MeasurementError naming `what`."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MeasurementError(f"{what} must be numbers") from None
    if array.ndim != 1:
        raise MeasurementError(f"{what} must be 1-D, got shape {array.shape}")
    return array


def check_family(waveforms: Sequence[Waveform], axis_values: Any, where: str) -> None:
    """Refuse a family whose members cannot share one time axis and one unit."""
    if not waveforms:
        raise MeasurementError(f"{where}: a waveform family needs at least one waveform")
    if any(not isinstance(w, Waveform) for w in waveforms):
        raise MeasurementError(f"{where}: every member of a waveform family must be a Waveform")
    count = len(as_points(axis_values, f"{where}: axis values"))
    if count != len(waveforms):
        raise MeasurementError(f"{where}: {len(waveforms)} waveforms but {count} axis values")
    first = waveforms[0]
    for k, wf in enumerate(waveforms[1:], start=1):
        if (len(wf), wf.dt, wf.t0, wf.unit) != (len(first), first.dt, first.t0, first.unit):
            raise MeasurementError(
                f"{where}: member {k} has {len(wf)} points, dt={wf.dt:g} s, t0={wf.t0:g} s, "
                f"unit {wf.unit!r}; member 0 has {len(first)} points, dt={first.dt:g} s, "
                f"t0={first.t0:g} s, unit {first.unit!r}: members must share all four"
            )
