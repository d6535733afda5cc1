"""A site's run file read for the merge of a multi-site run, quickly: `read_site_part`.

The sites of a run finish together, and the merge waits for every site's file to be read, so
the reading is on the path to the end of the session. `open_run` builds each test's record
with guarded lookups that expect damage anywhere; a file its writer closed cleanly needs none
of that. `read_site_part` reads such a file as the same `Run` with the same test records,
built straight from its run-level tables (`TablesV2`, the authoritative record), and leaves
every other file, and any surprise on the way, to `open_run` as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import h5py

from benchtest.results.layout_v2 import TablesV2, record_of
from benchtest.results.padded import SUPERBLOCK_HEAD, recorded_end
from benchtest.results.records import StoredWaveform
from benchtest.results.run import Run, open_run
from benchtest.results.stored_curves import read_families, read_sweeps
from benchtest.results.test_record import TestRecord
from benchtest.runfile import schema
from benchtest.runfile.commit_log import read_log
from benchtest.values.errors import ResultFileError

_T = TypeVar("_T")
#: What reading a part of the file raises when that part is not as a clean close leaves it.
_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, UnicodeDecodeError)


class _Unusual(Exception):
    """The file is not as a clean close leaves it: read it with `open_run`."""


def read_site_part(path: str | Path) -> Run:
    """The run file `path` as `open_run` reads it: through the tables alone when its writer
    closed it cleanly (no commit log, its length as HDF5 recorded, every test committed),
    else with `open_run` itself. Raises what `open_run` raises."""
    path = Path(path)
    if not _plainly_closed(path):
        return open_run(path)
    try:
        file = h5py.File(path, "r")
    except OSError:
        return open_run(path)  # which says why it cannot be opened
    try:
        return _SitePart(path, file)
    except (_Unusual, ResultFileError, *_ERRORS):
        file.close()
        return open_run(path)
    except BaseException:
        file.close()
        raise


def _plainly_closed(path: Path) -> bool:
    """No commit log to apply, and exactly as long as HDF5 recorded: `open_run` would open it
    with h5py as it is."""
    try:
        if read_log(path):
            return False
        with path.open("rb") as raw:
            recorded = recorded_end(raw.read(SUPERBLOCK_HEAD))
        return recorded is not None and recorded == path.stat().st_size
    except OSError:
        return False


class _SitePart(Run):
    """A `Run` whose tests are built from its tables; raises `_Unusual` (from the
    constructor) for a file with damage, a test not completely written, a test cut short,
    or a writer that stopped early."""

    def _damaged(self, message: str) -> None:
        raise _Unusual(message)

    def _read_tests(self) -> list[TestRecord]:
        if self.schema_version == 1:
            raise _Unusual("schema 1")
        tables = TablesV2(self._file, _strict, self._damaged_part)
        good, torn = tables.complete_positions()
        done = set(tables.tests["index"][good].tolist())
        cut = [m for m in tables.running if int(m.get("index", 0)) not in done]
        if torn or cut or tables.stopped or tables.safe_state:
            raise _Unusual("not closed cleanly")
        records = [self._record(tables, position) for position in good]
        records.sort(key=lambda record: record.index)
        return records

    def _record(self, tables: TablesV2, position: int) -> TestRecord:
        """The test at `position` of the tests table, as `layout_v2` builds it."""
        row = tables.tests[position]
        curves = self._curves(str(row["entry"]), tables, row)
        return record_of(tables, position, self._waveforms(tables, row), curves)

    def _waveforms(self, tables: TablesV2, row: Any) -> dict[str, StoredWaveform]:
        """The test's waveforms by name as recorded (the first of two with one name)."""
        first = int(row["waveform_start"])
        rows = tables.waveforms[first : first + int(row["waveform_count"])]
        waveforms: dict[str, StoredWaveform] = {}
        columns = (rows[column].tolist() for column in ("name", "path", "points"))
        for name, where, points in zip(*columns, strict=True):
            if str(name) not in waveforms:
                group = self._file[str(where)]
                waveforms[str(name)] = _Listed(group, str(self.path), str(name), int(points))
        return waveforms

    def _curves(self, entry: str, tables: TablesV2, row: Any) -> dict[str, Any]:
        """The sweeps and families of the test's entry. An entry with nothing plottable has
        none, and one whose only groups are its waveforms has none either (read without
        opening them)."""
        name = entry.encode()
        if not entry or not h5py.h5a.exists(self._file.id, b"default", obj_name=name):
            return {}
        first = int(row["waveform_start"])
        paths = tables.waveforms["path"][first : first + int(row["waveform_count"])]
        waveforms = {str(p).rsplit("/", 1)[-1].encode() for p in paths.tolist()}
        known = waveforms | {field.encode() for field in schema.ENTRY_FIELDS}
        if all(child in known for child in h5py.h5g.open(self._file.id, name)):
            return {}
        group, where = self._file[entry], str(self.path)
        return {"sweeps": read_sweeps(group, where), "families": read_families(group, where)}


class _Listed(StoredWaveform):
    """A waveform of a cleanly closed file, its length as the waveforms table lists it (the
    writer wrote both; the samples are not opened to count them)."""

    def __init__(self, group: h5py.Group, where: str, name: str, points: int) -> None:
        super().__init__(group, where, name)
        self._points = points

    def __len__(self) -> int:
        return self._points


def _strict(where: str, read: Callable[[], _T]) -> _T:
    """A guard for `TablesV2` that lets a part that cannot be read raise."""
    return read()


def _conditions(text: str) -> dict[str, Any]:
    """A test's conditions (JSON); any other text is unusual here."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise _Unusual(f"conditions {text!r}") from exc
    if not isinstance(value, dict):
        raise _Unusual(f"conditions {text!r}")
    return value
