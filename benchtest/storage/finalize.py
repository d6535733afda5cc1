"""Closing a run file: the NXentry of every committed test that does not have one yet.

Tests with waveforms got their entry while they ran; all others are built here from the
run-level tables, so that every test of a finished run is one NXentry, as NeXus viewers expect.
The tests are taken in blocks: their measurement rows are read and converted to entry tables
in one go, then cut into one table per test.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile import schema
from benchtest.runfile.tables import committed, read_table
from benchtest.storage.entries import EntryBuilder, entry_table

#: Tests whose entries are prepared together (bounds the memory of one step).
BLOCK_TESTS = 4096


def build_missing_entries(file: h5py.File, set_default: bool) -> None:
    """Create the NXentry of each committed test that has none; with `set_default`, point the
    root `@default` at the first test's entry."""
    summary = file[schema.SUMMARY]
    tests = committed(read_table(summary[schema.TESTS]))
    present = set(file.keys())
    missing = tests[[str(name) not in present for name in tests["entry"]]]
    builder = EntryBuilder()
    cache = file.id.get_mdc_config()
    _roomy_metadata_cache(file)
    try:
        for first in range(0, len(missing), BLOCK_TESTS):
            _build_block(file, builder, summary[schema.MEASUREMENTS], missing[first:][:BLOCK_TESTS])
    finally:
        builder.close()
        file.id.set_mdc_config(cache)
    if set_default and len(tests):
        file.attrs.modify("default", str(tests["entry"][np.argmin(tests["index"])]))


def _roomy_metadata_cache(file: h5py.File) -> None:
    """Start HDF5's metadata cache at 32 MiB: thousands of new entries then never wait for
    the cache to grow and evict step by step (measured: 10-15 % less time per entry)."""
    config = file.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = 32 << 20
    config.max_size = max(config.max_size, 64 << 20)
    config.min_size = max(config.min_size, 16 << 20)
    file.id.set_mdc_config(config)


def _build_block(
    file: h5py.File, builder: EntryBuilder, measurements: h5py.Dataset, tests: npt.NDArray[Any]
) -> None:
    starts, counts = tests["measurement_start"], tests["measurement_count"]
    low = int(starts.min())
    high = int((starts + counts).max())
    rows = measurements[low:high]  # text as UTF-8 bytes: copied into the entries as it is
    # Each row's own test conditions, for the rows that have none of their own.
    conditions = np.repeat(np.char.encode(tests[schema.CONDITIONS].astype(str), "utf-8"), counts)
    spans = [np.arange(s - low, s - low + c) for s, c in zip(starts, counts, strict=True)]
    table = entry_table(rows[np.concatenate(spans).astype(np.intp)], conditions)
    columns = (tests[name].tolist() for name in ("entry", "test_id", "outcome", "message"))
    offset = 0
    for entry, test_id, outcome, message, count in zip(*columns, counts.tolist(), strict=True):
        builder.build(file, entry, test_id, outcome, message, table[offset : offset + count])
        offset += count
