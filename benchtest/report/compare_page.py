"""The HTML page of a comparison: the verdict, every parameter with its shift and tolerance, the
tests that changed, and the trend of each moved parameter over the catalog's runs.

`write_compare_page(comparison, trends, path)` writes one self-contained file (inline SVG, no
script, nothing from the network) under a temporary name and renames it. The trend plots are
drawn here, as numbers in pixels; `compare.html.j2` turns them into markup.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchtest.__about__ import __version__
from benchtest.report.plot import Tick, nice_ticks
from benchtest.report.templating import TEMPLATES
from benchtest.report.units import format_eng, scale_for
from benchtest.review.compare import Comparison, ParameterChange, Readings, RunSide
from benchtest.review.trend import Trend, TrendPoint
from benchtest.values.atomic import replacing
from benchtest.values.errors import ResultFileError
from benchtest.values.events import utc_now

WIDTH, HEIGHT = 820, 280
LEFT, RIGHT, TOP, BOTTOM = 76, 16, 34, 44  # the legend is above the plot area
#: Steps between time ticks, seconds: the first that gives at most `TIME_TICKS` ticks is used.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600,
              12 * 3600, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400,
              365 * 86400)  # fmt: skip
TIME_TICKS = 7


@dataclass(frozen=True)
class Marker:
    """One reading in a trend plot."""

    x: float
    y: float
    role: str  # history, baseline, run
    label: str  # what a pointer over it shows


@dataclass(frozen=True)
class TrendPlot:
    """A trend in pixels: readings over time, the baseline's tolerance band, the limits."""

    title: str
    markers: list[Marker]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    y_label: str
    band: tuple[float, float] | None  # pixel y of the band's top and bottom
    baseline_y: float | None
    limit_lines: list[Tick]
    caption: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    inner_width: int = WIDTH - LEFT - RIGHT
    inner_height: int = HEIGHT - TOP - BOTTOM


def _span(low: float, high: float, pad: float) -> tuple[float, float]:
    if high > low:
        extra = (high - low) * pad
        return low - extra, high + extra
    extra = abs(low) * 0.1 or 1.0
    return low - extra, high + extra


def _time_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks at whole steps of UTC time (seconds to years) from `low` to `high`, labelled as
    finely as the step needs."""
    step = next((s for s in TIME_STEPS if (high - low) / s <= TIME_TICKS), TIME_STEPS[-1])
    shown = "%Y-%m-%d" if step >= 86400 else "%m-%d %H:%M" if step >= 60 else "%H:%M:%S"
    first = math.ceil(low / step) * step
    return [
        (float(t), datetime.fromtimestamp(t, UTC).strftime(shown))
        for t in range(int(first), math.floor(high) + 1, step)
    ]


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def trend_plot(trend: Trend) -> TrendPlot:
    """The plot of `trend`: each reading a dot, the baseline's band of allowed shift shaded."""
    change = trend.change
    unit = change.unit
    times = [p.time for p in trend.points]
    values = [p.value for p in trend.points]
    base = change.baseline.mean if change.baseline is not None else math.nan
    allowed = change.allowance.shift if change.allowance is not None else math.nan
    limits = [(n, v) for n, v in _limits(change.baseline) if math.isfinite(v)]
    band = [base - allowed, base + allowed] if math.isfinite(base + allowed) else []
    shown = [*values, *band, *(v for _, v in limits)] or [0.0]  # limits are always in view
    y_low, y_high = _span(min(shown), max(shown), 0.08)
    first, last = min(times, default=0.0), max(times, default=0.0)
    if last - first < 1.0:  # readings within a second: a minute around them
        first, last = first - 30.0, last + 30.0
    x_low, x_high = _span(first, last, 0.04)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(t: float) -> float:
        return round(LEFT + (t - x_low) / (x_high - x_low) * inner_w, 1)

    def py(v: float) -> float:
        return round(TOP + inner_h - (v - y_low) / (y_high - y_low) * inner_h, 1)

    factor, prefixed = scale_for(max(abs(y_low), abs(y_high)), unit)
    ticks = nice_ticks(y_low, y_high, 5)
    step = (ticks[1] - ticks[0]) / factor if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    y_ticks = [Tick(py(v), f"{v / factor + 0.0:.{decimals}f}") for v in ticks]
    markers = [
        Marker(px(p.time), py(p.value), p.role, _marker_label(p, unit)) for p in trend.points
    ]
    order = {"history": 0, "baseline": 1, "run": 2}  # the compared runs drawn on top
    markers.sort(key=lambda m: order.get(m.role, 0))
    history = len(trend.of("history"))
    return TrendPlot(
        title=f"{change.name} in {change.test_id}",
        markers=markers,
        x_ticks=[Tick(px(t), label) for t, label in _time_ticks(x_low, x_high)],
        y_ticks=y_ticks,
        y_label=f"{change.name} ({prefixed})" if prefixed else change.name,
        band=(py(band[1]), py(band[0])) if band else None,
        baseline_y=py(base) if math.isfinite(base) else None,
        limit_lines=[Tick(py(v), f"{n} {format_eng(v, unit)}") for n, v in limits],
        caption=(
            f"{len(trend.points)} readings: {history} from earlier runs in the catalog, "
            f"{len(trend.of('baseline'))} of the baseline, {len(trend.of('run'))} of the run"
        ),
    )


def _limits(readings: Readings | None) -> list[tuple[str, float]]:
    if readings is None:
        return []
    return [("low limit", readings.low), ("high limit", readings.high)]


def _marker_label(point: TrendPoint, unit: str) -> str:
    whose = {"baseline": "baseline", "run": "run"}.get(point.role, point.path)
    serial = point.serial or "no serial"
    return f"{format_eng(point.value, unit)}, {serial}, {_when(point.time)} ({whose})"


def _percent(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * 100:+.2f} %"


def _sigmas(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:+.1f} σ"


def _reading(readings: Readings | None, unit: str) -> str:
    if readings is None:
        return "—"
    text = format_eng(readings.mean, unit)
    if readings.count > 1 and readings.std is not None:
        text += f" ± {format_eng(readings.std, unit, 2)} (n={readings.count})"
    if readings.unreadable:
        text += f", {readings.unreadable} not a number"
    return text


def _shift(change: ParameterChange) -> str:
    if change.shift is None:
        return "—"
    sign = "+" if change.shift > 0 else ""
    return sign + format_eng(change.shift, change.unit)


def _allowed(change: ParameterChange) -> str:
    if change.allowance is None:
        return "—"
    if not change.allowance.by:
        return "± 0 (no bound applies)"
    return f"± {format_eng(change.allowance.shift, change.unit)} ({change.allowance.by})"


def parameter_row(change: ParameterChange) -> dict[str, Any]:
    """One row of the parameter table, as text."""
    return {
        "test_id": change.test_id,
        "name": change.name,
        "baseline": _reading(change.baseline, change.unit),
        "run": _reading(change.run, change.unit),
        "shift": _shift(change),
        "relative": _percent(change.relative),
        "sigma": _sigmas(change.sigma),
        "allowed": _allowed(change),
        "tolerance": change.tolerance.describe(lambda v: format_eng(v, change.unit)) or "none",
        "source": change.tolerance.source,
        "status": change.status,
        "regression": change.regression,
    }


def _side(side: RunSide, role: str) -> dict[str, str]:
    return {
        "role": role,
        "name": side.name,
        "path": str(side.path),
        "run_id": side.run_id,
        "serial_number": side.serial_number,
        "start_time": side.start_time,
        "outcome": side.outcome,
    }


def page_context(comparison: Comparison, trends: list[Trend], notes: list[str]) -> dict[str, Any]:
    """Everything the template shows, as plain values."""
    ordered = sorted(comparison.parameters, key=lambda p: (not p.regression, p.status == "same"))
    counts: dict[str, int] = {}
    for change in comparison.parameters:
        counts[change.status] = counts.get(change.status, 0) + 1
    regressed = comparison.regressed
    return {
        "part": comparison.run.part,
        "banner": "REGRESSION" if regressed else "NO REGRESSION",
        "banner_class": "fail" if regressed else "pass",
        "regressions": len(comparison.regressions),
        "sides": [_side(comparison.baseline, "Baseline"), _side(comparison.run, "Run")],
        "counts": sorted(counts.items()),
        "parameters": [parameter_row(p) for p in ordered],
        "tests": [t for t in comparison.tests if t.status != "same"],
        "same_tests": sum(t.status == "same" for t in comparison.tests),
        "trends": [trend_plot(t) for t in trends],
        "notes": [*comparison.notes, *notes],
        "generated": utc_now(),
        "version": __version__,
    }


def render_compare_page(
    comparison: Comparison, trends: list[Trend], notes: list[str] | None = None
) -> str:
    """The page of `comparison` with `trends` as HTML text."""
    return TEMPLATES.get_template("compare.html.j2").render(
        page_context(comparison, trends, notes or [])
    )


def write_text_atomically(text: str, target: str | os.PathLike[str], what: str) -> Path:
    """Write `text` to `target` under a temporary name, then rename it: a reader sees the old
    file or the whole new one, never a part. A ResultFileError names the file when it fails."""
    target = Path(target)
    try:
        with replacing(target) as temporary:
            temporary.write_text(text, encoding="utf-8", errors="replace")
    except OSError as exc:  # a full disk, a folder without write permission, a folder as target
        raise ResultFileError(f"{target}: cannot write the {what}: {exc.strerror or exc}") from exc
    return target


def write_compare_page(
    comparison: Comparison,
    trends: list[Trend],
    target: str | os.PathLike[str],
    notes: list[str] | None = None,
) -> Path:
    """Write the page of `comparison` to `target` (see `write_text_atomically`)."""
    return write_text_atomically(
        render_compare_page(comparison, trends, notes), target, "comparison page"
    )
