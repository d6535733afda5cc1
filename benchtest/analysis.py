"""Waveform measurements computed from recorded samples, in SI units.

State levels come from the record's ends (the signal settles before and after the edge);
crossings are interpolated linearly between samples. Each function raises a clear
`AnalysisError` when the waveform has no such feature instead of returning a number.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from benchtest.errors import BenchtestError
from benchtest.waveform import Waveform


class AnalysisError(BenchtestError):
    """The waveform has no such feature (no edge, a flat signal, a crossing off the record)."""


def base_level(waveform: Waveform, fraction: float = 0.05) -> float:
    """Level before the transition: median of the first `fraction` of the record."""
    values = waveform.values
    return float(np.median(values[: max(1, int(len(values) * fraction))]))


def top_level(waveform: Waveform, fraction: float = 0.1) -> float:
    """Level after the transition: median of the last `fraction` of the record."""
    values = waveform.values
    return float(np.median(values[-max(1, int(len(values) * fraction)) :]))


def rise_time(waveform: Waveform, low: float = 0.1, high: float = 0.9) -> float:
    """Seconds from the first `low` to the first `high` reference-level crossing of a rise."""
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"reference levels must satisfy 0 <= low < high <= 1, got {low}, {high}")
    base, top = base_level(waveform), top_level(waveform)
    amplitude = top - base
    values = waveform.values
    noise = float(np.std(values[: max(2, len(values) // 20)]))
    if amplitude <= max(3 * noise, 1e-12):
        raise AnalysisError(
            f"no rising edge on {waveform.channel or 'the waveform'}: levels {base:.4g} to "
            f"{top:.4g} {waveform.unit}"
        )
    t_low = _first_crossing(waveform.time, values, base + low * amplitude)
    t_high = _first_crossing(waveform.time, values, base + high * amplitude)
    return t_high - t_low


def _first_crossing(
    time: npt.NDArray[np.float64], values: npt.NDArray[np.float64], level: float
) -> float:
    above = values >= level
    index = int(np.argmax(above))
    if not above[index]:
        raise AnalysisError(f"the signal never reaches {level:.4g}")
    if index == 0:
        raise AnalysisError(f"the signal is already above {level:.4g} at the start of the record")
    v0, v1 = values[index - 1], values[index]
    t0, t1 = time[index - 1], time[index]
    return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0))
