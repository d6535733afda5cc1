"""Reading the tests of a schema-1 run file, where each NXentry was the record of its test.

Schema 1 wrote one NXentry per test as the test ran (fields as datasets, the measurement table
inside) and /summary/measurements with a test_id column; this module turns that into the same
records that schema 2 files give.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.results.records import (
    Table,
    as_table,
    attr,
    read_collection,
    read_waveforms,
    text,
)
from benchtest.results.test_record import TestRecord
from benchtest.runfile import schema
from benchtest.runfile.tables import decode_table, read_table

_T = TypeVar("_T")
Guard = Callable[[str, Callable[[], _T]], _T | None]

_ENTRY_INDEX = re.compile(r"^t(\d+)_")


def with_conditions(rows: npt.NDArray[Any], conditions: str = "") -> Table:
    """`rows` with a `conditions` text column appended (schema 1 had none)."""
    names = rows.dtype.names or ()
    width = max(len(conditions), 1)
    out = np.empty(
        len(rows), dtype=[*((n, rows.dtype[n]) for n in names), (schema.CONDITIONS, f"U{width}")]
    )
    for name in names:
        out[name] = rows[name]
    out[schema.CONDITIONS] = conditions
    return as_table(out)


def _entry_index(name: str) -> int:
    match = _ENTRY_INDEX.match(name)
    return int(match.group(1)) if match else 0


def _nxdata(entry: h5py.Group) -> list[h5py.Group]:
    return [
        child
        for child in entry.values()
        if isinstance(child, h5py.Group) and attr(child, "NX_class") == "NXdata"
    ]


def _read_entry(entry: h5py.Group, where: str) -> TestRecord:
    if schema.MEASUREMENTS in entry:
        measurements = read_table(entry[schema.MEASUREMENTS])
    else:  # killed before the test finished: its rows were never written
        measurements = decode_table(np.empty(0, dtype=schema.MEASUREMENT_DTYPE))
    duration = entry["duration"][()] if "duration" in entry else math.nan
    name = entry.name.lstrip("/")
    return TestRecord(
        id=attr(entry, "test_id", text(entry, "title")),
        entry=name,
        outcome=text(entry, "outcome", schema.INCOMPLETE),
        message=text(entry, "message"),
        start=text(entry, "start_time"),
        end=text(entry, "end_time"),
        duration=float(duration),
        conditions=read_collection(entry.get(schema.CONDITIONS)),
        measurements=with_conditions(measurements),
        waveforms=read_waveforms(_nxdata(entry), where),
        index=_entry_index(name),
        attempt=int(attr(entry, "attempt", 1)),
    )


def read_tests_v1(file: h5py.File, where: str, guard: Guard[TestRecord]) -> list[TestRecord]:
    """The tests of a schema-1 file, in start order; a damaged entry is skipped by `guard`."""
    names = [
        name
        for name, obj in file.items()
        if isinstance(obj, h5py.Group) and attr(obj, "NX_class") == "NXentry"
    ]
    names.sort(key=lambda name: (_entry_index(name), name))
    records = [guard(name, partial(_read_entry, file[name], where)) for name in names]
    return [r for r in records if r is not None]


def read_measurements_v1(file: h5py.File) -> Table:
    """/summary/measurements of a schema-1 file, with an empty `conditions` column."""
    return with_conditions(read_table(file[schema.SUMMARY][schema.MEASUREMENTS]))
