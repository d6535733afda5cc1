"""Trends: a parameter's values over the runs of a catalog, for the parameters a comparison
judged, with the baseline's and the run's own readings marked.

The history comes from `Catalog.values` (the same part, the same test); the two compared runs
come from the comparison itself, so they are shown even when they lie outside the folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchtest.results import Catalog
from benchtest.review.compare import Comparison, ParameterChange, Readings, RunSide
from benchtest.values.errors import ResultFileError

#: The most history points one trend shows: the newest ones.
MAX_HISTORY = 1000


@dataclass(frozen=True)
class TrendPoint:
    """One reading: when (s since the epoch, UTC), its value, and whose it is."""

    time: float
    value: float
    serial: str
    path: str  # the run file (relative to the catalog's folder for history points)
    role: str  # "history", "baseline" or "run"


@dataclass(frozen=True)
class Trend:
    """The values of one parameter of one test over runs, oldest first."""

    change: ParameterChange
    points: tuple[TrendPoint, ...]

    def of(self, role: str) -> list[TrendPoint]:
        return [p for p in self.points if p.role == role]


def _relative(path: Path, folder: Path) -> str | None:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def _own(readings: Readings | None, side: RunSide, role: str) -> list[TrendPoint]:
    """The readings of one of the two compared runs as points."""
    if readings is None:
        return []
    return [
        TrendPoint(float(t), float(v), side.serial_number, str(side.path), role)
        for t, v in zip(readings.times.tolist(), readings.values.tolist(), strict=True)
    ]


def trends(
    comparison: Comparison, folder: Path | None, changes: Iterable[ParameterChange]
) -> tuple[list[Trend], list[str]]:
    """The trend of each of `changes` from the catalog of `folder` (None: the two runs only),
    and notes on what could not be read."""
    notes: list[str] = []
    catalog = None
    if folder is not None:
        try:
            catalog = Catalog(folder)
        except ResultFileError as exc:
            notes.append(f"no history for the trends: {exc}")
    base, run = comparison.baseline, comparison.run
    try:
        result = []
        for change in changes:
            points = [*_own(change.baseline, base, "baseline"), *_own(change.run, run, "run")]
            if catalog is not None:
                compared = {_relative(side.path, catalog.folder) for side in (base, run)}
                points += _history(catalog, run.part, change, compared)
            points.sort(key=lambda p: p.time)
            result.append(Trend(change, tuple(points)))
        return result, notes
    finally:
        if catalog is not None:
            catalog.close()


def _history(
    catalog: Catalog, part: str, change: ParameterChange, compared: set[str | None]
) -> list[TrendPoint]:
    """The readings of the parameter in the catalog's other runs of `part`: the newest
    MAX_HISTORY."""
    rows = catalog.values(change.name, part=part)
    keep = (rows["test_id"] == change.test_id) & np.isfinite(rows["value"])
    keep &= ~np.isin(rows["path"], [p for p in compared if p is not None])
    keep &= np.isfinite(rows["time"])
    rows = rows[keep]
    if len(rows) > MAX_HISTORY:
        rows = rows[np.argsort(rows["time"], kind="stable")[-MAX_HISTORY:]]
    return [
        TrendPoint(float(t), float(v), str(s), str(p), "history")
        for t, v, s, p in zip(
            rows["time"].tolist(), rows["value"].tolist(), rows["serial"].tolist(),
            rows["path"].tolist(), strict=True,
        )
    ]  # fmt: skip
