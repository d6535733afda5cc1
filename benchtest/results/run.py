"""`open_run(path)`: a run file as a `Run` with its metadata, tests, measurements and waveforms.

It needs only h5py and numpy (plus hdf5plugin for files written with the fast codec), never
the pytest plugin, the simulator or drivers. Any part of the file that cannot be read is named
in `Run.problems` and the rest still loads; a file that cannot be opened at all raises a
`ResultFileError` naming the path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from benchtest.values.errors import ResultFileError
from benchtest.values.events import ConfigSnapshot
from benchtest.results.layout_v1 import read_measurements_v1, read_tests_v1
from benchtest.results.layout_v2 import TablesV2, read_tests_v2, run_measurements
from benchtest.results.padded import open_padded, stored_size
from benchtest.results.records import Closing, Table, as_table, attr, plain
from benchtest.results.test_record import TestRecord
from benchtest.runfile import schema
from benchtest.runfile.codecs import CODECS
from benchtest.runfile.tables import decode_table, read_table

_T = TypeVar("_T")
_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, UnicodeDecodeError)

_TEST_TABLE = np.dtype(
    [("index", np.int64), ("test_id", object), ("attempt", np.int64), ("entry", object),
     ("outcome", object),
     ("message", object), ("start_time", object), ("end_time", object),
     ("duration", np.float64), ("measurements", np.int64), ("waveforms", np.int64)]
)  # fmt: skip


class Run(Closing):
    """An open run file. Use as a context manager, or call `close()` when done."""

    def __init__(self, path: Path, file: h5py.File) -> None:
        self.path = path
        self._file = file
        self.problems: list[str] = []
        self.schema_version = self._check_version()
        self.metadata: dict[str, Any] = self._metadata()
        self._load_plugins()
        self.bench_file = self._config(schema.BENCH_FILE)
        self.dut_profile = self._config(schema.DUT_PROFILE)
        self.instruments = self._table(schema.RUN_INFO, schema.INSTRUMENTS, schema.INSTRUMENT_DTYPE)
        self.safe_state_log = self._table(
            schema.RUN_INFO, schema.SAFE_STATE_LOG, schema.SAFE_STATE_DTYPE
        )
        self.tests: list[TestRecord] = self._read_tests()
        self.measurements: Table = self._measurements()

    def _check_version(self) -> int:
        version = attr(self._file, "benchtest_schema_version", None)
        if version is None:
            raise ResultFileError(
                f"{self.path}: not a benchtest run file (no @benchtest_schema_version attribute)"
            )
        if not isinstance(version, int) or version > schema.SCHEMA_VERSION:
            raise ResultFileError(
                f"{self.path}: schema version {version!r} is newer than this benchtest reads "
                f"(up to {schema.SCHEMA_VERSION}); upgrade benchtest"
            )
        return version

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        for name in self._file.attrs:
            value = self._guarded(f"@{name}", partial(self._attribute, name))
            if value is not None:
                metadata[name] = value
        return metadata

    def _attribute(self, name: str) -> Any:
        return plain(self._file.attrs[name])

    def _load_plugins(self) -> None:
        codec = CODECS.get(str(self.metadata.get("compression", "gzip")))
        if codec is not None and codec.needs_plugin:
            self._guarded("@compression", codec.filter_args)  # imports hdf5plugin, or says why not

    def _guarded(self, where: str, read: Callable[[], _T]) -> _T | None:
        """`read()`, or None with a note in `problems` when that part of the file is damaged."""
        try:
            return read()
        except _ERRORS as exc:
            self.problems.append(f"{self.path}: /{where}: unreadable: {exc}")
            return None
        except ResultFileError as exc:
            self.problems.append(str(exc))
            return None

    def _config(self, name: str) -> ConfigSnapshot | None:
        where = f"{schema.RUN_INFO}/{name}"
        return self._guarded(where, lambda: _config(self._file[where]))

    def _table(self, group: str, name: str, dtype: np.dtype[Any]) -> Table:
        where = f"{group}/{name}"
        table = self._guarded(where, lambda: read_table(self._file[where]))
        return as_table(decode_table(np.empty(0, dtype=dtype)) if table is None else table)

    def _read_tests(self) -> list[TestRecord]:
        where = str(self.path)
        if self.schema_version == 1:
            return read_tests_v1(self._file, where, self._guarded)
        tables = TablesV2(self._file, self._guarded)
        return read_tests_v2(tables, where, self._guarded, self.problems)

    def _measurements(self) -> Table:
        if self.schema_version == 1:
            table = self._guarded(
                f"{schema.SUMMARY}/{schema.MEASUREMENTS}",
                lambda: read_measurements_v1(self._file),
            )
            return table if table is not None else run_measurements([])
        return run_measurements(self.tests)

    @property
    def test_table(self) -> Table:
        """One row per test (start order): index, id, entry, outcome, message, times, counts."""
        rows = [
            (t.index, t.id, t.attempt, t.entry, t.outcome, t.message, t.start, t.end, t.duration,
             len(t.measurements), len(t.waveforms))
            for t in self.tests
        ]  # fmt: skip
        return as_table(decode_table(np.array(rows, dtype=_TEST_TABLE)))

    @property
    def outcome(self) -> str:
        """The run's outcome ("passed", "failed", ...), "incomplete" if it never finished."""
        return str(self.metadata.get("outcome", schema.INCOMPLETE))

    def test(self, test_id: str) -> TestRecord:
        """The (last) record of the test with pytest node id `test_id`."""
        for record in reversed(self.tests):
            if record.id == test_id:
                return record
        raise KeyError(test_id)

    def __iter__(self) -> Iterator[TestRecord]:
        return iter(self.tests)

    def close(self) -> None:
        self._file.close()


def _config(dataset: h5py.Dataset) -> ConfigSnapshot:
    text = str(plain(dataset[()]))
    return ConfigSnapshot(attr(dataset, "path"), text, attr(dataset, "sha256"))


def open_run(path: str | Path) -> Run:
    """Open the run file `path` for reading.

    Raises ResultFileError naming the path when the file is missing, not HDF5, truncated or
    corrupt, not a benchtest run, or written with a newer schema than this version reads.
    """
    path = Path(path)
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise ResultFileError(f"{path}: {problem}")
    if not h5py.is_hdf5(path):
        raise ResultFileError(f"{path}: not an HDF5 file")
    file, note = _open(path)
    try:
        run = Run(path, file)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        file.close()
        raise ResultFileError(f"{path}: cannot read, truncated or corrupt: {exc}") from exc
    except BaseException:
        file.close()
        raise
    run.problems[:0] = [note] if note else []
    return run


def _open(path: Path) -> tuple[h5py.File, str]:
    """The open file, and a note when it had to be read past its real end."""
    try:
        return h5py.File(path, "r"), ""
    except OSError as exc:
        size = stored_size(exc)
        if size is None:
            raise ResultFileError(f"{path}: cannot open, truncated or corrupt: {exc}") from exc
        try:
            file = open_padded(path, size)
        except OSError:
            raise ResultFileError(f"{path}: cannot open, truncated or corrupt: {exc}") from exc
    note = (
        f"{path}: shorter than HDF5 recorded ({path.stat().st_size} of {size} bytes): "
        "truncated, or the writer was killed during a commit; parts may be missing"
    )
    return file, note


__all__ = ["Run", "open_run"]
