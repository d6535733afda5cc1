"""The viewer's main window (Qt): a browser of runs beside the plots and the measurement table.

The browser goes run → test → measurements, waveforms and sweeps, each coloured by outcome,
under a filter (failed only, parameter name, serial number, dates). Selecting one waveform
plots it with cursors and analysis marks; selecting several waveforms (or sweeps) from any
units and runs overlays them; "with baseline" adds the same record of the baseline run,
dashed. Runs still being written are followed: they are opened again when their file grows,
and the tests that finished appear. Files dropped on the window are opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

import benchtest.viewer.qtguard  # noqa: F401  (before any Qt drawing)
from benchtest.results import StoredSweep, StoredWaveform, TestRecord
from benchtest.values.errors import ResultFileError
from benchtest.viewer.csvfile import ExportError
from benchtest.viewer.plots import Plot, SweepPlot, WaveformPlot
from benchtest.viewer.runs import (
    Filter,
    Key,
    RunFile,
    find_runs,
    find_sweep,
    find_test,
    find_waveform,
    outcome_colour,
    same_record,
)
from benchtest.viewer.table import MeasurementTable

#: What a browser row holds (item data): ("run", path), ("test"|"measurements", path, index,
#: attempt), ("waveform"|"sweep", Key).
_DATA = QtCore.Qt.ItemDataRole.UserRole
#: Milliseconds between two looks at the runs being written.
FOLLOW_INTERVAL_MS = 500


class Browser(QtWidgets.QTreeWidget):
    """The tree of runs, tests and records."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["run / test / record", "outcome"])
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setColumnWidth(0, 360)

    def fill(self, entries: Iterable[RunFile], view: Filter) -> None:
        expanded = self._expanded()
        self.clear()
        for entry in entries:
            if not view.run_matches(entry):
                continue
            tests = view.tests(entry)
            if (view.failed_only or view.parameter) and entry.run is not None and not tests:
                continue
            run = self._row(None, entry.title, entry.outcome, ("run", str(entry.path)))
            if entry.problems:
                run.setToolTip(0, "\n".join(entry.problems))
            for test in tests:
                self._test_rows(run, entry, test)
            run.setExpanded(expanded.get(str(entry.path), True))

    def _test_rows(
        self, parent: QtWidgets.QTreeWidgetItem, entry: RunFile, test: TestRecord
    ) -> None:
        name = test.id.rsplit("::", 1)[-1] + (
            f"  (attempt {test.attempt})" if test.attempt > 1 else ""
        )
        where = (str(entry.path), test.index, test.attempt)
        row = self._row(parent, name, test.outcome, ("test", *where))
        if test.message:
            row.setToolTip(0, test.message)
        if len(test.measurements):
            failed = sum(str(o) in ("fail", "failed") for o in test.measurements["outcome"])
            outcome = "failed" if failed else "passed"
            self._row(
                row, f"measurements ({len(test.measurements)})", outcome, ("measurements", *where)
            )
        for wf in test.waveforms:
            self._row(row, f"waveform {wf}", "", ("waveform", Key.of(entry, test, wf)))
        for sweep_name, sweep in test.sweeps.items():
            self._row(
                row,
                f"sweep {sweep_name}",
                sweep.outcome,
                ("sweep", Key.of(entry, test, sweep_name)),
            )

    def _row(
        self,
        parent: QtWidgets.QTreeWidgetItem | None,
        text: str,
        outcome: str,
        data: tuple[object, ...],
    ) -> QtWidgets.QTreeWidgetItem:
        item = QtWidgets.QTreeWidgetItem([text, outcome])
        item.setData(0, _DATA, data)
        if outcome:
            brush = QtGui.QBrush(QtGui.QColor(outcome_colour(outcome)))
            item.setForeground(0, brush)
            item.setForeground(1, brush)
        if parent is None:
            self.addTopLevelItem(item)
        else:
            parent.addChild(item)
        return item

    def _tops(self) -> list[QtWidgets.QTreeWidgetItem]:
        items = (self.topLevelItem(k) for k in range(self.topLevelItemCount()))
        return [item for item in items if item is not None]

    def _expanded(self) -> dict[str, bool]:
        return {str(item.data(0, _DATA)[1]): item.isExpanded() for item in self._tops()}

    def rows(self) -> list[tuple[int, str, str, str]]:
        """Every row as (depth, text, outcome, colour), top to bottom: what the browser shows."""
        found: list[tuple[int, str, str, str]] = []

        def walk(item: QtWidgets.QTreeWidgetItem, depth: int) -> None:
            found.append((depth, item.text(0), item.text(1), item.foreground(0).color().name()))
            for k in range(item.childCount()):
                child = item.child(k)
                if child is not None:
                    walk(child, depth + 1)

        for top in self._tops():
            walk(top, 0)
        return found

    def row(self, text: str) -> QtWidgets.QTreeWidgetItem:
        """The first row whose text is `text` (for selecting from code)."""
        items = self.findItems(
            text, QtCore.Qt.MatchFlag.MatchExactly | QtCore.Qt.MatchFlag.MatchRecursive
        )
        if not items:
            raise LookupError(f"no row {text!r} in the browser")
        return items[0]


class FilterBar(QtWidgets.QWidget):
    """The browser's filter: failed only, parameter, serial number, from and to date."""

    changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.failed_only = QtWidgets.QCheckBox("failed only")
        self.parameter = QtWidgets.QLineEdit(placeholderText="parameter")
        self.serial = QtWidgets.QLineEdit(placeholderText="serial number")
        self.since = QtWidgets.QLineEdit(placeholderText="from YYYY-MM-DD")
        self.until = QtWidgets.QLineEdit(placeholderText="to YYYY-MM-DD")
        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.failed_only, 0, 0)
        layout.addWidget(self.parameter, 0, 1)
        layout.addWidget(self.serial, 0, 2)
        layout.addWidget(self.since, 1, 1)
        layout.addWidget(self.until, 1, 2)
        self.failed_only.toggled.connect(self.changed)
        for field in (self.parameter, self.serial, self.since, self.until):
            field.textChanged.connect(self.changed)

    def value(self) -> tuple[Filter, str]:
        """The filter, and what is wrong with it ("" when nothing): a bad date is ignored."""
        problems: list[str] = []
        dates: list[date | None] = []
        for field, name in ((self.since, "from"), (self.until, "to")):
            text = field.text().strip()
            try:
                dates.append(date.fromisoformat(text) if text else None)
                field.setStyleSheet("")
            except ValueError:
                dates.append(None)
                field.setStyleSheet("background: #fdecea")
                problems.append(f"filter: {name} date {text!r} is not YYYY-MM-DD; ignored")
        view = Filter(
            self.failed_only.isChecked(),
            self.parameter.text().strip(),
            self.serial.text().strip(),
            dates[0],
            dates[1],
        )
        return view, "; ".join(problems)


class ViewerWindow(QtWidgets.QMainWindow):
    """The viewer: browser and filter on the left; plots, table and problems on the right."""

    def __init__(self, follow_interval_ms: int = FOLLOW_INTERVAL_MS) -> None:
        super().__init__()
        self.setWindowTitle("benchtest viewer")
        self.setAcceptDrops(True)
        self.entries: dict[Path, RunFile] = {}
        self.baseline: RunFile | None = None
        self.shown: list[Key] = []
        self.filter_bar = FilterBar()
        self.browser = Browser()
        self.waveforms = WaveformPlot()
        self.sweeps = SweepPlot()
        self.table = MeasurementTable()
        self.problems = QtWidgets.QPlainTextEdit(readOnly=True)
        self.problems.setMaximumHeight(110)
        self.status = QtWidgets.QLabel("")
        self.with_baseline = QtWidgets.QCheckBox("with baseline")
        self.with_baseline.setEnabled(False)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.waveforms, "waveform")
        self.tabs.addTab(self.sweeps, "sweep")
        self.tabs.addTab(self.table, "measurements")
        left = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(left)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.filter_bar)
        column.addWidget(self.browser, 1)
        column.addWidget(self.with_baseline)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        right.addWidget(self.tabs)
        right.addWidget(self.problems)
        right.setStretchFactor(0, 5)
        split = QtWidgets.QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        self.setCentralWidget(split)
        self.statusBar().addWidget(self.status, 1)
        self._menus()
        self.filter_bar.changed.connect(self.refill)
        self.browser.itemSelectionChanged.connect(self.show_selection)
        self.with_baseline.toggled.connect(self.show_selection)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(follow_interval_ms)
        self.timer.timeout.connect(self.follow)
        self.timer.start()

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        actions = (
            ("Open run files…", self._ask_open),
            ("Open folder…", self._ask_folder),
            ("Export plot as PNG…", lambda: self._ask_export("PNG image (*.png)", ".png")),
            ("Export plot as SVG…", lambda: self._ask_export("SVG image (*.svg)", ".svg")),
            ("Export shown data as CSV…", lambda: self._ask_export("CSV (*.csv)", ".csv")),
            ("Verify selected run", self.verify_selected),
        )
        for text, slot in actions:
            file.addAction(text).triggered.connect(slot)

    # -- opening -----------------------------------------------------------------------------

    def open_paths(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Open the run files `paths` name (files, folders, catalogs) and list them."""
        found, problems = find_runs(paths)
        for path in found:
            if path not in self.entries:
                self.entries[path] = RunFile.open(path)
        self.refill()
        self._note_problems(problems)

    def set_baseline(self, path: str | os.PathLike[str]) -> None:
        """The run the "with baseline" overlay compares with."""
        self.baseline = RunFile.open(path)
        self.with_baseline.setEnabled(self.baseline.run is not None)
        self._note_problems([])

    def refill(self) -> None:
        view, problem = self.filter_bar.value()
        blocked = self.browser.blockSignals(True)  # a refill is no new selection
        try:
            self.browser.fill(self.entries.values(), view)
        finally:
            self.browser.blockSignals(blocked)
        self.status.setText(problem)
        self._note_problems([])

    def _note_problems(self, extra: list[str]) -> None:
        lines = list(extra)
        for entry in [*self.entries.values(), *([self.baseline] if self.baseline else [])]:
            lines.extend(entry.problems)
        self.problems.setPlainText(
            "\n".join(lines) if lines else "No problems: every file read whole."
        )

    # -- following runs being written ----------------------------------------------------------

    def follow(self) -> list[Path]:
        """Open again the runs being written whose files changed; returns their paths."""
        changed = [e for e in self.entries.values() if (e.live or e.run is None) and e.changed()]
        if not changed:
            return []
        for entry in changed:
            entry.load(verify=False)  # a file being written has no seal yet
            if entry.run is not None and not entry.live:
                entry.load()  # it has finished: check its seal (by its size, see RunFile)
        self.refill()
        self._replot()
        return [e.path for e in changed]

    def _replot(self) -> None:
        """Plot again what was shown (its run was opened again)."""
        if self.shown:
            self._plot_keys(list(self.shown))

    # -- showing ------------------------------------------------------------------------------

    def show_selection(self) -> None:
        selected = [item.data(0, _DATA) for item in self.browser.selectedItems()]
        keys = [d[1] for d in selected if d[0] in ("waveform", "sweep")]
        if keys:
            self._plot_keys(keys)
            return
        tests: list[TestRecord] = []
        for data in selected:
            if data[0] in ("test", "measurements"):
                test = find_test(self.entries[Path(data[1])], data[2], data[3])
                if test is not None:
                    tests.append(test)
            elif data[0] == "run":
                tests.extend(self.entries[Path(data[1])].tests)
        self.table.show_tests(tests)
        self.tabs.setCurrentWidget(self.table)

    def _plot_keys(self, keys: list[Key]) -> None:
        self.shown = keys
        waves: list[tuple[str, StoredWaveform]] = []
        sweeps: list[tuple[str, StoredSweep]] = []
        labels = self._labels(keys)
        for key in keys:
            entry = self.entries.get(key.path)
            if entry is None:
                continue
            label = labels[key]
            wf = find_waveform(entry, key)
            sweep = find_sweep(entry, key)
            if wf is not None:
                waves.append((label, wf))
            elif sweep is not None:
                sweeps.append((label, sweep))
        dashed: set[int] = set()
        if self.with_baseline.isChecked() and self.baseline is not None and keys:
            first = self.entries.get(keys[0].path)
            test = find_test(first, keys[0].test_index, keys[0].attempt) if first else None
            other = same_record(self.baseline, test.id, keys[0].name) if test else None
            if other is None:
                self.status.setText(f"the baseline has no {keys[0].name!r} in this test")
            else:
                label = f"baseline {self.baseline.serial or self.baseline.path.name}"
                bwf, bsweep = find_waveform(self.baseline, other), find_sweep(self.baseline, other)
                if bwf is not None and waves:
                    dashed.add(len(waves))
                    waves.append((label, bwf))
                elif bsweep is not None and sweeps:
                    dashed.add(len(sweeps))
                    sweeps.append((label, bsweep))
        try:
            if waves:
                self.waveforms.show_waveforms(waves, dashed=frozenset(dashed))
                self.tabs.setCurrentWidget(self.waveforms)
            elif sweeps:
                self.sweeps.show_sweeps(sweeps, dashed=frozenset(dashed))
                self.tabs.setCurrentWidget(self.sweeps)
        except ResultFileError as exc:  # a record whose metadata or samples cannot be read
            self.status.setText(str(exc))

    def _labels(self, keys: list[Key]) -> dict[Key, str]:
        """Legend labels: the record's name alone, or with its unit's serial number when
        several are shown (and the file's name where serial numbers repeat)."""
        if len(keys) == 1:
            return {keys[0]: keys[0].name}
        units = {
            k: self.entries[k.path].serial or k.path.stem for k in keys if k.path in self.entries
        }
        labels = {k: f"{units[k]} {k.name}" for k in units}
        repeated = {label for label in labels.values() if list(labels.values()).count(label) > 1}
        return {
            k: f"{label} ({k.path.name})" if label in repeated else label
            for k, label in labels.items()
        }

    def current_plot(self) -> Plot:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, Plot) else self.waveforms

    # -- menu actions ----------------------------------------------------------------------------

    def _ask_open(self) -> None:
        names, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open run files", "", "Run files (*.h5)"
        )
        self.open_paths(names)

    def _ask_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of runs")
        if folder:
            self.open_paths([folder])

    def _ask_export(self, kind: str, suffix: str) -> None:
        name, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export", "", kind)
        if name:
            self.export(Path(name) if name.endswith(suffix) else Path(name + suffix))

    def export(self, path: Path) -> Path | None:
        """Export the current plot (PNG, SVG) or its data (CSV) to `path`, by its suffix."""
        plot = self.current_plot()
        try:
            done = (
                plot.export_csv(path) if path.suffix.lower() == ".csv" else plot.export_image(path)
            )
        except ExportError as exc:
            self.status.setText(str(exc))
            return None
        self.status.setText(f"exported {done}")
        return done

    def verify_selected(self) -> None:
        """Check the seal of the selected runs (reads each file whole)."""
        for item in self.browser.selectedItems():
            data = item.data(0, _DATA)
            entry = self.entries.get(Path(data[1])) if data[0] == "run" else None
            if entry is not None:
                entry.verify()
        self.refill()

    # -- drag and drop ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        self.open_paths(paths)
        event.acceptProposedAction()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.timer.stop()
        self.waveforms.clear()  # nothing may read from the files once they are closed
        self.sweeps.show_sweeps([])
        self.shown = []
        for entry in [*self.entries.values(), *([self.baseline] if self.baseline else [])]:
            entry.close()
        super().closeEvent(event)
