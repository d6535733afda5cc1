"""Reading the tests of a schema-2 or -3 run file from its authoritative run-level tables.

A test counts when its row in /summary/tests and all its measurement and waveform rows carry
a valid commit mark; the NXentry groups are not needed (a killed run may lack them). In
schema 3 the rows of the tests committed since the last table append are in the journal
(/summary/journal): they are read from there into their places. Tests listed in
/summary/running or started in the journal, without a committed row, were cut short and come
back "incomplete".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.results.records import StoredWaveform, Table, as_table, read_waveforms
from benchtest.results.stored_curves import read_families, read_sweeps
from benchtest.results.test_record import TestRecord
from benchtest.runfile import schema
from benchtest.runfile.journal import halves_of, read_journal
from benchtest.runfile.tables import decode_table, read_raw_table

_T = TypeVar("_T")
Guard = Callable[[str, Callable[[], _T]], _T | None]

_COLUMNS = [*(schema.MEASUREMENT_DTYPE.names or ()), schema.CONDITIONS]


def _marked(rows: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Which rows were completely written: their commit column holds position + 1."""
    return np.asarray(rows[schema.COMMIT] == np.arange(1, len(rows) + 1))


def _conditions(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"unparsed": text}
    return value if isinstance(value, dict) else {"value": value}


def _with_journal(raw: npt.NDArray[Any], parts: list[list[Any]]) -> npt.NDArray[Any]:
    """The raw rows of a table with the journal's rows of it put in their places (a row's
    commit mark, its last value, is its position + 1); the table grows where needed."""
    rows = [row for part in parts for row in part if isinstance(row, list)]
    width = len(raw.dtype.names or ())
    placed = [(row[-1] - 1, tuple(row)) for row in rows if len(row) == width]
    placed = [(p, row) for p, row in placed if isinstance(p, int) and p >= 0]
    if not placed:
        return raw
    merged = np.zeros(max(len(raw), max(p for p, _ in placed) + 1), dtype=raw.dtype)
    merged[: len(raw)] = raw
    fixed = [n for n, name in enumerate(raw.dtype.names or ()) if raw.dtype[name].kind == "S"]
    for position, row in placed:
        try:
            merged[position] = _utf8(row, fixed) if fixed else row
        except (TypeError, ValueError, OverflowError):
            continue  # a value of the wrong type: the row stays unmarked, its test torn
    return merged


def _utf8(row: tuple[Any, ...], fixed: list[int]) -> tuple[Any, ...]:
    """`row` with the text of its fixed-length columns as UTF-8 (numpy would use ASCII)."""
    values = list(row)
    for index in fixed:
        if isinstance(values[index], str):
            values[index] = values[index].encode()
    return tuple(values)


def _stop_note(note: Any) -> str:
    if not isinstance(note, dict):
        return f"the writer stopped before the run ended: {note}"
    return f"the writer stopped at {note.get('time', '?')}: {note.get('message', '')}"


def _safe_state_row(values: Any) -> tuple[Any, ...]:
    """A row of run_info/safe_state_log from a journal record: time, role, ok, message."""
    if not isinstance(values, list) or len(values) != 4:
        return ("", "", False, f"a journal record that is not a safe-state row: {values!r}")
    time, role, ok, message = values
    return (str(time), str(role), ok is True, str(message))


class TablesV2:
    """The run-level tables of a schema-2 file, read once, with their commit marks checked.

    `damaged(where, what)` is told of rows that cannot be read. From the journal: `stopped`,
    why a writer stopped before the run ended (a full disk), and `safe_state`, the safe-state
    actions it noted after it stopped (rows of run_info/safe_state_log).
    """

    def __init__(
        self, file: h5py.File, guard: Guard[Any], damaged: Callable[[str, str], None]
    ) -> None:
        summary = file[schema.SUMMARY]
        journal: list[dict[str, Any]] = []
        if schema.JOURNAL in summary:
            where = f"{schema.SUMMARY}/{schema.JOURNAL}"
            dataset = summary[schema.JOURNAL]
            journal = guard(where, lambda: read_journal(dataset[...], halves_of(dataset))) or []
        committed = [r["rows"] for r in journal if isinstance(r.get("rows"), dict)]
        self.stopped = [_stop_note(r["stopped"]) for r in journal if "stopped" in r]
        self.safe_state = [_safe_state_row(r["safe_state"]) for r in journal if "safe_state" in r]

        def read(name: str) -> npt.NDArray[Any]:
            notes: list[str] = []
            rows = read_raw_table(summary[name], notes)
            for note in notes:
                damaged(f"{schema.SUMMARY}/{name}", note)
            return rows

        def load(name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
            rows = guard(f"{schema.SUMMARY}/{name}", partial(read, name))
            if rows is None:
                rows = np.empty(0, dtype=dtype)
            return decode_table(_with_journal(rows, [r.get(name) or [] for r in committed]))

        self.file = file
        self.tests = load(schema.TESTS, schema.TEST_DTYPE)
        self.measurements = load(schema.MEASUREMENTS, schema.SUMMARY_DTYPE)
        self.waveforms = load(schema.WAVEFORMS, schema.WAVEFORM_DTYPE)
        self._measurement_ok = _marked(self.measurements)
        self._waveform_ok = _marked(self.waveforms)
        self.running = guard(f"{schema.SUMMARY}/{schema.RUNNING}", self._running) or []
        self.running += [r["start"] for r in journal if isinstance(r.get("start"), dict)]

    def _running(self) -> list[dict[str, Any]]:
        raw = self.file[schema.SUMMARY][schema.RUNNING][()]
        value = json.loads(bytes(raw).rstrip(b"\0").decode("utf-8"))
        return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []

    def _rows_ok(self, position: int, kind: str) -> bool:
        start, count = (
            int(self.tests[position][f"{kind}_start"]),
            int(self.tests[position][f"{kind}_count"]),
        )
        rows, ok = (
            (self.measurements, self._measurement_ok)
            if kind == "measurement"
            else (self.waveforms, self._waveform_ok)
        )
        if start + count > len(rows):
            return False
        part = slice(start, start + count)
        return bool(ok[part].all() and (rows["test"][part] == position).all())

    def complete_positions(self) -> tuple[list[int], list[int]]:
        """Positions of committed test rows whose rows are all there, and of those that are not."""
        good: list[int] = []
        torn: list[int] = []
        for position in np.flatnonzero(_marked(self.tests)).tolist():
            whole = self._rows_ok(position, "measurement") and self._rows_ok(position, "waveform")
            (good if whole else torn).append(position)
        return good, torn

    def measurement_rows(self, position: int) -> Table:
        """A test's measurements, `conditions` made effective (the test's where a row has none)."""
        row = self.tests[position]
        start = int(row["measurement_start"])
        part = self.measurements[start : start + int(row["measurement_count"])]
        own = part[schema.CONDITIONS]
        conditions = np.where(own == "", str(row[schema.CONDITIONS]), own).astype(str)
        fields = [(n, part.dtype[n]) for n in _COLUMNS[:-1]]
        out = np.empty(len(part), dtype=[*fields, (schema.CONDITIONS, conditions.dtype)])
        for name, _ in fields:
            out[name] = part[name]
        out[schema.CONDITIONS] = conditions
        return as_table(out)

    def waveform_groups(self, position: int, guard: Guard[Any]) -> list[Named]:
        """The test's waveform groups with their names as recorded (in summary/waveforms)."""
        row = self.tests[position]
        rows = slice(int(row["waveform_start"]), int(row["waveform_start"] + row["waveform_count"]))
        named = zip(self.waveforms["name"][rows], self.waveforms["path"][rows], strict=True)
        groups = [
            (str(name), guard(str(path).lstrip("/"), partial(self.file.__getitem__, str(path))))
            for name, path in named
        ]
        return [(name, g) for name, g in groups if g is not None]


#: A waveform group and its name as recorded (None: read it from the group's `title`).
Named = tuple[str | None, h5py.Group]


def _readable_waveforms(
    groups: list[Named], where: str, guard: Guard[Any]
) -> dict[str, StoredWaveform]:
    """The waveforms of `groups` that can be read; the others are noted by `guard`."""
    waveforms: dict[str, StoredWaveform] = {}
    for name, group in groups:
        names = None if name is None else [name]
        found = guard(group.name.lstrip("/"), partial(read_waveforms, [group], where, names))
        waveforms.update({k: v for k, v in (found or {}).items() if k not in waveforms})
    return waveforms


def _record(tables: TablesV2, position: int, guard: Guard[Any], where: str) -> TestRecord:
    row = tables.tests[position]
    groups = tables.waveform_groups(position, guard)
    return record_of(
        tables,
        position,
        _readable_waveforms(groups, where, guard),
        _curves(tables.file, str(row["entry"]), where, guard),
    )


def record_of(
    tables: TablesV2,
    position: int,
    waveforms: dict[str, StoredWaveform],
    curves: dict[str, Any],
) -> TestRecord:
    """The record of the test at `position` of the tests table, with its `waveforms` and its
    `curves` (sweeps and families, by keyword) found by the caller."""
    row = tables.tests[position]
    return TestRecord(
        id=str(row["test_id"]),
        entry=str(row["entry"]),
        outcome=str(row["outcome"]),
        message=str(row["message"]),
        start=str(row["start_time"]),
        end=str(row["end_time"]),
        duration=float(row["duration"]),
        conditions=_conditions(str(row[schema.CONDITIONS])),
        measurements=tables.measurement_rows(position),
        waveforms=waveforms,
        index=int(row["index"]),
        attempt=int(row["attempt"]),
        **curves,
    )


def _curves(file: h5py.File, entry: str, where: str, guard: Guard[Any]) -> dict[str, Any]:
    """The sweeps and families of the test's entry, where it has one and they are readable."""
    group = file.get(entry) if entry else None
    if group is None or "default" not in group.attrs:  # nothing plottable, so no curves
        return {}
    return {
        "sweeps": guard(entry, partial(read_sweeps, group, where)) or {},
        "families": guard(entry, partial(read_families, group, where)) or {},
    }


def _nxdata_groups(file: h5py.File, entry: str) -> list[h5py.Group]:
    group = file.get(entry) if entry else None
    if group is None:
        return []
    return [
        g
        for g in group.values()
        if isinstance(g, h5py.Group) and "signal" in g.attrs and schema.KIND not in g.attrs
    ]


def _cut_short(
    marker: dict[str, Any], file: h5py.File, where: str, guard: Guard[Any]
) -> TestRecord:
    """A test that was running when the run stopped; whatever waveforms it wrote, if readable."""
    entry = str(marker.get("entry", ""))
    found = guard(entry or "?", partial(_nxdata_groups, file, entry)) or []
    groups: list[Named] = [(None, g) for g in found]
    return TestRecord(
        id=str(marker.get("test_id", "")),
        entry=entry,
        outcome=schema.INCOMPLETE,
        message="the run stopped while this test was running",
        start=str(marker.get("started", "")),
        end="",
        duration=math.nan,
        conditions=dict(marker.get(schema.CONDITIONS) or {}),
        measurements=as_table(decode_table(np.empty(0, dtype=schema.ENTRY_MEASUREMENT_DTYPE))),
        waveforms=_readable_waveforms(groups, where, guard),
        index=int(marker.get("index", 0)),
        attempt=int(marker.get("attempt", 1)),
        **_curves(file, entry, where, guard),
    )


def read_tests_v2(
    tables: TablesV2, where: str, guard: Guard[Any], problems: list[str]
) -> list[TestRecord]:
    """Every committed test, then the tests cut short, in start order."""
    good, torn = tables.complete_positions()
    records = [_record(tables, p, guard, where) for p in good]
    done = {r.index for r in records}
    for position in torn:
        test_id = tables.tests[position]["test_id"]
        problems.append(
            f"{where}: test {test_id} was not completely written (the run stopped during "
            "its commit); left out"
        )
    for marker in tables.running:
        if int(marker.get("index", 0)) not in done:
            records.append(_cut_short(marker, tables.file, where, guard))
    records.sort(key=lambda r: r.index)
    return records


def run_measurements(tests: list[TestRecord]) -> Table:
    """Every measurement of the run: a `test_id` column, then the test's table columns."""
    parts = [t.measurements for t in tests if len(t.measurements)]
    if not parts:
        empty = decode_table(np.empty(0, dtype=schema.ENTRY_MEASUREMENT_DTYPE))
        return as_table(_prepend_test_id(empty, np.empty(0, dtype=str)))
    rows = np.concatenate([np.asarray(p) for p in parts])
    ids = np.concatenate([np.full(len(t.measurements), t.id) for t in tests if len(t.measurements)])
    return as_table(_prepend_test_id(rows, ids))


def _prepend_test_id(rows: npt.NDArray[Any], ids: npt.NDArray[Any]) -> npt.NDArray[Any]:
    names = rows.dtype.names or ()
    out = np.empty(len(rows), dtype=[("test_id", ids.dtype), *((n, rows.dtype[n]) for n in names)])
    out["test_id"] = ids
    for name in names:
        out[name] = rows[name]
    return out


__all__ = ["StoredWaveform", "TablesV2", "read_tests_v2", "run_measurements"]
