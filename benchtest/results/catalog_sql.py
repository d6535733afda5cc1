"""The SQLite layout of the run catalog, its versions, and the dtype its value queries return.

Measurements carry their run's part and serial number so that the common query, one parameter
of one part over a time span, is answered from one index without joins over tests. The layout
is versioned (`catalog.version`): an index of an older version is brought up to date by the
statements of `MIGRATIONS`, one version at a time, and keeps everything it held.
"""

from __future__ import annotations

import numpy as np

#: The version of the layout this benchtest writes (1: runs, tests, measurements; 2: baselines).
CATALOG_VERSION = 2

PRAGMAS = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
"""

#: Version 1, as the first catalogs were made (the `catalog` row is written on creation).
SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog (version INTEGER);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, run INTEGER, problem TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE, run_id TEXT, part TEXT, serial TEXT, lot TEXT,
    station TEXT, operator TEXT, start REAL, start_time TEXT, end_time TEXT, outcome TEXT,
    schema_version INTEGER);
CREATE TABLE IF NOT EXISTS tests (
    run INTEGER, test_id TEXT, plan TEXT, outcome TEXT, duration REAL);
CREATE TABLE IF NOT EXISTS measurements (
    run INTEGER, test_id TEXT, name TEXT, value REAL, unit TEXT, low REAL, high REAL,
    outcome TEXT, time REAL, part TEXT, serial TEXT);
CREATE INDEX IF NOT EXISTS measurements_by_name ON measurements (name, part, time);
CREATE INDEX IF NOT EXISTS measurements_by_run ON measurements (run);
CREATE INDEX IF NOT EXISTS tests_by_run ON tests (run);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (start);
"""

#: Named baselines: one row per promotion, so the history is kept; the newest row of a name
#: (the highest id) is the name's baseline. Rows outlive the files they name.
BASELINES = """
CREATE TABLE IF NOT EXISTS baselines (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, run_id TEXT, part TEXT,
    serial TEXT, start_time TEXT, promoted TEXT, promoted_by TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS baselines_by_name ON baselines (name, id);
"""

#: The statements that bring a catalog of version N to version N + 1.
MIGRATIONS = {1: BASELINES}


def statements(script: str) -> list[str]:
    """The SQL statements of `script` (none of them holds a semicolon of its own)."""
    return [s.strip() for s in script.split(";") if s.strip()]


#: What `Catalog.values` returns: one row per measured value.
VALUES_DTYPE = np.dtype(
    [
        ("serial", object),
        ("time", np.float64),
        ("value", np.float64),
        ("unit", object),
        ("low", np.float64),
        ("high", np.float64),
        ("outcome", object),
        ("test_id", object),
        ("path", object),
    ]
)
