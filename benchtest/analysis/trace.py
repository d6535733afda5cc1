"""The signal every waveform measurement reads: a uniformly sampled `Trace`, and the one error.

Functions accept a `Waveform` (integer codes with scale and offset, or physical values) or a
`(time, values)` pair of arrays. Both become a `Trace`: float64 values, the sampling interval, the
raw codes when there are any (the histogram of IEEE Std 181-2011, 5.2.1, then has one bin per
code), and the name of the source for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from benchtest.values.errors import BenchtestError
from benchtest.values.waveform import Waveform

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Signal: TypeAlias = Waveform | tuple[npt.ArrayLike, npt.ArrayLike]

UNIFORM_TOLERANCE = 1e-6  # relative deviation of a time step from the mean step


class AnalysisError(BenchtestError):
    """The signal has no such feature: no edge, a flat signal, too few periods, no crossing."""


@dataclass(frozen=True)
class Trace:
    """Samples in physical units with their timing; `codes` keeps integer samples for histograms."""

    values: FloatArray
    t0: float
    dt: float
    unit: str
    source: str
    codes: npt.NDArray[np.integer[Any]] | None = None
    scale: float = 1.0
    offset: float = 0.0

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def time(self, index: float) -> float:
        """Seconds at a (fractional) sample index."""
        return self.t0 + index * self.dt

    def quantity(self, value: float) -> str:
        """A value with its unit, as messages show it."""
        return f"{value:.4g} {self.unit}".rstrip()

    def span(self, low: float, high: float) -> str:
        """'0 V..3.3 V on CH1': two levels and where they were measured."""
        return f"{self.quantity(low)}..{self.quantity(high)} on {self.source}"


def as_trace(signal: Signal) -> Trace:
    """The `Trace` of a `Waveform` or of a `(time, values)` pair; refuses unusable input."""
    trace = _from_waveform(signal) if isinstance(signal, Waveform) else _from_arrays(*signal)
    if len(trace) < 3:
        raise AnalysisError(f"{trace.source} has {len(trace)} samples; at least 3 are needed")
    if trace.codes is None and not np.isfinite(trace.values).all():
        raise AnalysisError(f"{trace.source} has NaN or infinite samples")
    return trace


def _from_waveform(waveform: Waveform) -> Trace:
    integer = np.issubdtype(waveform.samples.dtype, np.integer)
    return Trace(
        values=waveform.values,
        t0=waveform.t0,
        dt=waveform.dt,
        unit=waveform.unit,
        source=waveform.channel or "the waveform",
        codes=waveform.samples if integer else None,
        scale=waveform.scale,
        offset=waveform.offset,
    )


def _from_arrays(time: npt.ArrayLike, values: npt.ArrayLike) -> Trace:
    t = np.asarray(time, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape:
        raise ValueError(f"time {t.shape} and values {v.shape} must be 1-D of the same length")
    if len(t) < 2:
        return Trace(v, 0.0, 1.0, "", "the signal")
    dt = float(t[-1] - t[0]) / (len(t) - 1)
    if not dt > 0 or np.max(np.abs(np.diff(t) - dt)) > UNIFORM_TOLERANCE * dt:
        raise ValueError("time must increase in equal steps (a uniformly sampled record)")
    return Trace(v, float(t[0]), dt, "", "the signal")
