"""Merging the run files of one multi-site run (one per site) into one coherent run file.

Each pytest-xdist worker tests one site and writes its own run file. `merge_runs` replays
those parts through the reader (`open_run`) and the writer (`Hdf5RunWriter`), so the merged
file has exactly the documented layout: every test of every site in start order, each with
`site` and `serial_number` in its conditions (and so in every measurement row's effective
conditions), instruments and safe-state actions named `<site>:<role>`, and root attributes
`@sites` (JSON object site -> serial number) and `@merged_from` (JSON list of the parts).
Sweeps are replayed where their summary row is, so every test's rows keep their order; a part
with waveform families is refused for now (its files are kept). The merged file is written
at once (not committed test by test: until it is fsynced at the end, the parts are the
record), and its tables are checked against the parts, column by column,
before the parts may be removed; `verify_merge` checks a merged file against its parts read
again. `read_part` reads a site's file ahead, while the other sites still run.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.results.run import Run, open_run
from benchtest.results.test_record import TestRecord
from benchtest.run.site_part import read_site_part
from benchtest.runfile import schema
from benchtest.runfile.codecs import GZIP
from benchtest.storage.durability import fsync_directory
from benchtest.storage.hdf5_writer import Hdf5RunWriter, StoredWaveformCopied, WriterEvent
from benchtest.values.errors import ResultFileError
from benchtest.values.events import (
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    SafeStateApplied,
    SweepRecorded,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement, Outcome

#: Run outcomes from the least to the most severe; the merged run takes the worst.
_SEVERITY = ("passed", "failed", "interrupted", "incomplete", "error")
_CHECKED = (schema.TESTS, schema.MEASUREMENTS, schema.WAVEFORMS)


@dataclass(frozen=True)
class _Part:
    run: Run
    site: str
    serial: str


def read_part(path: str | Path) -> Run:
    """The site's run file `path`, opened and read as `merge_runs` takes it (its tests, and the
    length of each waveform), so that a site that finished early can be read while the others
    still run; the caller closes it. A file its writer closed cleanly is read from its tables
    (`read_site_part`). Raises `ResultFileError` for a damaged file."""
    run = read_site_part(path)
    try:
        if run.problems:
            raise ResultFileError(f"{path}: cannot merge a damaged run file: {run.problems}")
        for test in run.tests:
            for waveform in test.waveforms.values():
                len(waveform)
    except BaseException:
        run.close()
        raise
    return run


def merge_runs(parts: Sequence[str | Path | Run], destination: str | Path) -> Path:
    """Write the run files `parts` (the sites of one run, same part; paths, or runs from
    `read_part`, which stay open) as one run file at `destination` (which must not exist),
    check its tables against the parts as read, make it durable (fsync), and return its path;
    the parts are left untouched.

    The merged file is written at once (`bulk`: committed every batch, not every test) and
    fsynced once at the end: until then the parts are the record."""
    if not parts:
        raise ValueError("merge_runs: no run files to merge")
    destination = Path(destination)
    with ExitStack() as stack:
        opened = [
            _part(p if isinstance(p, Run) else stack.enter_context(read_part(p))) for p in parts
        ]
        order = _start_order(opened)
        merged = {  # written with the header: a closed run file is sealed, never changed
            "sites": json.dumps({p.site: p.serial for p in opened}),
            "merged_from": json.dumps([str(p.run.path.name) for p in opened]),
            "merged_run_ids": json.dumps([str(p.run.metadata["run_id"]) for p in opened]),
        }
        with Hdf5RunWriter(destination, attributes=merged, sync="never", bulk=True) as writer:
            for event in _events(opened, order):
                writer.handle(event)
        _check_tables(destination, order)
    _make_durable(destination)
    return destination


def part_name(path: str | Path) -> tuple[datetime, str]:
    """The start time and the part (DUT name) of the run file `path`."""
    with h5py.File(path, "r") as file:
        started, part = file.attrs["start_time"], file.attrs["part"]
    return datetime.fromisoformat(str(started)), str(part)


def merged_outcomes(path: str | Path) -> tuple[str, str, list[tuple[str, str]]]:
    """(part, run outcome, (outcome, message) of every test) of the merged run file `path`,
    read from its header and its `summary/tests` table alone: what the end of a multi-site
    session prints, without reading every test's record (`open_run`). For a file `merge_runs`
    has just written and checked; raises `ResultFileError` when these cannot be read."""
    try:
        with h5py.File(path, "r") as file:
            attrs = file.attrs
            part, outcome = attrs.get("part", ""), attrs.get("outcome", schema.INCOMPLETE)
            tests = file[f"{schema.SUMMARY}/{schema.TESTS}"]
            outcomes, messages = (tests.fields(name)[...] for name in ("outcome", "message"))
    except (OSError, KeyError, ValueError) as exc:
        raise ResultFileError(f"{path}: cannot read the merged run's outcome: {exc}") from exc
    return (
        str(_text(part)),
        str(_text(outcome)),
        list(zip(_texts(outcomes), _texts(messages), strict=True)),
    )


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def verify_merge(parts: Sequence[str | Path], merged: str | Path) -> None:
    """Raise `ResultFileError` unless `merged` holds every test, measurement and waveform of
    `parts`, each part's tests with their site and serial number."""
    with ExitStack() as stack:
        _verify(merged, [stack.enter_context(open_run(path)) for path in parts])


def _verify(merged: str | Path, parts: list[Run]) -> None:
    with open_run(merged) as run:
        if run.problems:
            raise ResultFileError(f"{merged}: merged run has problems: {run.problems}")
        found = {(t.conditions.get("site"), t.id, t.attempt): t for t in run.tests}
        for part in parts:
            site = str(part.metadata.get("site", ""))
            for test in part.tests:
                other = found.get((site, test.id, test.attempt))
                if other is None or _shape(other) != _shape(test):
                    raise ResultFileError(
                        f"{merged}: test {test.id!r} of site {site!r} is missing or differs"
                    )


def _check_tables(merged: str | Path, order: Sequence[tuple[_Part, TestRecord]]) -> None:
    """Raise `ResultFileError` unless the tables of `merged` hold the tests of `order` in that
    order, every row committed: each test's id, attempt, outcome, times, site and serial
    number, its measurements (every column but their conditions) and its waveforms (name and
    points). Compared column by column with numpy, without reading the file's entries."""
    with h5py.File(merged, "r") as file:
        summary = file[schema.SUMMARY]
        tests, rows, waves = (summary[name][...] for name in _CHECKED)
    tables = {schema.TESTS: tests, schema.MEASUREMENTS: rows, schema.WAVEFORMS: waves}
    for name, table in tables.items():
        if not np.array_equal(table[schema.COMMIT], np.arange(1, len(table) + 1)):
            raise ResultFileError(f"{merged}: merged table summary/{name} has uncommitted rows")
    records = [test for _, test in order]
    if len(tests) != len(records):
        raise ResultFileError(
            f"{merged}: merged run has {len(tests)} tests, the sites {len(records)}"
        )
    expected: dict[str, list[Any]] = {
        "test_id": [t.id for t in records],
        "attempt": [t.attempt for t in records],
        "outcome": [t.outcome for t in records],
        "start_time": [t.start for t in records],
        "end_time": [t.end for t in records],
        "measurement_count": [len(t.measurements) for t in records],
        "waveform_count": [len(t.waveforms) for t in records],
        "site": [(p.site, p.serial) for p, _ in order],
    }
    found: dict[str, list[Any]] = {
        **{k: _texts(tests[k]) for k in ("test_id", "outcome", "start_time", "end_time")},
        **{k: tests[k].tolist() for k in ("attempt", "measurement_count", "waveform_count")},
        "site": [_site(c) for c in _texts(tests[schema.CONDITIONS])],
    }
    durations = np.array([t.duration for t in records], dtype=np.float64)
    differs = [k for k in expected if expected[k] != found[k]]
    differs += [] if np.array_equal(tests["duration"], durations, equal_nan=True) else ["duration"]
    differs += _measurements_differ(rows, records)
    names = [name for t in records for name in t.waveforms]
    points = [len(w) for t in records for w in t.waveforms.values()]
    if _texts(waves["name"]) != names or waves["points"].tolist() != points:
        differs.append("waveforms")
    if differs:
        first = _first_difference(expected, found)
        raise ResultFileError(
            f"{merged}: merged run differs from the sites' run files in {', '.join(differs)}"
            + (f" (first at test {first})" if first else "")
        )


def _measurements_differ(rows: npt.NDArray[Any], records: list[TestRecord]) -> list[str]:
    """The measurement columns where `rows` (merged) are not the tests' rows, in order (a
    sweep's summary row has the time the writer judged the sweep: its timestamp is new)."""
    if len(rows) != sum(len(t.measurements) for t in records):
        return ["measurements"]
    if not len(rows):
        return []
    expected = np.concatenate([np.asarray(t.measurements) for t in records])
    recorded = np.concatenate([_not_swept(t) for t in records])
    differs = [
        f"measurement {k}s"
        for k in ("value", "low", "high")
        if not np.array_equal(rows[k], expected[k], equal_nan=True)
    ]
    if not np.array_equal(rows["timestamp"][recorded], expected["timestamp"][recorded]):
        differs.append("measurement timestamps")
    differs += [
        f"measurement {k}s"
        for k in ("name", "unit", "outcome")
        if not np.array_equal(np.char.decode(rows[k], "utf-8"), expected[k].astype(str))
    ]
    return differs


def _not_swept(test: TestRecord) -> npt.NDArray[np.bool_]:
    """Which of the test's measurement rows are not a sweep's summary row."""
    names = np.asarray(test.measurements["name"])
    return ~np.isin(names, list(test.sweeps)) if test.sweeps else np.ones(len(names), bool)


def _first_difference(expected: dict[str, list[Any]], found: dict[str, list[Any]]) -> str:
    for k in expected:
        for n, (want, got) in enumerate(zip(expected[k], found[k], strict=False)):
            if want != got:
                return f"{n + 1} ({expected['test_id'][n]!r}): {k} {got!r}, expected {want!r}"
    return ""


def _texts(column: npt.NDArray[Any]) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in column.tolist()]


def _site(conditions: str) -> tuple[str, str]:
    values = json.loads(conditions) if conditions else {}
    return str(values.get("site", "")), str(values.get("serial_number", ""))


def _make_durable(path: Path) -> None:
    """fsync the closed file `path` and its folder (its name): the parts may go after this."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)


def _shape(test: TestRecord) -> tuple[Any, ...]:
    """What a merged test must have kept of its part's test."""
    counts = (test.measurements, test.waveforms, test.sweeps, test.families)
    return (test.outcome, repr(test.duration), *(len(c) for c in counts))


def _part(run: Run) -> _Part:
    if run.problems:
        raise ResultFileError(f"{run.path}: cannot merge a damaged run file: {run.problems}")
    return _Part(run, str(run.metadata.get("site", "")), str(run.metadata.get("serial_number", "")))


def _start_order(parts: list[_Part]) -> list[tuple[_Part, TestRecord]]:
    """Every test of every part in start order (a tie: in the order of the parts)."""
    tests = [(t.start, n, part, t) for n, part in enumerate(parts) for t in part.run.tests]
    return [(part, test) for _, _, part, test in sorted(tests, key=lambda item: item[:2])]


def _events(parts: list[_Part], order: list[tuple[_Part, TestRecord]]) -> Iterator[WriterEvent]:
    """The events that write the merged run: its start, every site's instruments, the tests
    in `order`, the sites' safe-state actions, and its end."""
    first = parts[0].run
    meta = first.metadata
    if first.bench_file is None or first.dut_profile is None:
        raise ResultFileError(f"{first.path}: no bench file or DUT profile to merge")
    yield RunStarted(
        run_id=uuid.uuid4().hex,
        started=min(str(p.run.metadata.get("start_time", "")) for p in parts),
        framework_version=str(meta.get("creator_version", "")),
        bench=first.bench_file,
        dut=first.dut_profile,
        part=str(meta.get("part", "")),
        serial_number=",".join(p.serial for p in parts),
        lot=str(meta.get("lot", "")),
        operator=str(meta.get("operator", "")),
        station=str(meta.get("station", "")),
        host=str(meta.get("host", "")),
        plans_commit=str(meta.get("plans_commit", "")),
        plans_dirty=bool(meta.get("plans_dirty", False)),
        site=",".join(p.site for p in parts),
        plans_root=str(meta.get("plans_root", "")),
        plans_sha256=str(meta.get("plans_sha256", "")),
        plans_manifest=first.plans_manifest,
    )
    for part in parts:
        for row in part.run.instruments:
            role, driver, resource, identity, due = (str(v) for v in row.tolist())
            yield InstrumentIdentified(f"{part.site}:{role}", driver, resource, identity, due)
    for part, test in order:
        yield from _test_events(part, test)
    for part in parts:
        for row in part.run.safe_state_log:
            time, role, ok, message = row.tolist()
            yield SafeStateApplied(f"{part.site}:{role}", bool(ok), str(time), str(message))
    outcomes = [str(p.run.metadata.get("outcome", "error")) for p in parts]
    worst = max(outcomes, key=lambda o: _SEVERITY.index(o) if o in _SEVERITY else len(_SEVERITY))
    skipped = sum(int(p.run.metadata.get("skipped", 0)) for p in parts)
    reasons = [str(p.run.metadata.get("skip_reasons", "")) for p in parts]
    yield RunFinished(
        max(str(p.run.metadata.get("end_time", "")) for p in parts),
        worst,
        skipped=skipped,
        skip_reasons="; ".join(dict.fromkeys(r for r in reasons if r)),
    )


def _with_site(conditions: dict[str, Any], part: _Part) -> dict[str, Any]:
    return {**conditions, "site": part.site, "serial_number": part.serial}


def _test_events(part: _Part, test: TestRecord) -> Iterator[WriterEvent]:
    """The events of one test; a sweep where its summary row is (the writer makes that row
    from the sweep), so the measurements keep their order."""
    conditions = _with_site(test.conditions, part)
    yield TestStarted(test.id, test.start, conditions, test.attempt)
    swept: list[str] = []
    for row in test.measurements.tolist():
        name, value, unit, low, high, outcome, timestamp, own = row
        if name in test.sweeps:
            swept.append(str(name))
            yield _sweep_event(test, str(name))
            continue
        limits = Limits(_limit(low), _limit(high), str(unit))
        own_conditions = json.loads(own) if own else {}
        measurement = Measurement(
            str(name), float(value), str(unit), limits, Outcome(str(outcome)), float(timestamp),
            _with_site(own_conditions, part),
        )  # fmt: skip
        yield MeasurementRecorded(test.id, measurement)
    same_codec = part.run.metadata.get("compression", GZIP.name) == GZIP.name
    for name, stored in test.waveforms.items():
        if same_codec:  # the merged file's codec: its chunks are copied as they are
            yield StoredWaveformCopied(test.id, name, stored.group, len(stored))
        else:
            yield WaveformRecorded(test.id, name, stored.to_waveform(), stored.description)
    for name in test.sweeps.keys() - set(swept):  # without a summary row (not written so)
        yield _sweep_event(test, name)
    if test.families:
        raise ResultFileError(
            f"{part.run.path}: test {test.id!r} has waveform families, which are not merged yet"
        )
    yield TestFinished(test.id, test.outcome, test.end, test.duration, test.message, test.attempt)


def _sweep_event(test: TestRecord, name: str) -> SweepRecorded:
    sweep = test.sweeps[name]
    limits = Limits(sweep.low, sweep.high, sweep.y.unit)
    return SweepRecorded(
        test.id, name, sweep.x.values[...], sweep.y.values[...], sweep.x.name, sweep.x.unit,
        sweep.y.unit, limits, sweep.outcome, sweep.description,
    )  # fmt: skip


def _limit(value: float) -> float | None:
    return None if math.isnan(float(value)) else float(value)
