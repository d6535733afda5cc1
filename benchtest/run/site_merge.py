"""Merging the run files of one multi-site run (one per site) into one coherent run file.

Each pytest-xdist worker tests one site and writes its own run file. `merge_runs` replays
those parts through the reader (`open_run`) and the writer (`Hdf5RunWriter`), so the merged
file has exactly the documented layout: every test of every site in start order, each with
`site` and `serial_number` in its conditions (and so in every measurement row's effective
conditions), instruments and safe-state actions named `<site>:<role>`, and root attributes
`@sites` (JSON object site -> serial number) and `@merged_from` (JSON list of the parts).
The merged file is read back and checked against the parts (`verify_merge`) before the parts
may be removed. Sweeps are
replayed too; a part with waveform families is refused for now (its files are kept).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py

from benchtest.results.run import Run, open_run
from benchtest.results.test_record import TestRecord
from benchtest.runfile.codecs import GZIP
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


@dataclass(frozen=True)
class _Part:
    run: Run
    site: str
    serial: str


def merge_runs(parts: Sequence[str | Path], destination: str | Path) -> Path:
    """Write the run files `parts` (the sites of one run, same part) as one run file at
    `destination` (which must not exist), check it against the parts as read (`verify_merge`
    without reading them again), and return its path; the parts are left untouched."""
    if not parts:
        raise ValueError("merge_runs: no run files to merge")
    destination = Path(destination)
    with ExitStack() as stack:
        opened = [_open_part(stack, Path(p)) for p in parts]
        merged = {  # written with the header: a closed run file is sealed, never changed
            "sites": json.dumps({p.site: p.serial for p in opened}),
            "merged_from": json.dumps([str(p.run.path.name) for p in opened]),
            "merged_run_ids": json.dumps([str(p.run.metadata["run_id"]) for p in opened]),
        }
        with Hdf5RunWriter(destination, attributes=merged) as writer:
            for event in _events(opened):
                writer.handle(event)
        _verify(destination, [p.run for p in opened])
    return destination


def part_name(path: str | Path) -> tuple[datetime, str]:
    """The start time and the part (DUT name) of the run file `path`."""
    with h5py.File(path, "r") as file:
        started, part = file.attrs["start_time"], file.attrs["part"]
    return datetime.fromisoformat(str(started)), str(part)


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


def _shape(test: TestRecord) -> tuple[Any, ...]:
    """What a merged test must have kept of its part's test."""
    counts = (test.measurements, test.waveforms, test.sweeps, test.families)
    return (test.outcome, repr(test.duration), *(len(c) for c in counts))


def _open_part(stack: ExitStack, path: Path) -> _Part:
    run = stack.enter_context(open_run(path))
    if run.problems:
        raise ResultFileError(f"{path}: cannot merge a damaged run file: {run.problems}")
    return _Part(run, str(run.metadata.get("site", "")), str(run.metadata.get("serial_number", "")))


def _events(parts: list[_Part]) -> Iterator[WriterEvent]:
    """The events that write the merged run: its start, every site's instruments and tests
    in start order, the sites' safe-state actions, and its end."""
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
    tests = [(t.start, n, part, t) for n, part in enumerate(parts) for t in part.run.tests]
    for _, _, part, test in sorted(tests, key=lambda item: item[:2]):
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
    conditions = _with_site(test.conditions, part)
    yield TestStarted(test.id, test.start, conditions, test.attempt)
    for row in test.measurements.tolist():
        name, value, unit, low, high, outcome, timestamp, own = row
        if name in test.sweeps:  # a sweep's summary row: the writer makes it from the sweep
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
    for name, sweep in test.sweeps.items():
        limits = Limits(sweep.low, sweep.high, sweep.y.unit)
        yield SweepRecorded(
            test.id, name, sweep.x.values[...], sweep.y.values[...], sweep.x.name, sweep.x.unit,
            sweep.y.unit, limits, sweep.outcome, sweep.description,
        )  # fmt: skip
    if test.families:
        raise ResultFileError(
            f"{part.run.path}: test {test.id!r} has waveform families, which are not merged yet"
        )
    yield TestFinished(test.id, test.outcome, test.end, test.duration, test.message, test.attempt)


def _limit(value: float) -> float | None:
    return None if math.isnan(float(value)) else float(value)
