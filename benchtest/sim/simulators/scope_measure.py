"""Automatic measurements of the simulated scope (`:MEASure:ITEM?`) on the screen record.

Each item takes the 1200 screen points in volts and their spacing and returns a value, or None
when the waveform does not allow the measurement (the scope then answers 9.9E37).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from benchtest.sim.server.scpi import choice_regex

Volts = npt.NDArray[np.float64]
NOT_MEASURABLE = "9.9E37"
MIN_EDGE_AMPLITUDE = 0.05  # of full screen: smaller steps are noise, not an edge


def _most_frequent(v: Volts) -> float:
    values, counts = np.unique(v, return_counts=True)
    return float(values[np.argmax(counts)])


def _top(v: Volts) -> float:
    """The most frequent level in the upper half (the samples are quantised codes)."""
    return _most_frequent(v[v >= (v.max() + v.min()) / 2])


def _base(v: Volts) -> float:
    return _most_frequent(v[v <= (v.max() + v.min()) / 2])


def _edge_time(v: Volts, dt: float, full_scale: float) -> float | None:
    """10 %-90 % rise time of the first rising edge, interpolated between samples."""
    base, top = _base(v), _top(v)
    amplitude = top - base
    if amplitude < MIN_EDGE_AMPLITUDE * full_scale:
        return None
    low, high = base + 0.1 * amplitude, base + 0.9 * amplitude
    above = np.flatnonzero(v >= high)
    below = np.flatnonzero(v <= low)
    if not len(below) or not len(above) or above[-1] < below[0]:
        return None
    start = int(below[0])
    end = int(above[above > start][0])
    start = int(below[below < end][-1])
    return (_crossing(v, end, high) - _crossing(v, start + 1, low)) * dt


def _crossing(v: Volts, index: int, level: float) -> float:
    """Fractional index between `index - 1` and `index` where the waveform passes `level`."""
    before, after = float(v[index - 1]), float(v[index])
    return index - 1 + (level - before) / (after - before) if after != before else float(index)


ITEMS: dict[str, Callable[[Volts, float, float], float | None]] = {
    "VMAX": lambda v, dt, fs: float(v.max()),
    "VMIN": lambda v, dt, fs: float(v.min()),
    "VPP": lambda v, dt, fs: float(v.max() - v.min()),
    "VTOP": lambda v, dt, fs: _top(v),
    "VBASE": lambda v, dt, fs: _base(v),
    "VAMP": lambda v, dt, fs: _top(v) - _base(v),
    "VAVG": lambda v, dt, fs: float(v.mean()),
    "VRMS": lambda v, dt, fs: float(np.sqrt(np.mean(v * v))),
    "RTIME": _edge_time,
    "FTIME": lambda v, dt, fs: _edge_time(-v, dt, fs),
}
ITEM_NAMES = choice_regex(
    "VMAX", "VMIN", "VPP", "VTOP", "VBASe", "VAMP", "VAVG", "VRMS", "RTIMe", "FTIMe"
)


def value(item: str, volts: Volts, dt: float, full_scale: float) -> float | None:
    """`item` (a key of ITEMS) of the record, or None when it cannot be measured."""
    return ITEMS[item](volts, dt, full_scale) if len(volts) > 1 else None


def measure(item: str, volts: Volts, dt: float, full_scale: float) -> str:
    """The NR3 reply for `item` (a long-form name from ITEM_NAMES)."""
    result = value(item, volts, dt, full_scale)
    return NOT_MEASURABLE if result is None else f"{result:.6e}"
