"""Closing a run file: the NXentry of every committed test that does not have one yet.

Tests with waveforms got their entry while they ran; all others are built when the run closes,
so that every test of a finished run is one NXentry, as NeXus viewers expect. The writer keeps
the rows it appended to the tables (within a memory budget), and the entries are built from
them (`build_entries`: nothing is read back); tests whose rows it did not keep are read back
from the tables (`build_missing_entries`). The tests are taken in blocks: their measurement
rows are converted to entry tables in one go, then cut into one table per test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile import schema
from benchtest.runfile.tables import committed, read_table
from benchtest.storage.entries import EntryBuilder, entry_table

#: Tests whose entries are prepared together (bounds the memory of one step).
BLOCK_TESTS = 4096

#: The measurement rows from position `low` to `high` of /summary/measurements.
RowsBetween = Callable[[int, int], npt.NDArray[Any]]


#: Tests appended to the tables without an entry: their rows of /summary/tests (a structured
#: array), the rows of /summary/measurements appended with them, and the position of the first.
Appended = tuple[npt.NDArray[Any], npt.NDArray[Any], int]


def build_entries(file: h5py.File, parts: Sequence[Appended]) -> None:
    """Create the NXentry of each test of `parts` (see `Appended`), from the rows as they were
    appended: their text columns as `str` or UTF-8 `bytes`."""
    parts = [part for part in parts if len(part[0])]
    if not parts:
        return
    if len(parts) == 1:
        tests, measurements, first = parts[0]
        _build(file, tests, lambda low, high: measurements[low - first : high - first])
        return
    # One array of the parts' measurement rows, each test's start moved to where its rows are.
    rebased, offset = [], 0
    for tests, measurements, first in parts:
        moved = tests.copy()
        moved["measurement_start"] += offset - first
        rebased.append(moved)
        offset += len(measurements)
    rows = np.concatenate([measurements for _, measurements, _ in parts])
    _build(file, np.concatenate(rebased), lambda low, high: rows[low:high])


def build_missing_entries(file: h5py.File, count: int | None = None) -> None:
    """Create the NXentry of each committed test in /summary/tests (of its first `count`
    rows, when given) that has none, reading the tests and their measurements back."""
    summary = file[schema.SUMMARY]
    tests = committed(read_table(summary[schema.TESTS]))
    if count is not None:
        tests = tests[tests[schema.COMMIT] <= count]
    present = set(file.keys())
    missing = tests[[str(name) not in present for name in tests["entry"]]]
    measurements = summary[schema.MEASUREMENTS]
    _build(file, missing, lambda low, high: measurements[low:high])


def _build(file: h5py.File, tests: npt.NDArray[Any], rows_between: RowsBetween) -> None:
    if not len(tests):
        return
    cache = file.id.get_mdc_config()
    _roomy_metadata_cache(file)
    try:
        for first in range(0, len(tests), BLOCK_TESTS):
            with EntryBuilder(file.id) as builder:
                _build_block(builder, rows_between, tests[first:][:BLOCK_TESTS])
    finally:
        file.id.set_mdc_config(cache)


def _roomy_metadata_cache(file: h5py.File) -> None:
    """Start HDF5's metadata cache at 32 MiB: thousands of new entries then never wait for
    the cache to grow and evict step by step (measured: 10-15 % less time per entry)."""
    config = file.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = 32 << 20
    config.max_size = max(config.max_size, 64 << 20)
    config.min_size = max(config.min_size, 16 << 20)
    file.id.set_mdc_config(config)


def _build_block(builder: EntryBuilder, rows_between: RowsBetween, tests: npt.NDArray[Any]) -> None:
    starts, counts = tests["measurement_start"], tests["measurement_count"]
    low = int(starts.min())
    high = int((starts + counts).max())
    rows = rows_between(low, high)  # text as UTF-8 bytes: copied into the entries as it is
    # Each row's own test conditions, for the rows that have none of their own.
    conditions = np.repeat(np.char.encode(tests[schema.CONDITIONS].astype(str), "utf-8"), counts)
    total = int(counts.sum())
    if total != high - low or not np.array_equal(starts[1:], (starts + counts)[:-1]):
        # Not one run of rows (tests with entries, or read back, in between): the tests' own.
        ends = np.cumsum(counts)
        index = np.arange(total, dtype=np.intp) + np.repeat(starts - low - (ends - counts), counts)
        rows = rows[index]
    names, test_ids, outcomes, messages = (
        tests[name].tolist() for name in ("entry", "test_id", "outcome", "message")
    )
    builder.build(
        names, test_ids, outcomes, messages, counts.tolist(), entry_table(rows, conditions)
    )
