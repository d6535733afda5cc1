"""The SQLite layout of the run catalog, and the dtype its value queries return.

Measurements carry their run's part and serial number so that the common query, one parameter
of one part over a time span, is answered from one index without joins over tests.
"""

from __future__ import annotations

import numpy as np

CATALOG_VERSION = 1

SCHEMA = f"""
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS catalog (version INTEGER);
INSERT INTO catalog SELECT {CATALOG_VERSION} WHERE NOT EXISTS (SELECT 1 FROM catalog);
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
