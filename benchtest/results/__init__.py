"""Reading run files: `open_run(path)` for one run, `Catalog(folder)` across many.

It needs only h5py and numpy (never the pytest plugin, the simulator or drivers), so a run can
be analysed in a plain Python session. Tables come back as numpy structured arrays with `str`
text columns (`.to_pandas()` when pandas is installed); waveforms are read lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.values.lazy import lazy_names

if TYPE_CHECKING:
    from benchtest.results.catalog import Catalog
    from benchtest.results.records import LazyArray, StoredWaveform, Table
    from benchtest.results.run import Run, open_run
    from benchtest.results.stored_curves import Axis, StoredFamily, StoredSweep
    from benchtest.results.test_record import TestRecord

# Each name loads its module on first use: a run imports one module of this package (the lab
# catalog's settings) at start-up, without the readers.
_LAZY = {
    "Axis": "benchtest.results.stored_curves",
    "Catalog": "benchtest.results.catalog",
    "LazyArray": "benchtest.results.records",
    "Run": "benchtest.results.run",
    "StoredFamily": "benchtest.results.stored_curves",
    "StoredSweep": "benchtest.results.stored_curves",
    "StoredWaveform": "benchtest.results.records",
    "Table": "benchtest.results.records",
    "TestRecord": "benchtest.results.test_record",
    "open_run": "benchtest.results.run",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


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
