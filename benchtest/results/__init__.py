"""Reading run files: `open_run(path)` for one run, `Catalog(folder)` across many.

It needs only h5py and numpy (never the pytest plugin, the simulator or drivers), so a run can
be analysed in a plain Python session. Tables come back as numpy structured arrays with `str`
text columns (`.to_pandas()` when pandas is installed); waveforms are read lazily.
"""

from __future__ import annotations

from benchtest.results.catalog import Catalog
from benchtest.results.records import LazyArray, StoredWaveform, Table
from benchtest.results.run import Run, open_run
from benchtest.results.stored_curves import Axis, StoredFamily, StoredSweep
from benchtest.results.test_record import TestRecord

__all__ = [
    "Axis",
    "Catalog",
    "LazyArray",
    "Run",
    "StoredFamily",
    "StoredSweep",
    "StoredWaveform",
    "Table",
    "TestRecord",
    "open_run",
]
