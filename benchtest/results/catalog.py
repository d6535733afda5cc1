"""`Catalog(folder)`: every run file under a folder, indexed in an embedded SQLite database.

The index (`.benchtest-catalog.sqlite3` in the folder unless told otherwise) is brought up to
date incrementally: a file is read again only when its size or modification time changed.
It answers the questions trend plots and baseline comparisons start from, such as all values
of a parameter for a part between two dates by serial number, or the pass rate per plan per
night. A file that cannot be read is skipped, and the reason is kept (`Catalog.skipped`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from benchtest.results.catalog_sql import SCHEMA, VALUES_DTYPE
from benchtest.results.records import Closing
from benchtest.results.run import Run, open_run
from benchtest.runfile.tables import decode_table
from benchtest.values.errors import ResultFileError

INDEX_NAME = ".benchtest-catalog.sqlite3"

Moment = datetime | date | str | float | None


class IndexReport(NamedTuple):
    """What one `Catalog.update()` did."""

    added: int
    updated: int
    removed: int
    unchanged: int
    skipped: int


class PassRate(NamedTuple):
    """Outcomes of the tests of one plan in the runs of one night."""

    night: str  # YYYY-MM-DD: the evening the night started
    plan: str  # the test file, e.g. test_plans/ldo/test_ldo.py
    passed: int
    failed: int
    errors: int
    skipped: int
    incomplete: int
    rate: float  # passed / (passed + failed + errors); NaN when none ran


def _seconds(moment: Moment, default: float) -> float:
    """Seconds since the epoch (UTC) of a datetime, date (midnight UTC), ISO text or number."""
    if moment is None:
        return default
    if isinstance(moment, float | int):
        return float(moment)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:  # naive times are UTC, like every time in a run file
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso_seconds(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


class Catalog(Closing):
    """The run files under `folder`, indexed; `update()` runs on creation unless told not to."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        index: str | os.PathLike[str] | None = None,
        *,
        update: bool = True,
        night_starts_at_hour: int = 12,
    ) -> None:
        self.folder = Path(folder)
        self.index_path = Path(index) if index is not None else self.folder / INDEX_NAME
        self.night_starts_at_hour = night_starts_at_hour
        try:
            self._db = sqlite3.connect(self.index_path)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ResultFileError(
                f"{self.index_path}: cannot open the catalog index: {exc}"
            ) from exc
        if update:
            self.update()

    # -- indexing ---------------------------------------------------------------------------

    def _files_on_disk(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for directory, _, names in os.walk(self.folder):
            for name in names:
                if name.endswith((".h5", ".hdf5")):
                    path = os.path.join(directory, name)
                    stat = os.stat(path)
                    key = Path(os.path.relpath(path, self.folder)).as_posix()
                    found[key] = (stat.st_size, stat.st_mtime_ns)
        return found

    def update(self) -> IndexReport:
        """Index new and changed files, forget removed ones; what was done."""
        known = {
            p: (s, m) for p, s, m in self._db.execute("SELECT path, size, mtime_ns FROM files")
        }
        on_disk = self._files_on_disk()
        removed = [p for p in known if p not in on_disk]
        changed = [p for p, stamp in on_disk.items() if known.get(p) != stamp]
        skipped = 0
        try:
            with self._db:
                for path in removed:
                    self._forget(path)
                for path in changed:
                    self._forget(path)
                    skipped += not self._index(path, on_disk[path])
        except sqlite3.Error as exc:  # a full disk, a read-only folder
            raise ResultFileError(
                f"{self.index_path}: cannot update the catalog index: {exc}"
            ) from exc
        added = sum(p not in known for p in changed)
        return IndexReport(
            added, len(changed) - added, len(removed), len(on_disk) - len(changed), skipped
        )

    def _forget(self, path: str) -> None:
        row = self._db.execute("SELECT run FROM files WHERE path = ?", (path,)).fetchone()
        if row is not None and row[0] is not None:
            for table in ("measurements", "tests", "runs"):
                column = "id" if table == "runs" else "run"
                self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (row[0],))
        self._db.execute("DELETE FROM files WHERE path = ?", (path,))

    def _index(self, path: str, stamp: tuple[int, int]) -> bool:
        """Index one file; False (and the reason recorded) when it cannot be read."""
        try:
            with open_run(self.folder / path) as run:
                run_key = self._insert_run(path, run)
                problem = "; ".join(run.problems)
        except ResultFileError as exc:
            self._db.execute(
                "INSERT INTO files VALUES (?, ?, ?, NULL, ?)", (path, *stamp, str(exc))
            )
            return False
        self._db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?)", (path, *stamp, run_key, problem)
        )
        return True

    def _insert_run(self, path: str, run: Run) -> int:
        meta = run.metadata
        start = _iso_seconds(str(meta.get("start_time", "")))
        cursor = self._db.execute(
            "INSERT INTO runs (path, run_id, part, serial, lot, station, operator, start, "
            "start_time, end_time, outcome, schema_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (path, *(str(meta.get(k, "")) for k in ("run_id", "part", "serial_number", "lot",
             "station", "operator")), start, str(meta.get("start_time", "")),
             str(meta.get("end_time", "")), run.outcome, run.schema_version),
        )  # fmt: skip
        key = int(cursor.lastrowid or 0)
        self._db.executemany(
            "INSERT INTO tests VALUES (?, ?, ?, ?, ?)",
            [(key, t.id, t.id.partition("::")[0], t.outcome, t.duration) for t in run.tests],
        )
        m = run.measurements
        part, serial = str(meta.get("part", "")), str(meta.get("serial_number", ""))
        times = np.where(np.isfinite(m["timestamp"]), m["timestamp"], start or np.nan)
        self._db.executemany(
            "INSERT INTO measurements VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            zip([key] * len(m), m["test_id"].tolist(), m["name"].tolist(), m["value"].tolist(),
                m["unit"].tolist(), m["low"].tolist(), m["high"].tolist(),
                m["outcome"].tolist(), times.tolist(), [part] * len(m), [serial] * len(m),
                strict=True),
        )  # fmt: skip
        return key

    # -- queries ----------------------------------------------------------------------------

    def values(
        self,
        parameter: str,
        part: str | None = None,
        start: Moment = None,
        end: Moment = None,
        serial: str | None = None,
    ) -> npt.NDArray[Any]:
        """Every value of `parameter` (optionally of one part / serial number) measured in
        [start, end), by serial number, then time: a numpy structured array."""
        sql = (
            "SELECT m.serial, m.time, m.value, m.unit, m.low, m.high, m.outcome, m.test_id, "
            "r.path FROM measurements m JOIN runs r ON r.id = m.run "
            "WHERE m.name = ? AND m.time >= ? AND m.time < ?"
        )
        args: list[Any] = [parameter, _seconds(start, -np.inf), _seconds(end, np.inf)]
        for column, value in (("m.part", part), ("m.serial", serial)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        rows = self._db.execute(sql + " ORDER BY m.serial, m.time", args).fetchall()
        return decode_table(np.array([tuple(r) for r in rows], dtype=VALUES_DTYPE))

    def pass_rate(
        self, part: str | None = None, start: Moment = None, end: Moment = None
    ) -> list[PassRate]:
        """Per night and plan: how many tests passed, failed, ... in the runs started then."""
        shift = f"-{self.night_starts_at_hour} hours"
        sql = (
            "SELECT date(r.start, 'unixepoch', ?) AS night, t.plan, "
            "SUM(t.outcome = 'passed'), SUM(t.outcome = 'failed'), SUM(t.outcome = 'error'), "
            "SUM(t.outcome = 'skipped'), SUM(t.outcome = 'incomplete') "
            "FROM tests t JOIN runs r ON r.id = t.run WHERE r.start >= ? AND r.start < ?"
        )
        args: list[Any] = [shift, _seconds(start, -np.inf), _seconds(end, np.inf)]
        if part is not None:
            sql += " AND r.part = ?"
            args.append(part)
        rows = self._db.execute(sql + " GROUP BY night, t.plan ORDER BY night, t.plan", args)
        result = []
        for night, plan, passed, failed, errors, skipped, incomplete in rows:
            judged = passed + failed + errors
            rate = passed / judged if judged else float("nan")
            result.append(PassRate(night, plan, passed, failed, errors, skipped, incomplete, rate))
        return result

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that could not be read."""
        sql = "SELECT path, problem FROM files WHERE run IS NULL ORDER BY path"
        return [(str(p), str(r)) for p, r in self._db.execute(sql)]

    def runs(self) -> Iterator[tuple[str, str, str, str]]:
        """(path, part, serial number, start time) of every indexed run."""
        sql = "SELECT path, part, serial, start_time FROM runs ORDER BY start"
        yield from self._db.execute(sql)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self) -> None:
        self._db.close()
