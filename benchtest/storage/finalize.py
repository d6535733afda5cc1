"""Closing a run file: the NXentry of every committed test that does not have one yet.

Tests with waveforms got their entry while they ran; all others are built here from the
run-level tables, so that every test of a finished run is one NXentry, as NeXus viewers expect.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.storage import schema
from benchtest.storage.entries import complete_entry, create_entry
from benchtest.storage.tables import committed, read_table

#: Rows of /summary/measurements read per step while building entries.
BLOCK_ROWS = 1 << 16


class RowBlocks:
    """Reads consecutive row ranges of a table through a cache of one block."""

    def __init__(self, table: h5py.Dataset) -> None:
        self._table = table
        self._start = 0
        self._block: npt.NDArray[Any] = np.empty(0, dtype=table.dtype)

    def rows(self, start: int, count: int) -> npt.NDArray[Any]:
        stop = start + count
        if not (self._start <= start and stop <= self._start + len(self._block)):
            self._start = start
            self._block = self._table[start : max(stop, start + BLOCK_ROWS)]
        return self._block[start - self._start : stop - self._start]


def build_missing_entries(file: h5py.File, set_default: bool) -> None:
    """Create the NXentry of each committed test that has none; with `set_default`, point the
    root `@default` at the first test's entry."""
    summary = file[schema.SUMMARY]
    tests = committed(read_table(summary[schema.TESTS]))
    blocks = RowBlocks(summary[schema.MEASUREMENTS])
    names = tests.dtype.names or ()
    for row in tests:
        entry = str(row["entry"])
        if entry in file:
            continue
        group = create_entry(file, entry, str(row["test_id"]), int(row["attempt"]))
        rows = blocks.rows(int(row["measurement_start"]), int(row["measurement_count"]))
        complete_entry(group, dict(zip(names, row.tolist(), strict=True)), rows)
    if set_default and len(tests):
        file.attrs.modify("default", str(tests["entry"][np.argmin(tests["index"])]))
