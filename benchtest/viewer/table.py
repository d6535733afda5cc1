"""The measurement table (Qt): value, limits, margin and outcome per measurement, sortable.

Numbers show with SI prefixes but sort by value (margins by their share of the limits, so
that margins in different units compare); the outcome cell has its outcome's colour,
and a row out of limits is tinted.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui, QtWidgets

import benchtest.viewer.qtguard  # noqa: F401  (before any Qt drawing)
from benchtest.results import TestRecord
from benchtest.viewer.measurements import COLUMNS, Row, rows_of
from benchtest.viewer.runs import outcome_colour
from benchtest.viewer.units import si

_NUMERIC = frozenset({"value", "low", "high", "margin"})
_SORT = QtCore.Qt.ItemDataRole.UserRole


class _Cell(QtWidgets.QTableWidgetItem):
    """A cell that sorts by its number (NaN last) when it has one, else by its text."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT), other.data(_SORT)
        if isinstance(mine, float) and isinstance(theirs, float):
            return (math.isnan(mine), mine) < (math.isnan(theirs), theirs)
        return self.text() < other.text()


class MeasurementTable(QtWidgets.QTableWidget):
    """The measurements of some tests, one row each."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setSortingEnabled(True)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.rows: list[Row] = []

    def show_tests(self, tests: list[TestRecord]) -> None:
        self.show_rows(rows_of(tests))

    def show_rows(self, rows: list[Row]) -> None:
        self.setSortingEnabled(False)
        self.rows = rows
        self.setRowCount(len(rows))
        failing = QtGui.QColor("#fdecea")
        for r, row in enumerate(rows):
            out = row.outcome.lower() in ("fail", "failed")
            for c, column in enumerate(COLUMNS):
                value = row.cell(column)
                cell = _Cell(self._text(column, value, row.unit))
                if column == "margin" and not math.isnan(row.relative_margin):
                    cell.setText(f"{cell.text()} ({row.relative_margin:+.0%})")
                if column in _NUMERIC:
                    # margins in different units sort by their share of the limits
                    key = row.relative_margin if column == "margin" else float(value)
                    cell.setData(_SORT, key)
                    cell.setTextAlignment(
                        QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
                    )
                if column == "outcome":
                    cell.setForeground(QtGui.QColor(outcome_colour(row.outcome)))
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                if out:
                    cell.setBackground(failing)
                self.setItem(r, c, cell)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()

    @staticmethod
    def _text(column: str, value: float | str, unit: str) -> str:
        if column not in _NUMERIC:
            return str(value)
        number = float(value)
        if math.isnan(number):
            return "—"
        return si(number, unit)

    def column_texts(self, column: str) -> list[str]:
        """The texts of `column` from top to bottom, as shown (sorted or not)."""
        c = COLUMNS.index(column)
        cells = [self.item(r, c) for r in range(self.rowCount())]
        return [cell.text() if cell is not None else "" for cell in cells]
