"""`open_run(path)`: a run file as a `Run` with its metadata, tests, measurements and waveforms.

It needs only h5py and numpy (plus hdf5plugin for files written with the fast codec), never
the pytest plugin, the simulator or drivers. Any part of the file that cannot be read is named
in `Run.problems` and the rest still loads; a file that cannot be opened at all raises a
`ResultFileError` naming the path. A damaged file never reads as a clean one: its seal is
checked (`integrity`), every damage found is in `Run.damage` (and `problems`), and its
`outcome` is "damaged".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.results.integrity import not_a_run, seal_damage, unopenable, unsealed
from benchtest.results.layout_v1 import read_measurements_v1, read_tests_v1
from benchtest.results.layout_v2 import TablesV2, read_tests_v2, run_measurements
from benchtest.results.padded import (
    SUPERBLOCK_HEAD,
    open_extended,
    open_padded,
    recorded_end,
    stored_size,
)
from benchtest.results.records import Closing, Table, as_table, attr, plain
from benchtest.results.test_record import TestRecord
from benchtest.runfile import schema
from benchtest.runfile.codecs import CODECS
from benchtest.runfile.commit_log import LoggedReader, read_log
from benchtest.runfile.tables import decode_table, read_table_noting
from benchtest.values.errors import ResultFileError
from benchtest.values.events import ConfigSnapshot

_T = TypeVar("_T")
_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, UnicodeDecodeError)
#: The run outcome of a damaged file, whatever it recorded (that is in `metadata`).
DAMAGED = "damaged"

_TEST_TABLE = np.dtype(
    [("index", np.int64), ("test_id", object), ("attempt", np.int64), ("entry", object),
     ("outcome", object),
     ("message", object), ("start_time", object), ("end_time", object),
     ("duration", np.float64), ("measurements", np.int64), ("waveforms", np.int64)]
)  # fmt: skip


class Run(Closing):
    """An open run file. Use as a context manager, or call `close()` when done.

    `problems` lists everything that keeps the file from being a complete, intact record;
    `damage` is the part of it that says the file is damaged (each "<path>: damaged: ...").
    With `verify` (the default) the seal of a closed run is checked, which reads the file once.
    """

    def __init__(self, path: Path, file: h5py.File, *, verify: bool = True) -> None:
        self.path = path
        self._file = file
        self.problems: list[str] = []
        self.damage: list[str] = []
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
        if verify:
            self._verify()

    def _damaged(self, message: str) -> None:
        """Note damage: `message` names the path and what is damaged."""
        self.damage.append(message)
        self.problems.append(message)

    def _verify(self) -> None:
        found, sealed = seal_damage(self.path, self._file)
        self.damage[:0] = found
        self.problems[:0] = found
        finished = str(self.metadata.get("outcome", schema.INCOMPLETE)) != schema.INCOMPLETE
        note = None if sealed or found else unsealed(self.path, self._file, finished)
        if note is not None:
            self.problems.insert(0, note)

    @property
    def damaged(self) -> bool:
        """Whether the file is damaged (see `damage`)."""
        return bool(self.damage)

    def readable(self) -> str:
        """What could be read, in words: "3 tests (2 passed, 1 failed), 6 measurements, ..."."""
        counts: dict[str, int] = {}
        for test in self.tests:
            counts[test.outcome] = counts.get(test.outcome, 0) + 1
        outcomes = ", ".join(f"{n} {o}" for o, n in counts.items())
        waveforms = sum(len(t.waveforms) for t in self.tests)
        return (
            f"{len(self.tests)} tests" + (f" ({outcomes})" if outcomes else "")
            + f", {len(self.measurements)} measurements, {waveforms} waveforms, "
            f"{len(self.instruments)} instruments, {len(self.metadata)} run attributes"
        )  # fmt: skip

    def _check_version(self) -> int:
        try:
            version = plain(self._file.attrs["benchtest_schema_version"])
            missing = ""
        except KeyError:
            version, missing = None, "no @benchtest_schema_version attribute"
        except (OSError, ValueError, RuntimeError) as exc:
            version, missing = None, f"its root cannot be read: {exc}"
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            if version is not None:  # text, a fraction, zero: no schema version
                missing = f"@benchtest_schema_version reads {version!r}"
            layout = self._layout_version()
            if layout is None:
                raise ResultFileError(not_a_run(self.path, self._file, missing))
            self._damaged(
                f"{self.path}: damaged: the root attribute @benchtest_schema_version is "
                f"missing or unreadable ({missing}); read as schema {layout}, which its "
                "groups show"
            )
            return layout
        if version > schema.SCHEMA_VERSION:
            damage, _ = seal_damage(self.path, self._file)
            if damage:  # a flipped version, not a newer file
                where = "; ".join(d.split(": damaged: ", 1)[-1] for d in damage)
                raise ResultFileError(
                    f"{self.path}: damaged: its @benchtest_schema_version reads {version!r}; "
                    f"{where}; nothing is readable"
                )
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

    def _layout_version(self) -> int | None:
        """The schema a file without its version attribute has, judged by its groups; None
        when it has none of a run file's groups (a plain HDF5 file)."""
        try:
            summary = self._file.get(schema.SUMMARY)
            if summary is None:
                return 1 if schema.RUN_INFO in self._file else None
            return 3 if schema.JOURNAL in summary else 2
        except (OSError, KeyError, ValueError, RuntimeError):
            return None

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
            self._damaged(f"{self.path}: damaged: /{where} is unreadable: {exc}")
            return None
        except ResultFileError as exc:
            self.problems.append(str(exc))
            return None

    def _config(self, name: str) -> ConfigSnapshot | None:
        where = f"{schema.RUN_INFO}/{name}"
        return self._guarded(where, lambda: _config(self._file[where]))

    def _table(self, group: str, name: str, dtype: np.dtype[Any]) -> Table:
        where = f"{group}/{name}"
        table = self._guarded(where, lambda: self._read_table(where))
        return as_table(decode_table(np.empty(0, dtype=dtype)) if table is None else table)

    def _read_table(self, where: str) -> npt.NDArray[Any]:
        """The readable rows of the table at `where`; rows that are not, noted as damage."""
        notes: list[str] = []
        rows = read_table_noting(self._file[where], notes)
        for note in notes:
            self._damaged_part(where, note)
        return rows

    def _damaged_part(self, where: str, what: str) -> None:
        self._damaged(f"{self.path}: damaged: /{where}: {what}")

    def _read_tests(self) -> list[TestRecord]:
        where = str(self.path)
        if self.schema_version == 1:
            return read_tests_v1(self._file, where, self._guarded)
        tables = TablesV2(self._file, self._guarded, self._damaged_part)
        tests = read_tests_v2(tables, where, self._guarded, self.problems)
        self.problems += [f"{where}: {note}" for note in tables.stopped]
        self.safe_state_log = _with_rows(self.safe_state_log, tables.safe_state)
        return tests

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
    def plans_manifest(self) -> str:
        """The plan files that ran, one `<sha256>  <path>` line each ("" when not recorded)."""
        where = f"{schema.RUN_INFO}/{schema.PLANS_MANIFEST}"
        text = self._guarded(
            where, lambda: str(plain(self._file[where][()])) if where in self._file else ""
        )
        return text or ""

    @property
    def outcome(self) -> str:
        """The run's outcome ("passed", "failed", ...), "incomplete" if it never finished,
        "damaged" if the file is damaged (what it recorded is in `metadata["outcome"]`)."""
        if self.damage:
            return DAMAGED
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


def _with_rows(table: Table, rows: list[tuple[Any, ...]]) -> Table:
    """`table` with `rows` (values in its column order) added at the end."""
    if not rows:
        return table
    names = table.dtype.names or ()
    text = [(n, object if table.dtype[n].kind == "U" else table.dtype[n]) for n in names]
    both = np.array([*map(tuple, table.tolist()), *rows], dtype=text)
    return as_table(decode_table(both))


def _config(dataset: h5py.Dataset) -> ConfigSnapshot:
    text = str(plain(dataset[()]))
    return ConfigSnapshot(attr(dataset, "path"), text, attr(dataset, "sha256"))


def open_run(path: str | Path, *, verify: bool = True) -> Run:
    """Open the run file `path` for reading (with `verify`, checking its seal: see `Run`).

    Raises ResultFileError naming the path when the file is missing, cannot be opened at all
    (saying whether it is damaged, and where when its seal tells), is not a benchtest run, or
    was written with a newer schema than this version reads.
    """
    path = Path(path)
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise ResultFileError(f"{path}: {problem}")
    file, stored = _open(path)
    short = f"{path.stat().st_size} of the {stored} bytes HDF5 recorded" if stored else ""
    try:
        run = Run(path, file, verify=verify)
    except ResultFileError as exc:
        file.close()
        if not short or "damaged" in str(exc):
            raise
        found = str(exc).removeprefix(f"{path}: ")
        raise ResultFileError(
            f"{path}: damaged: truncated to {short}, and so {found}; nothing is readable"
        ) from exc
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        file.close()
        reason = f"cannot read its root: {_first_line(exc)}"
        reason += f"; it is truncated to {short}" if short else ""
        raise ResultFileError(unopenable(path, reason)) from exc
    except BaseException:
        file.close()
        raise
    if short:
        # A finished (or otherwise damaged) run was not cut short by its writer: truncated.
        finished = run.metadata.get("outcome", schema.INCOMPLETE) != schema.INCOMPLETE
        if finished or run.damage:
            if not any("truncated to" in d for d in run.damage):  # the seal said it already
                run.damage.insert(0, f"{path}: damaged: truncated to {short}")
                run.problems.insert(0, run.damage[0])
        else:
            run.problems.insert(
                0,
                f"{path}: shorter than HDF5 recorded ({short}): the writer was killed during "
                "a commit, or the file was truncated; parts may be missing",
            )
    return run


def _open(path: Path) -> tuple[h5py.File, int | None]:
    """The open file, and the length HDF5 recorded when the file is shorter (it is then
    read as if padded with zeros to that length). A killed writer's file whose commit log
    holds a complete commit is read with the log applied (`runfile.commit_log`). A file
    longer than its superblock says (the space a writer had claimed, or a file written
    before the commit log, killed before the superblock of its last flush) is read with its
    real length as the end (see `padded`)."""
    logged = read_log(path)
    if logged:  # killed after writing a commit's log: read the file as the commit left it
        try:
            return h5py.File(LoggedReader(path, logged), "r"), None
        except OSError as exc:
            raise ResultFileError(unopenable(path, _first_line(exc))) from exc
    with path.open("rb") as raw:
        recorded = recorded_end(raw.read(SUPERBLOCK_HEAD))
    size = path.stat().st_size
    if recorded is not None and recorded < size:
        try:
            return open_extended(path, size), None
        except OSError:
            pass  # not readable that way: as it is, below
    try:
        return h5py.File(path, "r"), None
    except OSError as exc:
        stored = stored_size(exc)
        if stored is None:
            raise ResultFileError(unopenable(path, _first_line(exc))) from exc
        try:
            return open_padded(path, stored), stored
        except OSError:
            raise ResultFileError(unopenable(path, _first_line(exc))) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


__all__ = ["Run", "open_run"]
