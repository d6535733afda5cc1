"""The units tested in a set of run files, as the exports see them: one `Part` per unit.

A run file holds one unit, or, merged from a multi-site run, one unit per site (each test
names its site and serial number in its conditions). Reading goes through
`benchtest.results` only; a file that is not a run file, or is damaged, raises an
`ExportError` (or the reader's `ResultFileError`) naming the file, before anything is written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from benchtest.results import Run, TestRecord, open_run
from benchtest.values.errors import BenchtestError

#: Conditions a merged multi-site run adds to every row: in an export they are columns of
#: their own (site, serial), never part of what a parametric test is.
PART_CONDITIONS = frozenset({"site", "serial_number"})
#: Test outcomes, most severe last: a part of a merged run takes the worst of its tests.
_SEVERITY = ("passed", "skipped", "failed", "error")
_ABSENT = object()


class ExportError(BenchtestError):
    """An export cannot be made: bad input (not a run file, a damaged one), an unknown format,
    a missing optional library or an output that cannot be written; names what and where."""


@dataclass(frozen=True)
class Row:
    """One measurement of a part, with the test it belongs to."""

    test_id: str
    attempt: int
    test_outcome: str
    name: str
    value: float
    unit: str
    low: float | None  # None: no such limit
    high: float | None
    outcome: str  # "pass", "marginal", "fail", "info"
    timestamp: float  # Unix seconds; NaN when not recorded
    conditions: Mapping[str, Any]  # the row's effective conditions, site and serial left out
    own_conditions: Mapping[str, Any]  # those that differ from its test's conditions
    final: bool  # from the last attempt of its test (what counts for the part)


@dataclass(frozen=True)
class Part:
    """One unit tested: which run file, which site, its outcome and its measurements."""

    path: Path
    run_id: str
    serial: str
    site: str  # "" on a single-site bench
    site_number: int  # 1-based: the site's place in the bench file's `sites`
    outcome: str  # "passed", "failed", "error", "interrupted", "incomplete"
    start: float  # Unix seconds
    end: float
    tests: tuple[TestRecord, ...]
    rows: tuple[Row, ...]
    #: the run file's root attributes, with `bench_file`, `dut_profile` (their paths) and
    #: `dut_profile_sha256` from its configuration snapshots
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def marginal(self) -> bool:
        """Whether a measurement that counts for the part passed only as marginal."""
        return any(r.final and r.outcome == "marginal" for r in self.rows)

    @property
    def abnormal_end(self) -> bool:
        """Whether testing of the part did not run to its end (Ctrl-C, a kill, a crash)."""
        return self.outcome in ("interrupted", "incomplete")


def read_parts(paths: Sequence[str | os.PathLike[str]]) -> list[Part]:
    """The parts of the run files `paths`, in the order they were tested (start time, then
    the order given). Raises `ExportError` (or `ResultFileError`) naming the first file that
    cannot be exported."""
    if not paths:
        raise ExportError("no run files to export")
    parts: list[Part] = []
    for path in paths:
        with open_run(Path(path)) as run:
            _refuse_damage(run)
            parts += _parts_of(run)
    # a stable sort: parts that started together stay in the order given; no start time: last
    return sorted(parts, key=lambda p: math.inf if math.isnan(p.start) else p.start)


def _refuse_damage(run: Run) -> None:
    if run.damage:
        more = f" (and {len(run.damage) - 1} more)" if len(run.damage) > 1 else ""
        where = run.damage[0].removeprefix(f"{run.path}: ").removeprefix("damaged: ")
        raise ExportError(f"{run.path}: damaged run file, not exported: {where}{more}")


def _parts_of(run: Run) -> Iterator[Part]:
    meta = run.metadata
    outcome = run.outcome
    sites = _merged_sites(run)
    if not sites:
        serial = str(meta.get("serial_number", ""))
        site = str(meta.get("site", ""))
        yield _part(run, site, serial, outcome, run.tests)
        return
    for site, serial in sites.items():
        tests = [t for t in run.tests if str(t.conditions.get("site", "")) == site]
        yield _part(run, site, serial, _site_outcome(outcome, tests), tests)


def _merged_sites(run: Run) -> dict[str, str]:
    """site -> serial number of a run merged from several sites ({} for any other run)."""
    text = run.metadata.get("sites")
    if not text:
        return {}
    try:
        sites = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{run.path}: @sites is not JSON: {exc}") from exc
    if not isinstance(sites, dict):
        raise ExportError(f"{run.path}: @sites is not a JSON object of site -> serial number")
    return {str(site): str(serial) for site, serial in sites.items()}


def _site_outcome(run_outcome: str, tests: Sequence[TestRecord]) -> str:
    """A merged run keeps only the worst outcome of its sites: an end that was not normal
    applies to every site; otherwise each site's outcome is the worst of its own tests."""
    if run_outcome in ("interrupted", "incomplete"):
        return run_outcome
    finals = _final_attempts(tests)
    if any(t.outcome == "incomplete" for t in finals):
        return "incomplete"
    worst = max((_SEVERITY.index(t.outcome) for t in finals if t.outcome in _SEVERITY), default=0)
    return "passed" if worst <= 1 else _SEVERITY[worst]


def _final_attempts(tests: Sequence[TestRecord]) -> list[TestRecord]:
    """The last attempt of each test (a retried test counts by its last attempt)."""
    last: dict[str, TestRecord] = {}
    for test in tests:
        if test.id not in last or test.attempt >= last[test.id].attempt:
            last[test.id] = test
    return list(last.values())


def _part(run: Run, site: str, serial: str, outcome: str, tests: Sequence[TestRecord]) -> Part:
    meta = run.metadata
    finals = {id(t) for t in _final_attempts(tests)}
    rows = tuple(row for t in tests for row in _rows(t, id(t) in finals))
    starts = [_seconds(t.start) for t in tests] + [_seconds(meta.get("start_time"))]
    ends = [_seconds(t.end) for t in tests] + [_seconds(meta.get("end_time"))]
    start = min((s for s in starts if not math.isnan(s)), default=math.nan)
    end = max((e for e in ends if not math.isnan(e)), default=start)
    return Part(
        path=Path(run.path),
        run_id=str(meta.get("run_id", "")),
        serial=serial,
        site=site,
        site_number=_site_number(run, site),
        outcome=outcome,
        start=start,
        end=end,
        tests=tuple(tests),
        rows=rows,
        metadata={**meta, **_configuration(run)},
    )


def _configuration(run: Run) -> dict[str, str]:
    """The bench file and DUT profile the run used, as metadata entries."""
    found: dict[str, str] = {}
    if run.bench_file is not None:
        found["bench_file"] = run.bench_file.path
    if run.dut_profile is not None:
        found["dut_profile"] = run.dut_profile.path
        found["dut_profile_sha256"] = run.dut_profile.sha256
    return found


def _rows(test: TestRecord, final: bool) -> Iterator[Row]:
    table = test.measurements
    names = table.dtype.names or ()
    test_conditions = {k: v for k, v in test.conditions.items() if k not in PART_CONDITIONS}
    for record in table:
        conditions = _conditions(record["conditions"]) if "conditions" in names else {}
        conditions = {k: v for k, v in conditions.items() if k not in PART_CONDITIONS}
        merged = {**test_conditions, **conditions}
        own = {k: v for k, v in merged.items() if test_conditions.get(k, _ABSENT) != v}
        yield Row(
            test_id=test.id,
            attempt=int(test.attempt),
            test_outcome=test.outcome,
            name=str(record["name"]),
            value=float(record["value"]),
            unit=str(record["unit"]),
            low=_limit(record["low"]),
            high=_limit(record["high"]),
            outcome=str(record["outcome"]),
            timestamp=float(record["timestamp"]),
            conditions=merged,
            own_conditions=own,
            final=final,
        )


def _conditions(text: Any) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(str(text))
    except json.JSONDecodeError:
        return {"conditions": str(text)}  # kept as the text it is rather than dropped
    return value if isinstance(value, dict) else {"conditions": value}


def _limit(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _seconds(text: Any) -> float:
    """An ISO 8601 time as Unix seconds (a time without zone is taken as UTC); NaN if none."""
    if not text:
        return math.nan
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _site_number(run: Run, site: str) -> int:
    """1 on a single-site bench; else the site's 1-based place among the bench file's sites
    (the bench file as it was for this run), or among the run's own sites in sorted order
    when the bench file does not list it."""
    if not site:
        return 1
    names: list[str] = []
    if run.bench_file is not None:
        try:
            data = yaml.safe_load(run.bench_file.text)
        except yaml.YAMLError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("sites"), dict):
            names = [str(name) for name in data["sites"]]
    if site not in names:
        names = sorted({site, *_merged_sites(run), *str(run.metadata.get("site", "")).split(",")})
        names = [n for n in names if n]
    return min(names.index(site) + 1, 254)  # 255 stands for all sites in STDF


__all__ = ["PART_CONDITIONS", "ExportError", "Part", "Row", "read_parts"]
