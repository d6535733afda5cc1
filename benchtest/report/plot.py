"""Waveform, sweep and family plots for the HTML report: numpy geometry, drawn as inline SVG.

A long record is reduced to its min/max envelope per pixel column, read block by block from
the run file, so a 10 M-point capture becomes about two thousand SVG points. The template
`plot.svg.j2` turns a `Plot` into markup (with escaping); this module only does the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.report.units import format_eng, scale_for
from benchtest.results import LazyArray, StoredFamily, StoredSweep, StoredWaveform

WIDTH, HEIGHT = 820, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 14, 46
#: Samples read from the file per step while building the envelope.
BLOCK_POINTS = 1 << 20


@dataclass(frozen=True)
class Tick:
    position: float  # pixel coordinate along the axis
    label: str


@dataclass(frozen=True)
class Curve:
    """One of several overlaid curves, with its legend text."""

    points: str
    label: str


@dataclass(frozen=True)
class Plot:
    """Everything the SVG template needs, in pixels."""

    title: str
    points: str  # SVG polyline points "x,y x,y ..." ("" when `curves` are drawn instead)
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
    curves: tuple[Curve, ...] = ()  # overlaid curves with a legend (a family)
    limit_lines: tuple[Tick, ...] = ()  # horizontal limit lines: pixel y and label


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


@dataclass(frozen=True)
class Frame:
    """The data ranges drawn in the plot area, and the mapping from data to pixels."""

    x_low: float
    x_high: float
    y_low: float
    y_high: float

    @classmethod
    def around(cls, x_low: float, x_high: float, values: npt.NDArray[np.float64]) -> Frame:
        """Spanning [x_low, x_high] and the finite `values`, with 5 % room above and below."""
        finite = values[np.isfinite(values)]
        y_low, y_high = _span(
            float(finite.min(initial=np.inf)), float(finite.max(initial=-np.inf)), 0.05
        )
        return cls(*_span(x_low, x_high), y_low, y_high)

    def y_pixels(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        inner_h = HEIGHT - TOP - BOTTOM
        return TOP + inner_h - (values - self.y_low) / (self.y_high - self.y_low) * inner_h

    def points(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> str:
        """SVG polyline points of (x, y) in data units; points with a NaN are left out."""
        px = LEFT + (x - self.x_low) / (self.x_high - self.x_low) * (WIDTH - LEFT - RIGHT)
        py = self.y_pixels(y)
        shown = np.isfinite(px) & np.isfinite(py)
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[shown], py[shown], strict=True))

    def plot(self, title: str, x: tuple[str, str], y: tuple[str, str], **fields: Any) -> Plot:
        """A `Plot` in this frame; `x` and `y` are (name, unit) of the axes."""
        inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
        x_ticks, x_unit = _ticks(self.x_low, self.x_high, LEFT, inner_w, x[1])
        y_ticks, y_unit = _ticks(self.y_low, self.y_high, TOP + inner_h, -inner_h, y[1])
        return Plot(
            title=title,
            x_ticks=x_ticks,
            y_ticks=y_ticks,
            x_label=f"{x[0]} ({x_unit})" if x_unit else x[0],
            y_label=f"{y[0]} ({y_unit})" if y_unit else y[0],
            **fields,
        )


def waveform_plot(wf: StoredWaveform) -> Plot:
    """The plot of `wf`: time (engineering units) against its physical value."""
    index, values, decimated = _samples(wf, WIDTH - LEFT - RIGHT)
    n = len(wf)
    dt = wf.dt if math.isfinite(wf.dt) else 1.0
    t0 = wf.t0 if math.isfinite(wf.t0) else 0.0
    frame = Frame.around(t0, t0 + max(n - 1, 1) * dt, values)
    points = frame.points(t0 + index * dt, values)
    return frame.plot(
        wf.name, ("time", "s"), (wf.name, wf.unit), points=points, samples=n, decimated=decimated
    )


def sweep_plot(sweep: StoredSweep) -> Plot:
    """The plot of a sweep: y against x in their units, its limits as dashed lines."""
    x, y = np.asarray(sweep.x.values[...], np.float64), np.asarray(sweep.y.values[...], np.float64)
    limits = [v for v in (sweep.low, sweep.high) if v is not None]
    frame = Frame.around(
        float(np.nanmin(x, initial=np.inf)) if len(x) else 0.0,
        float(np.nanmax(x, initial=-np.inf)) if len(x) else 1.0,
        np.concatenate([y, np.asarray(limits, np.float64)]),
    )
    names = ("low limit", "high limit") if len(limits) == 2 else ("limit",)
    lines = tuple(
        Tick(
            round(float(frame.y_pixels(np.array([v]))[0]), 1), f"{n} {format_eng(v, sweep.y.unit)}"
        )
        for n, v in zip(names, limits, strict=True)
    )
    return frame.plot(
        sweep.name,
        (sweep.x.name, sweep.x.unit),
        (sweep.y.name, sweep.y.unit),
        points=frame.points(x, y),
        samples=len(x),
        decimated=False,
        limit_lines=lines,
    )


def family_plot(family: StoredFamily) -> Plot:
    """A family as overlaid curves against time, with a legend of the family axis values."""
    values = np.asarray(family.values[...], np.float64)
    time = np.asarray(family.time.values[...], np.float64)
    axis = np.asarray(family.axis.values[...], np.float64)
    frame = Frame.around(float(time[0]), float(time[-1]), values.ravel())
    curves = tuple(
        Curve(frame.points(time, row), f"{family.axis.name} = {format_eng(v, family.axis.unit)}")
        for row, v in zip(values, axis, strict=True)
    )
    return frame.plot(
        family.name,
        ("time", "s"),
        (family.name, family.unit),
        points="",
        samples=values.size,
        decimated=False,
        curves=curves,
    )
