"""Waveform, sweep and family plots for the HTML report: numpy geometry, drawn as inline SVG.

A long record is reduced to its min/max envelope per pixel column, read block by block from
the run file, so a 10 M-point capture becomes about two thousand SVG points and a single-sample
spike still reaches its full height. Limits are dashed lines; a waveform's first edge is marked
(10 % and 90 % instants, overshoot, settling band and instant: see `markers`), and a sweep's
points outside its limits are circled. The template `plot.svg.j2` turns a `Plot` into markup
(with escaping); this module only does the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.report.markers import SETTLING_BAND, EdgeMarks, Recorded
from benchtest.report.units import format_eng, scale_for
from benchtest.results import LazyArray, StoredFamily, StoredSweep, StoredWaveform

WIDTH, HEIGHT = 820, 280
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 14, 46
#: Samples read from the file per step while building the envelope.
BLOCK_POINTS = 1 << 20
#: The most points outside a sweep's limits circled in one plot.
MAX_DOTS = 200
#: Rows of labels of vertical marks, above the data, and their height in pixels.
LABEL_ROWS, LABEL_ROW = 4, 12


@dataclass(frozen=True)
class Tick:
    position: float  # pixel coordinate along the axis
    label: str
    value: float | None = None  # the data value (SI) at `position`, for limit lines


@dataclass(frozen=True)
class Mark:
    """A line across the plot area: vertical at pixel x (`across="x"`) or horizontal at pixel
    y; `kind` is what it marks ("edge", "overshoot", "settling", "band", "limit") and `value`
    the data value (SI) there."""

    across: str
    position: float
    label: str
    kind: str
    value: float
    label_x: float = 0.0  # where the label goes, and its text-anchor
    label_y: float = 0.0
    anchor: str = "start"


@dataclass(frozen=True)
class Dot:
    """A circled point (a sweep point outside its limits), in pixels."""

    x: float
    y: float
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
    marks: tuple[Mark, ...] = ()  # analysis marks and limits along the trace
    shade: tuple[float, float] | None = None  # pixel x span of a marked transition
    dots: tuple[Dot, ...] = ()  # circled points (outside the limits)
    notes: tuple[str, ...] = ()  # what the marks are, for the caption


def envelope(
    codes: LazyArray | npt.NDArray[Any], columns: int
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
    wf: StoredWaveform, columns: int, codes: npt.NDArray[Any] | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], bool]:
    """Sample indices and physical values to draw: all points, or the min/max envelope (of
    `codes` when the samples are already read, else read from the file block by block)."""
    n = len(wf)
    if n <= 2 * columns:
        return np.arange(n, dtype=np.float64), wf.values(), False
    starts, low, high = envelope(wf.codes if codes is None else codes, columns)
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

    def x_pixel(self, x: float) -> float:
        return round(
            LEFT + (x - self.x_low) / (self.x_high - self.x_low) * (WIDTH - LEFT - RIGHT), 1
        )

    def y_pixel(self, y: float) -> float:
        return round(float(self.y_pixels(np.array([y], np.float64))[0]), 1)

    def with_headroom(self, pixels: float) -> Frame:
        """This frame with its top raised so that `pixels` above the data stay free (labels)."""
        inner_h = HEIGHT - TOP - BOTTOM
        span = self.y_high - self.y_low
        return replace(self, y_high=self.y_high + pixels / (inner_h - pixels) * span)

    def shows_x(self, x: float) -> bool:
        return self.x_low <= x <= self.x_high

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


def waveform_plot(
    wf: StoredWaveform, marks: EdgeMarks | None = None, *, codes: npt.NDArray[Any] | None = None
) -> Plot:
    """The plot of `wf`: time (engineering units) against its physical value; with `marks`,
    its first edge marked and the limits of the measurements that agree with them drawn.
    `codes`: its raw samples when already read (else they are read here)."""
    index, values, decimated = _samples(wf, WIDTH - LEFT - RIGHT, codes)
    n = len(wf)
    dt = wf.dt if math.isfinite(wf.dt) else 1.0
    t0 = wf.t0 if math.isfinite(wf.t0) else 0.0
    levels = np.zeros(0) if marks is None else _mark_levels(marks)
    frame = Frame.around(t0, t0 + max(n - 1, 1) * dt, np.concatenate([values, levels]))
    fields: dict[str, Any] = {}
    if marks is not None:
        frame = frame.with_headroom(LABEL_ROWS * LABEL_ROW + 4)
        fields = _edge_fields(frame, marks, wf.unit)
    points = frame.points(t0 + index * dt, values)
    return frame.plot(
        wf.name,
        ("time", "s"),
        (wf.name, wf.unit),
        points=points,
        samples=n,
        decimated=decimated,
        **fields,
    )


def _limit_offsets(recorded: Recorded | None) -> list[tuple[str, float, Recorded]]:
    """("min"/"max", limit, the measurement) of a recorded measurement, for its limits."""
    if recorded is None:
        return []
    sides = (("min", recorded.low), ("max", recorded.high))
    return [(side, v, recorded) for side, v in sides if v is not None]


def _mark_levels(marks: EdgeMarks) -> npt.NDArray[np.float64]:
    """Levels the frame must show besides the data: the overshoot limits."""
    aberration = marks.aberration
    sign = 1.0 if marks.rising else -1.0
    amplitude = marks.high - marks.low
    limits = _limit_offsets(aberration.recorded if aberration else None)
    return np.array([marks.final + sign * v / 100 * amplitude for _, v, _ in limits], np.float64)


def _label_place(x: float, row: int) -> tuple[float, float, str]:
    """Label position of a vertical mark at pixel `x`: along the top, rows staggered."""
    y = TOP + 11 + LABEL_ROW * (row % LABEL_ROWS)
    if x > WIDTH - RIGHT - 140:
        return x - 3, y, "end"
    return x + 3, y, "start"


def _edge_fields(frame: Frame, marks: EdgeMarks, unit: str) -> dict[str, Any]:
    """The marks, shaded transition and caption notes of a waveform's first edge."""
    what = "rise time" if marks.rising else "fall time"
    first, second = ("10 %", "90 %") if marks.rising else ("90 %", "10 %")
    vertical: list[tuple[float, str, str]] = [
        (marks.start, first, "edge"),
        (marks.end, second, "edge"),
    ]
    horizontal: list[tuple[float, str, str]] = []
    amplitude = marks.high - marks.low
    low, high = (0.0 if abs(v) < 1e-9 * amplitude else v for v in (marks.low, marks.high))
    notes = [
        f"{what} {format_eng(marks.duration, 's')} ({first} to {second} of "
        f"{format_eng(low, unit)} to {format_eng(high, unit)})"
        + _as_recorded(marks.duration_recorded)
    ]
    limits: list[tuple[str, float, Recorded]] = []  # (what, instant or level, measurement)
    for side, v, recorded in _limit_offsets(marks.duration_recorded):
        if v > 0:  # a duration's limit of 0 s or less says nothing to draw
            limits.append((side, marks.start + v, recorded))
    aberration = marks.aberration
    if aberration is not None:
        name = "overshoot" if marks.rising else "undershoot"
        horizontal.append((aberration.level, f"{name} {aberration.percent:.3g} %", "overshoot"))
        notes.append(
            f"{name} {aberration.percent:.3g} % of the amplitude"
            + _as_recorded(aberration.recorded)
        )
        sign = 1.0 if marks.rising else -1.0
        for side, v, recorded in _limit_offsets(aberration.recorded):
            level = marks.final + sign * v / 100 * (marks.high - marks.low)
            horizontal.append((level, f"{recorded.name} {side} {v:.3g} %", "limit"))
    if marks.settled is not None:
        after = marks.settled - marks.middle
        vertical.append((marks.settled, "settled", "settling"))
        for level in (marks.final - marks.band, marks.final + marks.band):
            horizontal.append((level, "", "band"))
        notes.append(
            f"settled within ±{SETTLING_BAND:g} % of the amplitude {format_eng(after, 's')} "
            "after the 50 % instant" + _as_recorded(marks.settling_recorded)
        )
        for side, v, recorded in _limit_offsets(marks.settling_recorded):
            if v > 0:
                limits.append((side, marks.middle + v, recorded))
    for side, instant, recorded in limits:
        label = f"{recorded.name} {side} {format_eng(instant - _origin(marks, recorded), 's')}"
        if frame.shows_x(instant):
            vertical.append((instant, label, "limit"))
        else:
            notes.append(f"{label}: at {format_eng(instant, 's')}, outside the record")
    if marks.block > 1:
        notes.append(
            f"marks found in the means of {marks.block} consecutive samples "
            f"(a step of {format_eng(marks.step, 's')})"
        )
    drawn = []
    for row, (instant, label, kind) in enumerate(vertical):
        x = frame.x_pixel(instant)
        lx, ly, anchor = _label_place(x, row)
        drawn.append(Mark("x", x, label, kind, instant, lx, ly, anchor))
    for level, label, kind in horizontal:
        y = frame.y_pixel(level)
        if kind == "limit":  # limits labelled at the right, as on sweeps; the rest at the left
            drawn.append(Mark("y", y, label, kind, level, WIDTH - RIGHT - 4, y - 3, "end"))
        else:
            drawn.append(Mark("y", y, label, kind, level, LEFT + 4, y - 3, "start"))
    shade = (frame.x_pixel(marks.start), frame.x_pixel(marks.end))
    return {"marks": tuple(drawn), "shade": tuple(sorted(shade)), "notes": tuple(notes)}


def _origin(marks: EdgeMarks, recorded: Recorded) -> float:
    """The instant a time limit counts from: the edge's start, or its 50 % instant (settling)."""
    return marks.middle if recorded is marks.settling_recorded else marks.start


def _as_recorded(recorded: Recorded | None) -> str:
    if recorded is None:
        return ""
    shown = (
        f"{recorded.value:.4g} %"
        if recorded.unit == "%"
        else format_eng(recorded.value, recorded.unit)
    )
    return f"; recorded as {recorded.name} = {shown}"


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
    dots, outside = _outside(frame, sweep, x, y)
    lines = tuple(
        Tick(frame.y_pixel(v), f"{n} {format_eng(v, sweep.y.unit)}", v)
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
        dots=dots,
        notes=(f"{outside} points outside the limits; the first {MAX_DOTS} circled",)
        if outside > MAX_DOTS
        else (),
    )


def _outside(
    frame: Frame, sweep: StoredSweep, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[tuple[Dot, ...], int]:
    """The sweep's points beyond its limits, circled (the first MAX_DOTS), and their number."""
    with np.errstate(invalid="ignore"):
        beyond = np.zeros(len(y), dtype=bool)
        if sweep.low is not None:
            beyond |= y < sweep.low
        if sweep.high is not None:
            beyond |= y > sweep.high
    dots = tuple(
        Dot(frame.x_pixel(float(a)), frame.y_pixel(float(b)),
            f"{format_eng(float(b), sweep.y.unit)} at {format_eng(float(a), sweep.x.unit)}")
        for a, b in zip(x[beyond][:MAX_DOTS], y[beyond][:MAX_DOTS], strict=True)
    )  # fmt: skip
    return dots, int(beyond.sum())


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
