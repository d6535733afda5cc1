"""The plots of the viewer (Qt, pyqtgraph): waveforms against time, and sweeps with limits.

A waveform plot draws each curve from its `Envelope`: whenever the visible time range or the
plot's width changes, it asks for the samples in view (or their min/max per pixel) and draws
only those. Two cursors read time and value where they stand; the analysis marks (rise time,
overshoot, settling) are drawn on the first curve. Several curves on one plot are an overlay
(units, runs, a baseline dashed). Every plot exports as PNG or SVG and its shown data as CSV.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

import benchtest.viewer.qtguard  # noqa: F401  (before any Qt drawing)
from benchtest.results import StoredSweep, StoredWaveform
from benchtest.values.errors import ResultFileError
from benchtest.viewer.csvfile import ExportError, Series, write_csv
from benchtest.viewer.envelope import Envelope, Trace
from benchtest.viewer.marks import Marks, analyse
from benchtest.viewer.units import si

#: Colours of overlaid curves, in turn (colour-blind-safe, Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
LIMIT_COLOUR = "#c62828"
MARK_COLOUR = "#6a1b9a"


def colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


@dataclass
class Curve:
    """One waveform on a plot: its envelope, the item drawing it and what it shows now."""

    label: str
    envelope: Envelope
    unit: str
    item: Any  # pg.PlotDataItem
    shown: Trace | None = None


class Plot(QtWidgets.QWidget):
    """A pyqtgraph plot with a readout line under it, and the exports every plot has."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.graph: Any = pg.PlotWidget(background="w")
        self.item: Any = self.graph.getPlotItem()
        self.item.showGrid(x=True, y=True, alpha=0.25)
        self.legend: Any = self.item.addLegend(offset=(10, 10))
        self.readout = QtWidgets.QLabel("")
        self.readout.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graph, 1)
        layout.addWidget(self.readout)

    def series(self) -> list[Series]:
        """The curves as drawn (none on an empty plot; each kind of plot says what it drew)."""
        return []

    def _write_svg(self, path: Path) -> None:
        """The plot as vector graphics, drawn by Qt's SVG generator (pyqtgraph's SVG exporter
        cannot read the paths Qt 6.8 and later write)."""
        size = self.graph.size()
        generator = QtSvg.QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(size)
        generator.setViewBox(QtCore.QRect(0, 0, size.width(), size.height()))
        generator.setTitle("benchtest plot")
        painter = QtGui.QPainter()
        if not painter.begin(generator):
            raise OSError("cannot start drawing the SVG")
        try:
            self.graph.render(painter)
        finally:
            painter.end()

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        """The data shown (the points drawn), one row per point."""
        return write_csv(path, self.series())

    def export_image(self, path: str | os.PathLike[str]) -> Path:
        """The plot as PNG or SVG, by the suffix of `path`; written whole or not at all."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".png", ".svg"):
            raise ExportError(f"{target}: export as .png or .svg, not {suffix or 'no suffix'}")
        partial = target.with_name(f".{target.stem}.partial{suffix}")
        try:
            if suffix == ".svg":
                self._write_svg(partial)
            else:
                pyqtgraph.exporters.ImageExporter(self.item).export(str(partial))
            if not partial.is_file():
                raise OSError("nothing was written")
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ExportError(f"{target}: cannot write: {exc}") from exc
        return target


class WaveformPlot(Plot):
    """Waveforms against time, drawn from their envelopes, with two cursors."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.curves: list[Curve] = []
        self.marks: Marks | None = None
        self.note = ""
        self._mark_items: list[Any] = []
        self.item.setLabel("bottom", "time", units="s")
        self.item.setClipToView(False)  # the envelope already holds only what is in view
        self.view: Any = self.item.getViewBox()
        self.view.sigXRangeChanged.connect(self._range_changed)
        self.view.sigResized.connect(self._range_changed)
        pen = pg.mkPen("#444444", width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.cursors: list[Any] = [pg.InfiniteLine(angle=90, movable=True, pen=pen) for _ in "ab"]
        for cursor in self.cursors:
            cursor.sigPositionChanged.connect(self.update_readout)
        self.redraws = 0

    def show_waveforms(
        self, waveforms: list[tuple[str, StoredWaveform]], *, dashed: frozenset[int] = frozenset()
    ) -> None:
        """Draw `waveforms` (label, waveform) on one plot, the full record in view; those
        numbered in `dashed` (baselines) with dashed lines. One waveform gets its marks."""
        self.clear()
        for k, (label, waveform) in enumerate(waveforms):
            style = QtCore.Qt.PenStyle.DashLine if k in dashed else QtCore.Qt.PenStyle.SolidLine
            item = self.item.plot([], [], pen=pg.mkPen(colour(k), width=1, style=style), name=label)
            self.curves.append(Curve(label, Envelope(waveform), waveform.unit, item))
        units = {c.unit for c in self.curves}
        unit = units.pop() if len(units) == 1 else ""
        name = waveforms[0][0] if len(waveforms) == 1 else "value"
        self.item.setLabel("left", name, units=unit)
        if len(waveforms) == 1:
            self.marks, self.note = analyse(waveforms[0][1])
        self.home()
        self._draw_marks()
        start, stop = self.view.viewRange()[0]
        for cursor, where in zip(self.cursors, (0.25, 0.75), strict=True):
            cursor.setValue(start + where * (stop - start))
            self.item.addItem(cursor, ignoreBounds=True)
        self.update_readout()

    def clear(self) -> None:
        for cursor in self.cursors:
            self.item.removeItem(cursor)
        for item in self._mark_items:
            self.item.removeItem(item)
        self._mark_items = []
        for curve in self.curves:
            self.item.removeItem(curve.item)
        self.curves = []
        self.marks, self.note = None, ""
        self.legend.clear()

    def home(self) -> None:
        """Every record whole in view, its full value range shown."""
        if not self.curves:
            return
        starts, stops = zip(*(c.envelope.duration for c in self.curves), strict=True)
        self.view.enableAutoRange(x=False, y=False)
        self.set_time_range(min(starts), max(stops))
        lows = [float(np.min(c.shown.values)) for c in self.curves if c.shown and len(c.shown)]
        highs = [float(np.max(c.shown.values)) for c in self.curves if c.shown and len(c.shown)]
        if lows:
            self.view.setYRange(min(lows), max(highs), padding=0.05)

    def set_time_range(self, start: float, stop: float) -> None:
        """Show the time from `start` to `stop` (s), redrawing what is in view."""
        before = self.redraws
        self.view.setXRange(start, stop, padding=0.0)
        if self.redraws == before:  # the range did not change, so no signal redrew it
            self.redraw()

    def _range_changed(self, *args: object) -> None:
        self.redraw()

    def pixels(self) -> int:
        return max(int(self.view.width()), 100)

    def redraw(self) -> None:
        """Draw each curve's samples (or envelope) for the time in view."""
        if not self.curves:
            return
        start, stop = self.view.viewRange()[0]
        pixels = self.pixels()
        for curve in self.curves:
            try:
                trace = curve.envelope.view(start, stop, pixels)
            except ResultFileError as exc:  # a damaged part of the record: say so, draw the rest
                self.note = str(exc)
                self.readout.setText(self.note)
                continue
            curve.shown = trace
            curve.item.setData(trace.time, trace.values, connect="all")
        self.redraws += 1

    def value_at(self, curve: Curve, time: float) -> float:
        """The sample of `curve` nearest to `time` (read from the file: one sample); NaN
        outside the record or where it cannot be read."""
        envelope = curve.envelope
        index = round((time - envelope.t0) / envelope.dt)
        if not 0 <= index < envelope.size:
            return math.nan
        try:
            return float(envelope.physical(envelope.samples[index : index + 1])[0])
        except ResultFileError:
            return math.nan

    def cursor_values(self) -> tuple[float, float, float, float]:
        """(t1, t2, v1, v2): cursor times and the first curve's values there."""
        t1, t2 = (float(c.value()) for c in self.cursors)
        if not self.curves:
            return t1, t2, math.nan, math.nan
        return t1, t2, self.value_at(self.curves[0], t1), self.value_at(self.curves[0], t2)

    def update_readout(self, *args: object) -> None:
        if not self.curves:
            self.readout.setText(self.note)
            return
        t1, t2, v1, v2 = self.cursor_values()
        unit = self.curves[0].unit
        text = (
            f"t1 {si(t1, 's')}   t2 {si(t2, 's')}   Δt {si(t2 - t1, 's')}   "
            f"V1 {si(v1, unit)}   V2 {si(v2, unit)}   ΔV {si(v2 - v1, unit)}"
        )
        if len(self.curves) > 1:
            text += f"   (values of {self.curves[0].label})"

        if self.marks is not None:
            m = self.marks
            text += (
                f"   |   rise {si(m.rise_time, 's')}   overshoot {m.overshoot:.3g} %   "
                f"settled at {si(m.settled, 's')}"
            )
        elif self.note:
            text += f"   |   {self.note}"
        self.readout.setText(text)

    def _draw_marks(self) -> None:
        m = self.marks
        if m is None:
            return
        pen = pg.mkPen(MARK_COLOUR, width=1, style=QtCore.Qt.PenStyle.DotLine)
        rise = pg.LinearRegionItem(
            (m.rise_start, m.rise_end), movable=False, brush=pg.mkBrush(106, 27, 154, 40)
        )
        items: list[Any] = [rise]
        lines = (  # where, angle, label, label position along the line
            (m.peak, 0, f"overshoot {m.overshoot:.3g} %", 0.9),
            (m.settled, 90, f"settled {si(m.settled, 's')}", 0.1),
            (m.rise_end, 90, f"rise {si(m.rise_time, 's')}", 0.5),
        )
        for where, angle, label, position in lines:
            options = {"position": position, "color": MARK_COLOUR}
            items.append(
                pg.InfiniteLine(where, angle=angle, pen=pen, label=label, labelOpts=options)
            )
        for item in items:
            self.item.addItem(item, ignoreBounds=True)
        self._mark_items = items

    def series(self) -> list[Series]:
        return [
            Series(c.label, c.shown.time, c.shown.values, "s", c.unit)
            for c in self.curves
            if c.shown is not None
        ]


class SweepPlot(Plot):
    """Sweeps (y against x) with points, and their limits as horizontal lines."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.shown: list[Series] = []
        self.limits: list[float] = []
        self._items: list[Any] = []

    def show_sweeps(
        self, sweeps: list[tuple[str, StoredSweep]], *, dashed: frozenset[int] = frozenset()
    ) -> None:
        """Draw `sweeps` (label, sweep) on one plot, with the limits of the first."""
        for item in self._items:
            self.item.removeItem(item)
        self.legend.clear()
        self._items, self.shown, self.limits = [], [], []
        for k, (label, sweep) in enumerate(sweeps):
            x = np.asarray(sweep.x.values[...], dtype=np.float64)
            y = np.asarray(sweep.y.values[...], dtype=np.float64)
            style = QtCore.Qt.PenStyle.DashLine if k in dashed else QtCore.Qt.PenStyle.SolidLine
            item = self.item.plot(
                x, y, pen=pg.mkPen(colour(k), width=1, style=style), symbol="o", symbolSize=5,
                symbolBrush=colour(k), symbolPen=None, name=label,
            )  # fmt: skip
            self._items.append(item)
            self.shown.append(Series(label, x, y, sweep.x.unit, sweep.y.unit))
        if sweeps:
            first = sweeps[0][1]
            self.item.setLabel("bottom", first.x.name, units=first.x.unit)
            self.item.setLabel("left", first.y.name, units=first.y.unit)
            pen = pg.mkPen(LIMIT_COLOUR, width=1, style=QtCore.Qt.PenStyle.DashLine)
            for name, limit in (("low", first.low), ("high", first.high)):
                if limit is None:
                    continue
                line = pg.InfiniteLine(
                    limit,
                    angle=0,
                    pen=pen,
                    label=f"{name} {si(limit, first.y.unit)}",
                    labelOpts={"position": 0.05, "color": LIMIT_COLOUR},
                )
                self.item.addItem(line)
                self._items.append(line)
                self.limits.append(limit)
            worst = ", ".join(f"{label}: {s.outcome}" for label, s in sweeps)
            self.readout.setText(f"{len(first)} points; {worst}")
        self.item.enableAutoRange()

    def series(self) -> list[Series]:
        return list(self.shown)
