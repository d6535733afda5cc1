"""`PostgresCatalog`: the lab-wide catalog in PostgreSQL, which many bench hosts publish into.

A run is published in one transaction (`publish`): its row, its tests and its measurements
(bulk-loaded with COPY) are all stored, or none is. A run's identity is its run id and the
sha256 of its file: publishing the same file again stores nothing more, whichever host does it
and however often, and another file with the same run id (a copy changed since) is refused.
The layout is brought up to date on connection by numbered migrations (`lab_schema`), each
one transaction, under a lock that lets one host migrate at a time.
Queries answer what the SQLite `Catalog` answers (`lab_catalog.LabCatalog`). The connection
URL is shown only redacted; psycopg (the `postgres` extra) is the driver.
"""

from __future__ import annotations

import getpass
import hashlib
import math
import os
import platform
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from benchtest.results.catalog import (
    Baseline,
    BaselineError,
    PassRate,
    check_baseline_name,
    nightly_row,
)
from benchtest.results.catalog_sql import VALUES_DTYPE
from benchtest.results.lab_catalog import (
    CatalogError,
    Moment,
    NightlyValues,
    iso_seconds,
    moment_seconds,
    redact,
)
from benchtest.results.lab_schema import LAB_CATALOG_VERSION, MIGRATION_LOCK, MIGRATIONS
from benchtest.results.lab_schema import MIGRATIONS_TABLE as _MIGRATIONS_TABLE
from benchtest.results.records import Closing
from benchtest.results.run import open_run
from benchtest.runfile.tables import decode_table
from benchtest.values.errors import ResultFileError

if TYPE_CHECKING:
    import psycopg

#: Run outcomes that are not published: the record is not whole (resume or repair it first).
UNPUBLISHABLE = ("incomplete", "damaged")
#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT = 10

_RUN_COLUMNS = (
    "run_id, sha256, path, host, part, serial, lot, station, operator, start, start_time, "
    "end_time, outcome, schema_version, published_by"
)
_BASELINE_COLUMNS = (
    "name, path, run_id, part, serial, start_time, "
    "to_char(promoted AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "promoted_by, note"
)


@dataclass(frozen=True)
class Published:
    """What `publish` did with one run file."""

    path: Path
    run_id: str
    sha256: str
    tests: int
    measurements: int
    already: bool  # it was published before: nothing was stored this time


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise CatalogError(
            "a PostgreSQL lab catalog needs psycopg: pip install 'benchtest[postgres]'"
        ) from None
    return psycopg


def file_sha256(path: Path) -> str:
    """The sha256 of the file at `path`, read in blocks."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class PostgresCatalog(Closing):
    """The lab catalog at the PostgreSQL `url`, migrated to this benchtest's layout on open
    (with `migrate=False` it is opened as it is; a newer layout is refused either way)."""

    def __init__(self, url: str, *, migrate: bool = True, night_starts_at_hour: int = 12) -> None:
        self.where = redact(url)
        self.night_starts_at_hour = night_starts_at_hour
        self._secret = _password(url)
        self._pg = _psycopg()
        try:
            self._db: psycopg.Connection[Any] = self._pg.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                application_name="benchtest",
            )  # fmt: skip
        except self._pg.Error as exc:
            raise CatalogError(
                f"{self.where}: cannot connect to the lab catalog: {self._reason(exc)}"
            ) from None
        except Exception as exc:  # a malformed URL, as libpq's parser says
            raise CatalogError(
                f"{self.where}: not a usable PostgreSQL URL: {self._reason(exc)}"
            ) from None
        try:
            if migrate:
                self.migrate()
            else:
                self._refuse_newer(self.version)
        except BaseException:
            self._db.close()
            raise

    def _reason(self, exc: BaseException) -> str:
        """What went wrong, in one line, without the password."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        return text.replace(self._secret, "***") if self._secret else text

    def _failed(self, doing: str, exc: BaseException) -> CatalogError:
        return CatalogError(f"{self.where}: {doing}: {self._reason(exc)}")

    # -- layout -----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The layout version recorded in the database (0: none yet)."""
        try:
            found = self._db.execute("SELECT to_regclass('benchtest_migrations')").fetchone()
            if found is None or found[0] is None:
                return 0
            row = self._db.execute("SELECT max(version) FROM benchtest_migrations").fetchone()
        except self._pg.Error as exc:
            raise self._failed("cannot read the catalog's version", exc) from None
        return int(row[0]) if row is not None and row[0] is not None else 0

    def _refuse_newer(self, version: int) -> None:
        if version > LAB_CATALOG_VERSION:
            raise CatalogError(
                f"{self.where}: the lab catalog is of version {version}, newer than this "
                f"benchtest knows (up to {LAB_CATALOG_VERSION}); upgrade benchtest"
            )

    def migrate(self, to: int = LAB_CATALOG_VERSION) -> list[int]:
        """Apply the migrations up to version `to`, each in its own transaction; the versions
        applied. Hosts that migrate at the same time wait for each other."""
        db = self._db
        try:
            db.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                with db.transaction():
                    db.execute(_MIGRATIONS_TABLE)
                current = self.version
                self._refuse_newer(current)
                applied = []
                for migration in MIGRATIONS:
                    if current < migration.version <= to:
                        with db.transaction():
                            db.execute(migration.sql)
                            db.execute(
                                "INSERT INTO benchtest_migrations (version, description) "
                                "VALUES (%s, %s)",
                                (migration.version, migration.description),
                            )
                        applied.append(migration.version)
                return applied
            finally:
                db.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except self._pg.Error as exc:
            raise self._failed("cannot bring the lab catalog up to date", exc) from None

    # -- publishing -------------------------------------------------------------------------

    def publish(self, path: str | os.PathLike[str], *, by: str | None = None) -> Published:
        """Store the run file `path` in the catalog, in one transaction; a file published
        before is not stored again. A run that is not whole (incomplete, damaged) is refused."""
        path = Path(path)
        try:
            digest = file_sha256(path)
            with open_run(path) as run:
                outcome = run.outcome
                if outcome in UNPUBLISHABLE:
                    why = "; ".join(run.problems) or f"its run is {outcome}"
                    hint = " (resume it: benchtest run --resume)" if outcome == "incomplete" else ""
                    raise CatalogError(f"{path}: not published: {why}{hint}")
                meta = run.metadata
                start = iso_seconds(str(meta.get("start_time", "")))
                part, serial, lot, station, operator = (
                    str(meta.get(k, ""))
                    for k in ("part", "serial_number", "lot", "station", "operator")
                )
                row = (
                    str(meta.get("run_id", "")), digest, path.name, str(meta.get("host", "")),
                    part, serial, lot, station, operator,
                    start, str(meta.get("start_time", "")), str(meta.get("end_time", "")),
                    outcome, run.schema_version, by if by is not None else _login(),
                )  # fmt: skip
                tests = [
                    (t.id, t.id.partition("::")[0], t.attempt, t.outcome, _number(t.duration))
                    for t in run.tests
                ]
                measurements = _measurement_rows(run.measurements, part, station, serial, start)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CatalogError(f"{path}: not published: cannot read it: {reason}") from None
        except ResultFileError as exc:
            raise CatalogError(f"not published: {exc}") from None
        return self._store(path, row, tests, measurements)

    def _store(
        self,
        path: Path,
        run: tuple[Any, ...],
        tests: list[tuple[Any, ...]],
        measurements: list[tuple[Any, ...]],
    ) -> Published:
        db = self._db
        try:
            with db.transaction(), db.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join(['%s'] * len(run))}) "
                    "ON CONFLICT (run_id) DO NOTHING RETURNING id",
                    run,
                )
                created = cursor.fetchone()
                if created is None:
                    cursor.execute("SELECT sha256 FROM runs WHERE run_id = %s", (run[0],))
                    (stored,) = cursor.fetchone() or ("",)
                    if stored != run[1]:
                        raise CatalogError(
                            f"{path}: not published: run {run[0]} is in the lab catalog "
                            f"already, from a file with other content (sha256 {stored[:16]}..., "
                            f"this file {run[1][:16]}...); a run is published once"
                        )
                    return Published(path, run[0], run[1], len(tests), len(measurements), True)
                key = created[0]
                with cursor.copy(
                    "COPY tests (run, test_id, plan, attempt, outcome, duration) FROM STDIN"
                ) as copy:
                    for test in tests:
                        copy.write_row((key, *test))
                with cursor.copy(
                    "COPY measurements (run, test_id, name, value, unit, low, high, outcome, "
                    "time, part, station, serial, start) FROM STDIN"
                ) as copy:
                    for measurement in measurements:
                        copy.write_row((key, *measurement))
        except self._pg.Error as exc:
            raise CatalogError(
                f"{path}: not published: the lab catalog {self.where} failed: "
                f"{self._reason(exc)}. Nothing of it is half-stored (one transaction) and the "
                f"run file is unchanged: publish it again (benchtest publish {path})"
            ) from None
        return Published(path, run[0], run[1], len(tests), len(measurements), False)

    # -- queries ----------------------------------------------------------------------------

    def _rows(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except self._pg.Error as exc:
            raise self._failed("cannot query the lab catalog", exc) from None

    def values(
        self,
        parameter: str,
        part: str | None = None,
        start: Moment = None,
        end: Moment = None,
        serial: str | None = None,
    ) -> npt.NDArray[Any]:
        """Every value of `parameter` (optionally of one part / serial number) measured in
        [start, end), by serial number, then time: as `Catalog.values`."""
        sql = (
            "SELECT m.serial, m.time, m.value, m.unit, m.low, m.high, m.outcome, m.test_id, "
            "r.path FROM measurements m JOIN runs r ON r.id = m.run "
            "WHERE m.name = %s AND m.time >= %s AND m.time < %s"
        )
        args: list[Any] = [
            parameter,
            moment_seconds(start, -math.inf),
            moment_seconds(end, math.inf),
        ]
        for column, value in (("m.part", part), ("m.serial", serial)):
            if value is not None:
                sql += f" AND {column} = %s"
                args.append(value)
        rows = self._rows(sql + " ORDER BY m.serial, m.time, r.id", args)
        nan = float("nan")
        table = [
            (s, nan if t is None else t, nan if v is None else v, u, nan if lo is None else lo,
             nan if hi is None else hi, o, test, p)
            for s, t, v, u, lo, hi, o, test, p in rows
        ]  # fmt: skip
        return decode_table(np.array(table, dtype=VALUES_DTYPE))

    def nightly(
        self,
        parameter: str,
        part: str | None = None,
        bench: str | None = None,
        start: Moment = None,
        end: Moment = None,
    ) -> list[NightlyValues]:
        """The lab's history of `parameter`: its values by part, bench (station) and night of
        the runs started in [start, end), as `Catalog.nightly`."""
        sql = (
            "SELECT part, station, date 'epoch' + floor((start - %(shift)s) / 86400)::integer "
            "AS night, count(value), avg(value), min(value), max(value), "
            "count(*) FILTER (WHERE outcome = 'fail') FROM measurements "
            "WHERE name = %(name)s AND start >= %(start)s AND start < %(end)s"
        )
        args = {
            "shift": self.night_starts_at_hour * 3600.0, "name": parameter,
            "start": moment_seconds(start, -math.inf), "end": moment_seconds(end, math.inf),
            "part": part, "bench": bench,
        }  # fmt: skip
        sql += " AND part = %(part)s" if part is not None else ""
        sql += " AND station = %(bench)s" if bench is not None else ""
        rows = self._rows(sql + " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", args)
        return [nightly_row((p, b, night.isoformat(), *rest)) for p, b, night, *rest in rows]

    def pass_rate(
        self, part: str | None = None, start: Moment = None, end: Moment = None
    ) -> list[PassRate]:
        """Per night and plan: how many tests passed, failed, ... as `Catalog.pass_rate`."""
        sql = (
            "SELECT date 'epoch' + floor((r.start - %(shift)s) / 86400)::integer AS night, "
            "t.plan, count(*) FILTER (WHERE t.outcome = 'passed'), "
            "count(*) FILTER (WHERE t.outcome = 'failed'), "
            "count(*) FILTER (WHERE t.outcome = 'error'), "
            "count(*) FILTER (WHERE t.outcome = 'skipped'), "
            "count(*) FILTER (WHERE t.outcome = 'incomplete') "
            "FROM tests t JOIN runs r ON r.id = t.run "
            "WHERE r.start >= %(start)s AND r.start < %(end)s"
        )
        args = {
            "shift": self.night_starts_at_hour * 3600.0, "part": part,
            "start": moment_seconds(start, -math.inf), "end": moment_seconds(end, math.inf),
        }  # fmt: skip
        sql += " AND r.part = %(part)s" if part is not None else ""
        result = []
        for night, plan, passed, failed, errors, skipped, incomplete in self._rows(
            sql + " GROUP BY 1, 2 ORDER BY 1, 2", args
        ):
            judged = passed + failed + errors
            rate = passed / judged if judged else float("nan")
            result.append(
                PassRate(night.isoformat(), plan, passed, failed, errors, skipped, incomplete, rate)
            )
        return result

    def runs(self) -> Iterator[tuple[str, str, str, str]]:
        """(file name, part, serial number, start time) of every published run."""
        sql = "SELECT path, part, serial, start_time FROM runs ORDER BY start, id"
        yield from ((str(p), str(a), str(s), str(t)) for p, a, s, t in self._rows(sql))

    def __len__(self) -> int:
        return int(self._rows("SELECT count(*) FROM runs")[0][0])

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
        """Make the published run of the file `run` the baseline called `name` (the earlier
        promotions of `name` are kept). A run not published here is refused, saying so."""
        check_baseline_name(name)
        path = Path(run)
        try:
            digest = file_sha256(path)
        except OSError as exc:
            raise BaselineError(f"{path}: cannot be the baseline {name!r}: {exc}") from None
        found = self._rows(
            "SELECT id, path, run_id, part, serial, start_time, outcome FROM runs "
            "WHERE sha256 = %s ORDER BY id LIMIT 1",
            (digest,),
        )
        if not found:
            raise BaselineError(
                f"{path}: cannot be the baseline {name!r}: it is not published in the lab "
                f"catalog {self.where} (benchtest publish {path})"
            )
        key, stored, run_id, part, serial, start_time, _ = found[0]
        moment = (when or datetime.now(UTC)).astimezone(UTC)
        who = by if by is not None else _login()
        try:
            with self._db.transaction():
                self._db.execute(
                    "INSERT INTO baselines (name, run, path, run_id, part, serial, start_time, "
                    "promoted, promoted_by, note) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (name, key, stored, run_id, part, serial, start_time, moment, who, note),
                )
        except self._pg.Error as exc:
            raise self._failed(f"cannot record the baseline {name!r}", exc) from None
        return Baseline(
            name, stored, run_id, part, serial, start_time, moment.isoformat(), who, note
        )

    def baseline(self, name: str) -> Baseline:
        """The newest promotion of `name`; a BaselineError naming the known ones if none."""
        rows = self._rows(
            f"SELECT {_BASELINE_COLUMNS} FROM baselines WHERE name = %s ORDER BY id DESC LIMIT 1",
            (name,),
        )
        if not rows:
            known = ", ".join(b.name for b in self.baselines()) or "none yet"
            raise BaselineError(
                f"no baseline called {name!r} in the lab catalog {self.where} (known: {known})"
            )
        return Baseline(*rows[0])

    def baseline_path(self, name: str, folder: str | os.PathLike[str]) -> Path:
        """The run file of the baseline `name` under the results folder `folder`: a file of
        the published name whose content is the published run's (its sha256), so a file
        replaced or changed since it was published is not taken for the baseline."""
        baseline = self.baseline(name)
        rows = self._rows(
            "SELECT runs.sha256 FROM baselines JOIN runs ON runs.id = baselines.run "
            "WHERE baselines.name = %s ORDER BY baselines.id DESC LIMIT 1",
            (name,),
        )
        published = str(rows[0][0]) if rows else ""
        root = Path(folder)
        where = (
            f"baseline {name!r} of the lab catalog {self.where} (run {baseline.run_id}, "
            f"promoted {baseline.promoted})"
        )
        candidates = sorted(
            Path(directory, baseline.path)
            for directory, _, names in os.walk(root)
            if baseline.path in names
        )
        if not candidates:
            raise BaselineError(
                f"{where}: its run file {baseline.path} is not under {root}; give the results "
                "folder that holds it with --results-dir"
            )
        for candidate in candidates:
            try:
                if file_sha256(candidate) == published:
                    return candidate
            except OSError as exc:
                raise BaselineError(f"{where}: {candidate} cannot be read: {exc}") from None
        raise BaselineError(
            f"{where}: {', '.join(map(str, candidates))} under {root} differs from the "
            f"published run file (sha256 {published[:16]}...): it was changed or replaced since; "
            "put the published file back, or promote another run"
        )

    def baselines(self) -> list[Baseline]:
        """The baseline of every name (its newest promotion), by name."""
        sql = (
            f"SELECT {_BASELINE_COLUMNS} FROM baselines WHERE id IN "
            "(SELECT max(id) FROM baselines GROUP BY name) ORDER BY name"
        )
        return [Baseline(*row) for row in self._rows(sql)]

    def baseline_history(self, name: str | None = None) -> list[Baseline]:
        """Every promotion (of `name`, or of all names), oldest first."""
        sql = f"SELECT {_BASELINE_COLUMNS} FROM baselines"
        if name is None:
            return [Baseline(*row) for row in self._rows(sql + " ORDER BY id")]
        return [Baseline(*row) for row in self._rows(sql + " WHERE name = %s ORDER BY id", (name,))]

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or lost (the server went away)."""
        return bool(self._db.closed or self._db.broken)

    def close(self) -> None:
        self._db.close()


def _measurement_rows(
    m: npt.NDArray[Any], part: str, station: str, serial: str, start: float | None
) -> list[tuple[Any, ...]]:
    """The rows COPY stores for a run's measurement table (NaN stored as NULL)."""
    times = np.where(
        np.isfinite(m["timestamp"]), m["timestamp"], np.nan if start is None else start
    )
    columns = (
        m["test_id"].tolist(), m["name"].tolist(), map(_number, m["value"].tolist()),
        m["unit"].tolist(), map(_number, m["low"].tolist()), map(_number, m["high"].tolist()),
        m["outcome"].tolist(), map(_number, times.tolist()),
    )  # fmt: skip
    return [(*row, part, station, serial, start) for row in zip(*columns, strict=True)]


def _number(value: float) -> float | None:
    """A float for PostgreSQL: NaN (no valid value) as NULL, as SQLite stores it."""
    return None if math.isnan(value) else float(value)


def _password(url: str) -> str:
    """The password in `url`, also when the URL cannot be parsed (libpq quotes it then)."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        found = _USERINFO.match(url)
        return found.group(1) if found else ""


_USERINFO = re.compile(r"[A-Za-z]+://[^/@:]*:([^@]*)@")


def _login() -> str:
    """The user's login name and host, for the record of who published or promoted."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = ""
    return f"{user}@{platform.node()}" if user else platform.node()


__all__ = ["CONNECT_TIMEOUT", "UNPUBLISHABLE", "PostgresCatalog", "Published", "file_sha256"]
