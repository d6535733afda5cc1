"""The characterisation page: the datasheet table across units, a histogram of every parameter
with its limits, and the sweeps of all units overlaid with their min/max band.

`benchtest.review.characterise` does the statistics; this module turns them into pixels and
text, and the Jinja2 template `templates/characterise.html.j2` (autoescaped) into one
self-contained HTML file: inline CSS and inline SVG, nothing fetched from the network.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.__about__ import __version__
from benchtest.report.plot import Tick, nice_ticks
from benchtest.report.templating import TEMPLATES
from benchtest.report.units import format_eng, scale_for
from benchtest.review.characterise import Characterisation, Row, SweepBand
from benchtest.review.characterise_table import write_atomically
from benchtest.values.events import utc_now

WIDTH, HEIGHT = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 60, 14, 22, 44
INNER_W, INNER_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
#: Most bins a histogram gets; fewer for few values (the square-root rule).
MAX_BINS = 40


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    outside: bool  # the bin lies outside a limit


@dataclass(frozen=True)
class Marker:
    """A vertical (histogram) or horizontal (sweep) line at `position` with its label."""

    position: float
    label: str
    kind: str  # "limit" or "mean"

    @property
    def anchor(self) -> str:
        """Where a vertical line's label goes: right of it, or left of it near the right edge."""
        return "end" if self.position > LEFT + INNER_W * 0.6 else "start"

    @property
    def label_x(self) -> float:
        return self.position + (-3 if self.anchor == "end" else 3)


@dataclass(frozen=True)
class Chart:
    """One SVG chart, in pixels: a histogram (bars) or an overlay of curves with a band."""

    title: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    caption: str
    bars: tuple[Bar, ...] = ()
    vertical: tuple[Marker, ...] = ()
    horizontal: tuple[Marker, ...] = ()
    curves: tuple[str, ...] = ()  # SVG polyline points, one per unit
    band: str = ""  # SVG polygon points of the min/max band
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    inner_width: int = INNER_W
    inner_height: int = INNER_H


def _span(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _axis_ticks(
    low: float, high: float, pixel0: float, pixels: float, unit: str
) -> tuple[list[Tick], str]:
    factor, shown = scale_for(max(abs(low), abs(high)), unit)
    values = [v for v in nice_ticks(low, high) if low <= v <= high]
    step = (values[1] - values[0]) / factor if len(values) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    ticks = [
        Tick(
            round(pixel0 + (v - low) / (high - low) * pixels, 1), f"{v / factor + 0.0:.{decimals}f}"
        )
        for v in values
    ]
    return ticks, shown


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def histogram(row: Row) -> Chart:
    """The distribution of the row's values: bars, the limits and the mean as vertical lines."""
    s = row.spread
    values = row.values[np.isfinite(row.values)]
    limits = [v for v in (s.low, s.high) if not math.isnan(v)]
    x_low, x_high = _span([*values.tolist(), *limits])
    bins = max(1, min(MAX_BINS, math.ceil(math.sqrt(len(values)))))
    data_low, data_high = _span(values.tolist()) if len(values) else (x_low, x_high)
    counts, edges = np.histogram(values, bins=bins, range=(data_low, data_high))
    most = max(1, int(counts.max(initial=0)))
    y_values = [v for v in nice_ticks(0, most, target=min(4, most)) if v == int(v)]
    if y_values[-1] < most:  # the top tick above the highest bar
        y_values.append(y_values[-1] + (y_values[1] - y_values[0] if len(y_values) > 1 else 1))
    top = y_values[-1]

    def x_px(v: float) -> float:
        return round(LEFT + (v - x_low) / (x_high - x_low) * INNER_W, 1)

    bars = []
    for k, count in enumerate(counts.tolist()):
        height = round(count / top * INNER_H, 1)
        left, right = float(edges[k]), float(edges[k + 1])
        outside = (not math.isnan(s.low) and right <= s.low) or (
            not math.isnan(s.high) and left >= s.high
        )
        bars.append(
            Bar(x_px(left), TOP + INNER_H - height, max(x_px(right) - x_px(left) - 1, 1.0),
                height, int(count), outside)
        )  # fmt: skip
    names = ("LSL", "USL")
    vertical = [
        Marker(x_px(v), f"{n} {format_eng(v, row.unit)}", "limit")
        for n, v in zip(names, (s.low, s.high), strict=True)
        if not math.isnan(v)
    ]
    if s.count:
        vertical.append(Marker(x_px(s.mean), f"mean {format_eng(s.mean, row.unit)}", "mean"))
    x_ticks, shown = _axis_ticks(x_low, x_high, LEFT, INNER_W, row.unit)
    y_ticks = [Tick(round(TOP + INNER_H - v / top * INNER_H, 1), f"{v:g}") for v in y_values]
    where = row.condition_text + (f", {row.group}" if row.group else "")
    return Chart(
        title=f"{row.parameter} ({where})",
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_label=_label(row.parameter, shown),
        y_label="count",
        caption=f"{row.parameter} at {where}: {s.count} values from {row.units} units, "
        f"{bins} bins; dashed: limits, dotted: mean",
        bars=tuple(bars),
        vertical=tuple(vertical),
    )


def _points(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], frame: tuple[float, ...]
) -> str:
    x_low, x_high, y_low, y_high = frame
    px = LEFT + (x - x_low) / (x_high - x_low) * INNER_W
    py = TOP + INNER_H - (y - y_low) / (y_high - y_low) * INNER_H
    shown = np.isfinite(px) & np.isfinite(py)
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[shown], py[shown], strict=True))


def sweep_overlay(band: SweepBand) -> Chart:
    """Every unit's sweep as a thin curve over the shaded min/max band, limits as lines."""
    limits = [v for v in (band.low, band.high) if not math.isnan(v)]
    ys = [float(v) for _, c in band.curves for v in c.y.tolist()]
    xs = [float(v) for _, c in band.curves for v in c.x.tolist()]
    x_low, x_high = _span(xs)
    y_low, y_high = _span([*ys, *limits])
    frame = (x_low, x_high, y_low, y_high)
    curves = tuple(_points(c.x, c.y, frame) for _, c in band.curves)
    upper = _points(band.x, band.band_high, frame)
    lower = _points(band.x[::-1], band.band_low[::-1], frame)
    horizontal = tuple(
        Marker(
            round(TOP + INNER_H - (v - y_low) / (y_high - y_low) * INNER_H, 1),
            f"{n} {format_eng(v, band.y_unit)}",
            "limit",
        )
        for n, v in zip(("low limit", "high limit"), (band.low, band.high), strict=True)
        if not math.isnan(v)
    )
    x_ticks, x_shown = _axis_ticks(x_low, x_high, LEFT, INNER_W, band.x_unit)
    y_ticks, y_shown = _axis_ticks(y_low, y_high, TOP + INNER_H, -INNER_H, band.y_unit)
    return Chart(
        title=f"{band.name} against {band.x_name} ({band.test_id.rpartition('::')[2]})",
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_label=_label(band.x_name, x_shown),
        y_label=_label(band.name, y_shown),
        caption=f"{band.name} of {len(band.curves)} units overlaid ({band.test_id}); shaded: "
        "min to max across units; dashed: limits",
        horizontal=horizontal,
        curves=curves,
        band=f"{upper} {lower}",
    )


@dataclass(frozen=True)
class TableRow:
    """A row of the table as shown: numbers as engineering text."""

    parameter: str
    conditions: str
    group: str
    cells: list[str]
    flagged: bool
    chart: int  # index of its histogram in `charts`, -1: none


def _shown(row: Row, cpk_min: float) -> list[str]:
    s, u = row.spread, row.unit

    def ratio(v: float) -> str:
        return "—" if math.isnan(v) else f"{v:.2f}"

    yield_text = "—" if not s.count else f"{100 * s.yield_fraction:.1f} %"
    return [
        str(row.units), str(s.count), format_eng(s.minimum, u), format_eng(s.typical, u),
        format_eng(s.maximum, u), format_eng(s.mean, u), format_eng(s.sigma, u),
        format_eng(s.low, u), format_eng(s.high, u), ratio(s.cp), ratio(s.cpk), yield_text,
    ]  # fmt: skip


def page_context(result: Characterisation, title: str = "") -> dict[str, Any]:
    """What the template shows: headline, units, table rows, histograms, sweep overlays."""
    charts: list[Chart] = []
    rows: list[TableRow] = []
    index = -1
    for row in result.rows:
        if not row.group:  # a histogram per row of all units; its group rows point to it
            index = -1
            if row.spread.count:
                index = len(charts)
                charts.append(histogram(row))
        rows.append(
            TableRow(row.parameter, row.condition_text, row.group or "all units",
                     _shown(row, result.cpk_min), row.flagged, index)
        )  # fmt: skip
    lots = sorted({u.lot for u in result.units if u.lot})
    return {
        "title": title or f"{result.part} characterisation",
        "part": result.part,
        "unit_count": result.unit_count,
        "units": sorted(result.units, key=lambda u: (u.lot, u.wafer, u.serial)),
        "lots": lots,
        "rows": rows,
        "flagged": [r for r in result.flagged if not r.group],
        "flagged_groups": [r for r in result.flagged if r.group],
        "cpk_min": f"{result.cpk_min:g}",
        "charts": charts,
        "sweeps": [sweep_overlay(b) for b in result.sweeps],
        "generated": utc_now(),
        "version": __version__,
    }


def render_page(result: Characterisation, title: str = "") -> str:
    """The characterisation page as HTML text."""
    return TEMPLATES.get_template("characterise.html.j2").render(**page_context(result, title))


def write_page(result: Characterisation, path: str | os.PathLike[str], title: str = "") -> Path:
    """Write the page to `path` through a temporary file and a rename; the path written."""
    return write_atomically(path, render_page(result, title))


__all__ = ["Chart", "histogram", "page_context", "render_page", "sweep_overlay", "write_page"]
