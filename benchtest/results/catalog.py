"""`Catalog(folder)`: every run file under a folder, indexed in an embedded SQLite database.

The index (`.benchtest-catalog.sqlite3` in the folder unless told otherwise) is brought up to
date incrementally: a file is read again only when its size or modification time changed.
It answers the questions trend plots and baseline comparisons start from, such as all values
of a parameter for a part between two dates by serial number, or the pass rate per plan per
night. A file that cannot be read is skipped, and the reason is kept (`Catalog.skipped`).
It also keeps the folder's named baselines (`promote_baseline`, `baseline`): every promotion
is kept, and the newest promotion of a name is that name's baseline.
"""

from __future__ import annotations

import getpass
import os
import re
import sqlite3
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from benchtest.results.catalog_sql import (
    BASELINES,
    CATALOG_VERSION,
    MIGRATIONS,
    PRAGMAS,
    SCHEMA,
    VALUES_DTYPE,
    statements,
)
from benchtest.results.lab_catalog import (
    Baseline as Baseline,  # re-exported: it was defined here first
)
from benchtest.results.lab_catalog import (
    Moment,
    NightlyValues,
    iso_seconds,
    moment_seconds,
)
from benchtest.results.records import Closing
from benchtest.results.run import Run, open_run
from benchtest.runfile.tables import decode_table
from benchtest.values.errors import BenchtestError, ResultFileError

INDEX_NAME = ".benchtest-catalog.sqlite3"
#: What a baseline name may be made of: it is typed on command lines and shown in reports.
BASELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
#: Run outcomes a baseline may not have: its record is not whole.
_NOT_A_BASELINE = ("damaged", "incomplete")


class BaselineError(BenchtestError):
    """A baseline that cannot be promoted or found: names the baseline, the file and why."""


def check_baseline_name(name: str) -> None:
    """Refuse a baseline name that is not 1 to 100 letters, digits, '_', '.' or '-'."""
    if not BASELINE_NAME.fullmatch(name):
        raise BaselineError(
            f"baseline name {name!r}: use 1 to 100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


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


class CatalogWarning(UserWarning):
    """Something about the catalog index that its user should know, though it still works."""


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
        try:  # SQLite takes an empty file for a new index: its baselines would vanish unsaid
            emptied = self.index_path.stat().st_size == 0
        except OSError:
            emptied = False
        try:
            self._db = sqlite3.connect(self.index_path)
        except sqlite3.Error as exc:
            raise ResultFileError(
                f"{self.index_path}: cannot open the catalog index: {exc}"
            ) from exc
        try:
            self._db.executescript(PRAGMAS)
            self._bring_up_to_date()
        except sqlite3.Error as exc:
            self._db.close()
            raise ResultFileError(
                f"{self.index_path}: cannot open the catalog index: {exc}"
            ) from exc
        except BaseException:
            self._db.close()
            raise
        if emptied:
            warnings.warn(
                CatalogWarning(
                    f"{self.index_path}: the catalog index was an empty file (truncated, or "
                    "made by a process killed as it began), so a new index was made: the run "
                    "files are indexed again, but baselines promoted in it before are lost"
                ),
                stacklevel=2,
            )
        if update:
            self.update()

    def _bring_up_to_date(self) -> None:
        """Create the index's tables, or migrate an older index; refuse a newer one."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # one process creates or migrates, the others wait
        try:
            made = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'catalog'"
            ).fetchone()
            row = db.execute("SELECT MAX(version) FROM catalog").fetchone() if made else None
            version = None if row is None or row[0] is None else int(row[0])
            if version is None:
                for statement in statements(SCHEMA + BASELINES):
                    db.execute(statement)
                db.execute("INSERT INTO catalog VALUES (?)", (CATALOG_VERSION,))
            elif version > CATALOG_VERSION:
                raise ResultFileError(
                    f"{self.index_path}: the catalog index is of version {version}, newer than "
                    f"this benchtest reads (up to {CATALOG_VERSION}); upgrade benchtest"
                )
            elif version < CATALOG_VERSION:
                for step in range(version, CATALOG_VERSION):
                    for statement in statements(MIGRATIONS[step]):
                        db.execute(statement)
                db.execute("UPDATE catalog SET version = ?", (CATALOG_VERSION,))
            db.commit()
        except BaseException:
            db.rollback()
            raise

    @property
    def version(self) -> int:
        """The version of the index's layout (`catalog_sql.CATALOG_VERSION` once open)."""
        return int(self._db.execute("SELECT MAX(version) FROM catalog").fetchone()[0])

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
        start = iso_seconds(str(meta.get("start_time", "")))
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
        args: list[Any] = [parameter, moment_seconds(start, -np.inf), moment_seconds(end, np.inf)]
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
        args: list[Any] = [shift, moment_seconds(start, -np.inf), moment_seconds(end, np.inf)]
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

    def nightly(
        self,
        parameter: str,
        part: str | None = None,
        bench: str | None = None,
        start: Moment = None,
        end: Moment = None,
    ) -> list[NightlyValues]:
        """The lab's history of `parameter`: its values by part, bench (station) and night of
        the runs started in [start, end), with how many were out of limits."""
        sql = (
            "SELECT r.part, r.station, date(r.start, 'unixepoch', ?) AS night, COUNT(m.value), "
            "AVG(m.value), MIN(m.value), MAX(m.value), SUM(m.outcome = 'fail') "
            "FROM measurements m JOIN runs r ON r.id = m.run "
            "WHERE m.name = ? AND r.start >= ? AND r.start < ?"
        )
        args: list[Any] = [f"-{self.night_starts_at_hour} hours", parameter]
        args += [moment_seconds(start, -np.inf), moment_seconds(end, np.inf)]
        for column, value in (("r.part", part), ("r.station", bench)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        sql += " GROUP BY r.part, r.station, night ORDER BY r.part, r.station, night"
        return [nightly_row(row) for row in self._db.execute(sql, args)]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that could not be read."""
        sql = "SELECT path, problem FROM files WHERE run IS NULL ORDER BY path"
        return [(str(p), str(r)) for p, r in self._db.execute(sql)]

    def runs(self) -> Iterator[tuple[str, str, str, str]]:
        """(path, part, serial number, start time) of every indexed run."""
        sql = "SELECT path, part, serial, start_time FROM runs ORDER BY start"
        yield from self._db.execute(sql)

    # -- baselines --------------------------------------------------------------------------

    def promote_baseline(
        self,
        name: str,
        run: str | os.PathLike[str],
        *,
        note: str = "",
        by: str | None = None,
        when: datetime | None = None,
    ) -> Baseline:
        """Make the run file `run` (a file under the folder) the baseline called `name`.

        The earlier promotions of `name` are kept (`baseline_history`); this one is the newest
        and so the baseline of that name from now on. A file the catalog cannot read, or whose
        run is damaged or incomplete, is refused with a BaselineError saying why.
        """
        check_baseline_name(name)
        key = self._key_of(Path(run))
        self.update()
        row = self._db.execute(
            "SELECT r.run_id, r.part, r.serial, r.start_time, r.outcome, f.problem "
            "FROM files f LEFT JOIN runs r ON r.id = f.run WHERE f.path = ?",
            (key,),
        ).fetchone()
        if row is None:
            raise BaselineError(f"{run}: not a run file (.h5 or .hdf5) of {self.folder}")
        run_id, part, serial, start_time, outcome, problem = row
        if run_id is None or outcome in _NOT_A_BASELINE:
            reason = problem or f"its run is {outcome}"
            raise BaselineError(f"{run}: cannot be the baseline {name!r}: {reason}")
        moment = (when or datetime.now(UTC)).astimezone(UTC).isoformat()
        who = by if by is not None else _login()
        baseline = Baseline(name, key, run_id, part, serial, start_time, moment, who, note)
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO baselines (name, path, run_id, part, serial, start_time, "
                    "promoted, promoted_by, note) VALUES (?,?,?,?,?,?,?,?,?)",
                    baseline,
                )
        except sqlite3.Error as exc:
            raise ResultFileError(
                f"{self.index_path}: cannot record the baseline {name!r}: {exc}"
            ) from exc
        return baseline

    def _key_of(self, run: Path) -> str:
        """The catalog's name of the file `run`: its path relative to the folder."""
        try:
            relative = run.resolve().relative_to(self.folder.resolve())
        except ValueError:
            raise BaselineError(
                f"{run}: not under the catalog folder {self.folder}; a baseline is a run file "
                "of that folder (move it there, or name the folder that holds it)"
            ) from None
        return relative.as_posix()

    def baseline(self, name: str) -> Baseline:
        """The newest promotion of `name`; a BaselineError naming the known ones if none."""
        sql = f"SELECT {_BASELINE_COLUMNS} FROM baselines WHERE name = ? ORDER BY id DESC"
        row = self._db.execute(sql, (name,)).fetchone()
        if row is None:
            known = ", ".join(b.name for b in self.baselines()) or "none yet"
            raise BaselineError(
                f"no baseline called {name!r} in the catalog of {self.folder} (known: {known})"
            )
        return Baseline(*row)

    def baseline_path(self, name: str) -> Path:
        """The run file of the baseline `name`, checked to be the run that was promoted."""
        baseline = self.baseline(name)
        path = self.folder / baseline.path
        self.update()
        row = self._db.execute("SELECT run_id FROM runs WHERE path = ?", (baseline.path,))
        found = row.fetchone()
        if found is None:
            raise BaselineError(
                f"baseline {name!r} (promoted {baseline.promoted}): its run file {path} is "
                "gone or cannot be read; promote another run"
            )
        if found[0] != baseline.run_id:
            raise BaselineError(
                f"baseline {name!r}: {path} now holds run {found[0]!r}, not the promoted run "
                f"{baseline.run_id!r}; promote the run again to use it"
            )
        return path

    def baselines(self) -> list[Baseline]:
        """The baseline of every name (its newest promotion), by name."""
        sql = (
            f"SELECT {_BASELINE_COLUMNS} FROM baselines WHERE id IN "
            "(SELECT MAX(id) FROM baselines GROUP BY name) ORDER BY name"
        )
        return [Baseline(*row) for row in self._db.execute(sql)]

    def baseline_history(self, name: str | None = None) -> list[Baseline]:
        """Every promotion (of `name`, or of all names), oldest first."""
        sql = f"SELECT {_BASELINE_COLUMNS} FROM baselines"
        rows = self._db.execute(
            sql + (" WHERE name = ? ORDER BY id" if name is not None else " ORDER BY id"),
            (name,) if name is not None else (),
        )
        return [Baseline(*row) for row in rows]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self) -> None:
        self._db.close()


_BASELINE_COLUMNS = "name, path, run_id, part, serial, start_time, promoted, promoted_by, note"


def nightly_row(row: tuple[Any, ...]) -> NightlyValues:
    """A `NightlyValues` from a query's row (part, bench, night, count, mean, min, max,
    failed); an aggregate over no value is NaN."""
    part, bench, night, count, *stats, failed = row
    mean, low, high = (float("nan") if v is None else float(v) for v in stats)
    return NightlyValues(str(part), str(bench), str(night), int(count), mean, low, high,
                         int(failed or 0))  # fmt: skip


def _login() -> str:
    """The user's login name, or "" where there is none (a container without a passwd entry)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
