"""Resuming a killed run: what of it finished, and its finished tests replayed into a new file.

`read_resume_point(path)` reads a run file that did not finish (killed, or interrupted) and
says which tests finished in it. The run that resumes it writes one new run file: its header
is the killed run's (part, serial number, lot, operator, start time, plans), it first receives
the finished tests of the killed file as they were stored (`replay`), then the tests that run
now. Once the finished tests are committed there, the killed file is renamed to
`<name>.resumed` (`retire`), so the results folder never holds the same test twice under `.h5`
files; the new file names it in `@resumed_from` and `@resumed_run_id`. See `docs/resume.md`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchtest.runfile.codecs import GZIP
from benchtest.runfile.commit_log import fold_log
from benchtest.runfile.schema import INCOMPLETE
from benchtest.storage.hdf5_writer import StoredWaveformCopied, WriterEvent
from benchtest.values.errors import ResultFileError
from benchtest.values.events import (
    ConfigSnapshot,
    Event,
    MeasurementRecorded,
    SweepRecorded,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement, Outcome

if TYPE_CHECKING:  # the run-file reader is imported where a run is resumed, not by every run
    from benchtest.results.run import Run
    from benchtest.results.test_record import TestRecord

#: Run outcomes that say the run did not finish: such a run can be resumed.
RESUMABLE = (INCOMPLETE, "interrupted")
#: What a killed run file is renamed to once a new run file holds its finished tests.
RETIRED_SUFFIX = ".resumed"
#: Test outcomes after which a test marked retry(n) runs again, if it has attempts left.
_RETRIED = ("failed", "error")


class ResumeError(ResultFileError):
    """A run file that cannot be resumed: names the file and why."""


@dataclass(frozen=True)
class TestProgress:
    """How far one test got in the killed run: its last attempt and that attempt's outcome."""

    __test__ = False  # not a pytest test class

    attempts: int
    outcome: str  # of the last attempt; "incomplete" when the run stopped in it

    def finished(self, retries: int) -> bool:
        """Whether the test is done: its last attempt finished, and no retry is due."""
        if self.outcome == INCOMPLETE:
            return False
        return self.outcome not in _RETRIED or self.attempts >= retries + 1


@dataclass(frozen=True)
class ResumePoint:
    """A killed run as the run that resumes it needs it."""

    path: Path
    run_id: str
    part: str
    serial_number: str
    lot: str
    operator: str
    start_time: str
    plans_commit: str
    plans_dirty: bool
    plans_root: str
    plans_sha256: str
    plans_manifest: str
    bench: ConfigSnapshot
    dut: ConfigSnapshot
    progress: Mapping[str, TestProgress]  # by test id, in start order

    def finished(self, retries: Callable[[str], int]) -> frozenset[str]:
        """The ids of the tests that are done, given each test id's retry(n) count."""
        return frozenset(t for t, p in self.progress.items() if p.finished(retries(t)))

    @property
    def attributes(self) -> dict[str, str]:
        """The root attributes that name the killed run in the new run file."""
        return {"resumed_from": self.path.name, "resumed_run_id": self.run_id}

    @property
    def retired_path(self) -> Path:
        """Where the killed file is kept once the new file holds its finished tests."""
        return self.path.with_name(self.path.name + RETIRED_SUFFIX)


@dataclass(frozen=True)
class Resumption:
    """What a resuming run does with its killed run: replays the tests `test_ids` of it."""

    point: ResumePoint
    test_ids: frozenset[str]


def read_resume_point(path: str | os.PathLike[str]) -> ResumePoint:
    """The killed run in `path`; a ResumeError naming the file when it cannot be resumed (not
    a run file, damaged, or a run that finished)."""
    from benchtest.results.run import open_run

    path = Path(path)
    try:
        run = open_run(path)
    except ResultFileError as exc:
        raise ResumeError(f"cannot resume {path}: {exc}") from exc
    with run:
        if run.damaged:
            raise ResumeError(f"cannot resume {path}: it is damaged: {'; '.join(run.damage)}")
        if run.outcome not in RESUMABLE:
            raise ResumeError(
                f"cannot resume {path}: its run finished (outcome {run.outcome}); only a "
                "killed or interrupted run is resumed"
            )
        if run.bench_file is None or run.dut_profile is None:
            raise ResumeError(f"cannot resume {path}: it holds no bench file or DUT profile")
        meta = run.metadata
        if str(meta.get("site", "")):
            raise ResumeError(
                f"cannot resume {path}: it is one site of a multi-site run; resume a "
                "single-site run"
            )
        progress: dict[str, TestProgress] = {}
        for test in sorted(run.tests, key=lambda t: (t.index, t.attempt)):
            progress[test.id] = TestProgress(test.attempt, test.outcome)
        return ResumePoint(
            path=path,
            run_id=str(meta.get("run_id", "")),
            part=str(meta.get("part", "")),
            serial_number=str(meta.get("serial_number", "")),
            lot=str(meta.get("lot", "")),
            operator=str(meta.get("operator", "")),
            start_time=str(meta.get("start_time", "")),
            plans_commit=str(meta.get("plans_commit", "")),
            plans_dirty=bool(meta.get("plans_dirty", False)),
            plans_root=str(meta.get("plans_root", "")),
            plans_sha256=str(meta.get("plans_sha256", "")),
            plans_manifest=run.plans_manifest,
            bench=run.bench_file,
            dut=run.dut_profile,
            progress=progress,
        )


def check_plans(point: ResumePoint, manifest: str) -> None:
    """Refuse to resume when a plan file that runs now differs from the one the killed run
    ran (`manifest`: this run's plan manifest, "<sha256>  <path>" per line)."""
    before = dict(_manifest_entries(point.plans_manifest))
    for path, digest in _manifest_entries(manifest):
        if path in before and before[path] != digest:
            raise ResumeError(
                f"cannot resume {point.path}: the plan file {path} changed since the killed "
                "run; run the plans afresh"
            )


def check_profile(point: ResumePoint, part: str, sha256: str) -> None:
    """Refuse to resume with another part, or a DUT profile changed since the killed run."""
    if part != point.part:
        raise ResumeError(
            f"cannot resume {point.path}: it tested {point.part}, and this run tests {part}"
        )
    if sha256 != point.dut.sha256:
        raise ResumeError(
            f"cannot resume {point.path}: the DUT profile of {part} changed since the killed "
            "run (its limits would differ between the two halves); run the plans afresh"
        )


def _manifest_entries(manifest: str) -> Iterator[tuple[str, str]]:
    for line in manifest.splitlines():
        digest, _, path = line.partition("  ")
        if path:
            yield path, digest


def replay(
    point: ResumePoint,
    test_ids: frozenset[str],
    emit: Callable[[Event], None],
    store: Callable[[WriterEvent], None],
    codec: str,
) -> int:
    """Send every attempt of the tests `test_ids` of the killed run, as stored there, in start
    order: `emit` takes the run's events, `store` the waveforms copied as they are stored (the
    writer's `handle`). `codec` is the new file's waveform codec. How many tests were sent."""
    from benchtest.results.run import open_run

    with open_run(point.path) as run:
        same_codec = run.metadata.get("compression", GZIP.name) == codec
        tests = sorted(
            (t for t in run.tests if t.id in test_ids), key=lambda t: (t.index, t.attempt)
        )
        for test in tests:
            for event in recorded_events(run, test, same_codec=same_codec):
                if isinstance(event, StoredWaveformCopied):
                    store(event)
                else:
                    emit(event)
    return len(tests)


def recorded_events(
    run: Run,
    test: TestRecord,
    *,
    same_codec: bool,
    conditions: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> Iterator[WriterEvent]:
    """The events that record `test` of `run` again as it was stored: its start, measurements
    (each with `conditions` applied to its own conditions), waveforms (copied as stored when
    `same_codec`), sweeps and end. A test with waveform families is refused."""
    if test.families:
        raise ResultFileError(
            f"{run.path}: test {test.id!r} has waveform families, which cannot be copied yet"
        )
    yield TestStarted(test.id, test.start, conditions(test.conditions), test.attempt)
    for row in test.measurements.tolist():
        name, value, unit, low, high, outcome, timestamp, own = row
        if name in test.sweeps:  # a sweep's summary row: the writer makes it from the sweep
            continue
        measurement = Measurement(
            str(name), float(value), str(unit), Limits(_limit(low), _limit(high), str(unit)),
            Outcome(str(outcome)), float(timestamp), conditions(json.loads(own) if own else {}),
        )  # fmt: skip
        yield MeasurementRecorded(test.id, measurement)
    for name, stored in test.waveforms.items():
        if same_codec:
            yield StoredWaveformCopied(test.id, name, stored.group, len(stored))
        else:
            yield WaveformRecorded(test.id, name, stored.to_waveform(), stored.description)
    for name, sweep in test.sweeps.items():
        yield SweepRecorded(
            test.id, name, sweep.x.values[...], sweep.y.values[...], sweep.x.name, sweep.x.unit,
            sweep.y.unit, Limits(sweep.low, sweep.high, sweep.y.unit), sweep.outcome,
            sweep.description,
        )  # fmt: skip
    yield TestFinished(test.id, test.outcome, test.end, test.duration, test.message, test.attempt)


def retire(point: ResumePoint) -> Path:
    """Rename the killed file to `<name>.resumed` (it stays readable with `open_run`), so that
    catalogs, which index `.h5` files, count its tests once: in the new run file."""
    target = point.retired_path
    if target.exists():
        raise ResumeError(f"cannot keep {point.path} as {target}: that file exists")
    fold_log(point.path)  # its last commit, if the kill left it in the log, goes into the file
    os.replace(point.path, target)
    return target


def _limit(value: float) -> float | None:
    return None if math.isnan(float(value)) else float(value)


__all__ = [
    "RESUMABLE",
    "ResumeError",
    "ResumePoint",
    "Resumption",
    "TestProgress",
    "check_plans",
    "check_profile",
    "read_resume_point",
    "recorded_events",
    "replay",
    "retire",
]
