"""Storage of runs: the HDF5 writer that subscribes to the run recorder, and repacking.

The layout is `benchtest.runfile` (documented in docs/results-format.md); `benchtest.results`
reads it back, and `repack` rewrites a file made with the fast codec into the portable one.
"""

from __future__ import annotations

from benchtest.runfile.schema import SCHEMA_VERSION
from benchtest.storage.hdf5_writer import Hdf5RunWriter
from benchtest.storage.repack import repack, repack_command

__all__ = ["SCHEMA_VERSION", "Hdf5RunWriter", "repack", "repack_command"]
