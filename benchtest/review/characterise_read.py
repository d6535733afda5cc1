"""Reading one unit's run file for characterisation: who the unit is and what it measured.

Only what the statistics need is read: the root attributes, the seal, the head of the
journal, the run-level measurement table with the number columns of the test table and, when
asked for, the sweeps of the tests that have any. The seal is checked first, so a damaged
file is never counted. A file that is not an intact, closed run of the current schema (an
older schema, a killed run, tests committed to the journal only) is read through `open_run`,
which knows every such case; a file `open_run` finds damaged or cannot read at all ends
characterisation with an error naming it.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.results import TestRecord, open_run
from benchtest.results.records import plain
from benchtest.results.stored_curves import StoredSweep, read_sweeps
from benchtest.runfile import schema
from benchtest.runfile.seal import SEAL_BYTES, SealDamagedError, changed_regions, parse_seal
from benchtest.values.errors import BenchtestError, ResultFileError

#: Root attributes that say who a unit is; "wafer" is read when a run records it.
IDENTITY = ("part", "serial_number", "lot", "wafer", "start_time", "outcome")
_READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, UnicodeDecodeError)
_RECORD_HEADER = struct.Struct("<II")  # a journal record: payload length, CRC-32
#: The columns of /summary/measurements the statistics need (not the outcome, nor the time).
_MEASUREMENT_COLUMNS = ("test", "name", "value", "unit", "low", "high", schema.CONDITIONS,
                        schema.COMMIT)  # fmt: skip
#: The columns of /summary/tests they need (test ids only for retries and sweeps).
_TEST_COLUMNS = ("measurement_start", "measurement_count", "attempt", schema.COMMIT,
                 schema.CONDITIONS)  # fmt: skip


class CharacteriseError(BenchtestError):
    """Run files that cannot be characterised together; the message names the file(s) and why."""


@dataclass(frozen=True)
class Curve:
    """One unit's sweep: y against x in their units, with the limits of y (NaN: none)."""

    test_id: str
    name: str
    x_name: str
    x_unit: str
    y_unit: str
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    low: float
    high: float


@dataclass(frozen=True)
class UnitRun:
    """What one run file says about its unit: identity, and every value it measured."""

    path: Path
    identity: dict[str, str]
    # One entry per measurement of the last attempt of each test: name, value, unit, low,
    # high, and the conditions it was measured under (decoded JSON).
    names: list[str]
    values: npt.NDArray[np.float64]
    units: list[str]
    lows: npt.NDArray[np.float64]
    highs: npt.NDArray[np.float64]
    conditions: list[Mapping[str, Any]]
    curves: list[Curve] = field(default_factory=list)

    @property
    def part(self) -> str:
        return self.identity.get("part", "")

    @property
    def serial(self) -> str:
        return self.identity.get("serial_number", "") or self.path.stem


@functools.lru_cache(maxsize=4096)
def _conditions(text: str) -> Mapping[str, Any]:
    """The conditions recorded as JSON `text` (read-only: units share the same few texts)."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        value = {}
    return MappingProxyType(value if isinstance(value, dict) else {})


def _identity(file: h5py.File) -> dict[str, str]:
    attrs, exists = file.attrs, partial(h5py.h5a.exists, file.id)
    return {k: str(plain(attrs[k])) for k in IDENTITY if exists(k.encode())}


class _Fallback(Exception):
    """This file needs the full reader (`open_run`)."""


def _last_attempts(ids: Iterable[str]) -> list[int]:
    """Indices of the last occurrence of each id (a retried test counts by its last attempt),
    in the order of those occurrences."""
    last: dict[str, int] = {}
    for k, test_id in enumerate(ids):
        last[test_id] = k
    return sorted(last.values())


def _curve(test_id: str, sweep: StoredSweep) -> Curve:
    x, y = np.asarray(sweep.x.values[...], np.float64), np.asarray(sweep.y.values[...], np.float64)
    low = math.nan if sweep.low is None else sweep.low
    high = math.nan if sweep.high is None else sweep.high
    return Curve(test_id, sweep.name, sweep.x.name, sweep.x.unit, sweep.y.unit, x, y, low, high)


def _curves_of(file: h5py.File, tests: list[tuple[str, str]], where: str) -> list[Curve]:
    """The sweeps of the tests (test id, entry name) whose entry has anything plottable."""
    curves: list[Curve] = []
    for test_id, entry in tests:
        group = file.get(entry) if entry else None
        if group is not None and "default" in group.attrs:
            curves += [_curve(test_id, s) for s in read_sweeps(group, where).values()]
    return curves


def _unit(
    path: Path,
    identity: dict[str, str],
    table: npt.NDArray[Any],
    conditions: list[Mapping[str, Any]],
    curves: list[Curve],
) -> UnitRun:
    """The unit from its measurement rows `table` and the conditions of each row."""
    return UnitRun(
        path=path,
        identity=identity,
        names=_text(table["name"]),
        values=np.asarray(table["value"], np.float64),
        units=_text(table["unit"]),
        lows=np.asarray(table["low"], np.float64),
        highs=np.asarray(table["high"], np.float64),
        conditions=conditions,
        curves=curves,
    )


def _unit_of(
    path: Path,
    identity: dict[str, str],
    tests: list[TestRecord],
    sweeps: bool,
) -> UnitRun:
    """The unit from the records of its `tests`; a row that records no conditions has its
    test's (schema 1 keeps them with the test only)."""
    measured = [t for t in tests if len(t.measurements)]
    rows = [np.asarray(t.measurements) for t in measured]
    table = np.concatenate(rows) if rows else np.empty(0, dtype=schema.ENTRY_MEASUREMENT_DTYPE)
    owners = [t for t in measured for _ in range(len(t.measurements))]
    conditions = [
        _conditions(str(c)) or MappingProxyType(dict(t.conditions))
        for c, t in zip(table[schema.CONDITIONS], owners, strict=True)
    ]
    curves = [_curve(t.id, s) for t in tests for s in t.sweeps.values()] if sweeps else []
    return _unit(path, identity, table, conditions, curves)


def _check_sealed_and_committed(path: Path, summary: h5py.Group) -> None:
    """Raise `_Fallback` unless the file is sealed, every region of it matches its seal (the
    check of `results.integrity`, whose full reader also says where a file is damaged), and
    its journal is empty: every committed test is in the tables (a writer that closed the
    file moved them there and started the journal over)."""
    seal_at = summary[schema.SEAL].id.get_offset()
    journal_at = summary[schema.JOURNAL].id.get_offset()
    if seal_at is None or journal_at is None:
        raise _Fallback("seal or journal not contiguous")
    with path.open("rb") as raw:
        raw.seek(seal_at)
        sealed = raw.read(SEAL_BYTES)
        raw.seek(journal_at)
        journal = raw.read(_RECORD_HEADER.size)
    try:
        seal = parse_seal(sealed, seal_at)
    except SealDamagedError as exc:
        raise _Fallback("seal damaged") from exc
    if seal is None or path.stat().st_size != seal.length or changed_regions(path, seal):
        raise _Fallback("not sealed, or damaged")
    if _RECORD_HEADER.unpack(journal)[0] != 0:
        raise _Fallback("tests committed to the journal only")


def _columns(table: h5py.Dataset, names: tuple[str, ...]) -> npt.NDArray[Any]:
    """Columns `names` of a compound table, read as h5py reads `table.fields(names)`: each
    column in the type the file gives it (text in its own character set), into zeros, HDF5
    converting by field name; the other columns are never converted, and the table's whole
    dtype is never built."""
    stored = table.id.get_type()
    dtype = np.dtype(
        [(n, stored.get_member_type(stored.get_member_index(n.encode())).dtype) for n in names]
    )
    out = np.zeros(table.shape, dtype=dtype)
    table.id.read(h5py.h5s.ALL, h5py.h5s.ALL, out, h5py.h5t.py_create(dtype))
    return out


def _text(values: npt.NDArray[Any]) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _read_tables(
    path: Path, file: h5py.File, summary: h5py.Group, identity: dict[str, str], sweeps: bool
) -> UnitRun:
    """The committed tests of a closed file with an empty journal, from its two run-level
    tables; `_Fallback` when a commit mark, or the test a row belongs to, does not agree."""
    test_table = summary[schema.TESTS]
    tests = _columns(test_table, _TEST_COLUMNS)
    rows = _columns(summary[schema.MEASUREMENTS], _MEASUREMENT_COLUMNS)
    counts = tests["measurement_count"]
    owners = np.repeat(np.arange(len(tests)), counts)  # rows are appended test by test
    if not (
        np.array_equal(tests[schema.COMMIT], np.arange(1, len(tests) + 1))
        and np.array_equal(rows[schema.COMMIT], np.arange(1, len(rows) + 1))
        and np.array_equal(tests["measurement_start"], np.cumsum(counts) - counts)
        and np.array_equal(rows["test"], owners)
    ):
        raise _Fallback("commit marks or row order")
    text = test_table[()] if sweeps or (tests["attempt"] > 1).any() else None
    ids = _text(text["test_id"]) if text is not None else [str(p) for p in range(len(tests))]
    kept = _last_attempts(ids)
    if len(kept) < len(ids):  # a retried test counts by its last attempt
        keep = np.isin(owners, kept)
        rows, owners = rows[keep], owners[keep]
    conditions = _text(rows[schema.CONDITIONS])
    if not all(conditions):  # a row without its own: the test's
        held = _text(tests[schema.CONDITIONS])
        conditions = [c or held[p] for c, p in zip(conditions, owners.tolist(), strict=True)]
    entries = []
    if sweeps and text is not None:
        entries = [(ids[p], str(plain(text["entry"][p]))) for p in kept]
    parsed = [_conditions(c) for c in conditions]
    return _unit(path, identity, rows, parsed, _curves_of(file, entries, str(path)))


def _read_fast(path: Path, sweeps: bool) -> UnitRun:
    """An intact, closed run file of this schema, from its run-level tables; `_Fallback`
    else (an older schema is read by the full reader, which knows its layout)."""
    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise _Fallback(str(exc)) from exc
    with file:
        version = plain(file.attrs["benchtest_schema_version"])
        if version != schema.SCHEMA_VERSION:
            raise _Fallback(f"schema {version!r}")
        identity = _identity(file)
        if identity.get("outcome", schema.INCOMPLETE) == schema.INCOMPLETE:
            raise _Fallback("not closed")
        summary = file[schema.SUMMARY]
        _check_sealed_and_committed(path, summary)
        return _read_tables(path, file, summary, identity, sweeps)


def _read_full(path: Path, sweeps: bool) -> UnitRun:
    """Any run file `open_run` reads; a damaged one raises `CharacteriseError`."""
    with open_run(path) as run:
        if run.damaged:
            raise CharacteriseError(
                f"{run.damage[0]}; a damaged run file is not characterised: leave it out or "
                "repair it"
            )
        tests = [run.tests[k] for k in _last_attempts(t.id for t in run.tests)]
        identity = {k: str(v) for k, v in run.metadata.items() if k in IDENTITY}
        identity["outcome"] = run.outcome
        return _unit_of(path, identity, tests, sweeps)


def read_unit(path: str | Path, *, sweeps: bool = False) -> UnitRun:
    """The unit and measurements of the run file `path` (with `sweeps`, its sweeps too).

    Raises `ResultFileError` for a file that is missing or not a run file, and
    `CharacteriseError` for a damaged one, each naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path}: {'no such file' if not path.exists() else 'not a file'}")
    try:
        return _read_fast(path, sweeps)
    except (_Fallback, ResultFileError, *_READ_ERRORS):
        return _read_full(path, sweeps)  # says what is wrong, or reads what the tables do not


__all__ = ["CharacteriseError", "Curve", "UnitRun", "read_unit"]
