"""The PostgreSQL layout of the lab catalog: numbered migrations, and the lock that orders them.

Each migration is one transaction (PostgreSQL's DDL is transactional): it either brings the
database from version N - 1 to N and records N in `benchtest_migrations`, or leaves it as it
was. A database of a newer version than this benchtest knows is refused, never changed. Bench
hosts that start together serialise on an advisory lock, so exactly one of them migrates.

Measurements carry their run's part, bench (station) and start, so the lab-history query,
one parameter by part, bench and night, is answered from one index without joins.
"""

from __future__ import annotations

from typing import NamedTuple


class Migration(NamedTuple):
    version: int
    description: str
    sql: str


#: The table that records which migrations were applied (made before the first migration).
MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS benchtest_migrations (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

#: Key of the advisory lock held while migrating ("benchtest" as a number).
MIGRATION_LOCK = 0x62656E6368

RUNS_V1 = """
CREATE TABLE runs (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL UNIQUE,
    sha256 text NOT NULL,
    path text NOT NULL,
    host text NOT NULL,
    part text NOT NULL,
    serial text NOT NULL,
    lot text NOT NULL,
    station text NOT NULL,
    operator text NOT NULL,
    start double precision,
    start_time text NOT NULL,
    end_time text NOT NULL,
    outcome text NOT NULL,
    schema_version integer NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by text NOT NULL
);
CREATE INDEX runs_by_start ON runs (start);
CREATE INDEX runs_by_part ON runs (part, start);
CREATE TABLE tests (
    run bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id text NOT NULL,
    plan text NOT NULL,
    attempt integer NOT NULL,
    outcome text NOT NULL,
    duration double precision
);
CREATE INDEX tests_by_run ON tests (run);
CREATE TABLE measurements (
    run bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id text NOT NULL,
    name text NOT NULL,
    value double precision,
    unit text NOT NULL,
    low double precision,
    high double precision,
    outcome text NOT NULL,
    time double precision,
    part text NOT NULL,
    station text NOT NULL,
    serial text NOT NULL,
    start double precision
);
CREATE INDEX measurements_by_run ON measurements (run);
CREATE INDEX measurements_by_name ON measurements (name, part, time);
CREATE INDEX measurements_history ON measurements (name, part, station, start)
    INCLUDE (value, outcome);
"""

BASELINES_V2 = """
CREATE TABLE baselines (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    run bigint NOT NULL REFERENCES runs (id),
    path text NOT NULL,
    run_id text NOT NULL,
    part text NOT NULL,
    serial text NOT NULL,
    start_time text NOT NULL,
    promoted timestamptz NOT NULL,
    promoted_by text NOT NULL,
    note text NOT NULL
);
CREATE INDEX baselines_by_name ON baselines (name, id);
"""

#: Every migration, in order; the last one's version is the version this benchtest writes.
MIGRATIONS = (
    Migration(1, "runs, tests and measurements", RUNS_V1),
    Migration(2, "named baselines with their promotion history", BASELINES_V2),
)
LAB_CATALOG_VERSION = MIGRATIONS[-1].version
