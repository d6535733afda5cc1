"""Waveform plots for the HTML report: geometry computed with numpy, drawn as inline SVG.

A long record is reduced to its min/max envelope per pixel column, read block by block from
the run file, so a 10 M-point capture becomes about two thousand SVG points. The template
`plot.svg.j2` turns a `Plot` into markup (with escaping); this module only does the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchtest.report.units import scale_for
from benchtest.results import LazyArray, StoredWaveform

WIDTH, HEIGHT = 820, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 14, 46
#: Samples read from the file per step while building the envelope.
BLOCK_POINTS = 1 << 20


@dataclass(frozen=True)
class Tick:
    position: float  # pixel coordinate along the axis
    label: str


@dataclass(frozen=True)
class Plot:
    """Everything the SVG template needs, in pixels."""

    title: str
    points: str  # SVG polyline points "x,y x,y ..."
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    samples: int
    decimated: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    inner_width: int = WIDTH - LEFT - RIGHT
    inner_height: int = HEIGHT - TOP - BOTTOM


def envelope(
    codes: LazyArray, columns: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per column: index of its first sample, minimum and maximum of `codes` (len > 2*columns)."""
    n = len(codes)
    edges = (np.arange(columns + 1, dtype=np.int64) * n) // columns
    low = np.full(columns, np.inf)
    high = np.full(columns, -np.inf)
    for start in range(0, n, BLOCK_POINTS):
        block = codes[start : start + BLOCK_POINTS]
        stop = start + len(block)
        first = int(np.searchsorted(edges, start, side="right")) - 1
        last = int(np.searchsorted(edges, stop - 1, side="right")) - 1
        offsets = np.maximum(edges[first : last + 1], start) - start
        cols = slice(first, last + 1)
        low[cols] = np.minimum(low[cols], np.minimum.reduceat(block, offsets))
        high[cols] = np.maximum(high[cols], np.maximum.reduceat(block, offsets))
    return edges[:-1], low, high


def nice_ticks(low: float, high: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) covering [low, high]."""
    raw = (high - low) / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    count = math.floor(high / step + 1e-9) - first + 1
    return [(first + i) * step for i in range(count)]


def _ticks(
    low: float, high: float, pixel0: float, pixels: float, unit: str
) -> tuple[list[Tick], str]:
    """Ticks from `pixel0` over `pixels` (negative: upwards), and the unit they are shown in."""
    values = nice_ticks(low, high)
    factor, shown = scale_for(max(abs(low), abs(high)), unit)
    step = (values[1] - values[0]) / factor if len(values) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = [
        Tick(
            round(pixel0 + (v - low) / (high - low) * pixels, 1), f"{v / factor + 0.0:.{decimals}f}"
        )
        for v in values
    ]
    return ticks, shown


def _span(low: float, high: float, margin: float = 0.0) -> tuple[float, float]:
    """[low, high] widened by `margin` of its width; a usable range also for flat or no data."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * margin
    return low - pad, high + pad


def _samples(
    wf: StoredWaveform, columns: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool]:
    """Sample indices and physical values to draw: all points, or the min/max envelope."""
    n = len(wf)
    if n <= 2 * columns:
        return np.arange(n, dtype=np.float64), wf.values(), False
    starts, low, high = envelope(wf.codes, columns)
    low, high = low * wf.scale + wf.offset, high * wf.scale + wf.offset
    if wf.scale < 0:
        low, high = high, low
    index = np.repeat(starts.astype(np.float64), 2)
    values = np.column_stack([low, high]).ravel()
    return index, values, True


def waveform_plot(wf: StoredWaveform) -> Plot:
    """The plot of `wf`: time (engineering units) against its physical value."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    index, values, decimated = _samples(wf, inner_w)
    n = len(wf)
    dt = wf.dt if math.isfinite(wf.dt) else 1.0
    t0 = wf.t0 if math.isfinite(wf.t0) else 0.0
    t_low, t_high = _span(t0, t0 + max(n - 1, 1) * dt)
    finite = values[np.isfinite(values)]
    v_low, v_high = _span(
        float(finite.min(initial=np.inf)), float(finite.max(initial=-np.inf)), 0.05
    )
    x = LEFT + (t0 + index * dt - t_low) / (t_high - t_low) * inner_w
    y = TOP + inner_h - (values - v_low) / (v_high - v_low) * inner_h
    shown = np.isfinite(y)  # a NaN sample (float records) leaves a gap-free line without it
    points = " ".join(f"{px:.1f},{py:.1f}" for px, py in zip(x[shown], y[shown], strict=True))
    x_ticks, t_unit = _ticks(t_low, t_high, LEFT, inner_w, "s")
    y_ticks, v_unit = _ticks(v_low, v_high, TOP + inner_h, -inner_h, wf.unit)
    return Plot(
        title=wf.name,
        points=points,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_label=f"time ({t_unit})",
        y_label=f"{wf.name} ({v_unit})" if v_unit else wf.name,
        samples=n,
        decimated=decimated,
    )
