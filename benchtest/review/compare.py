"""Regression of a run against a baseline run: what moved, by how much, against which tolerance.

`compare_runs(baseline, run)` reads both run files through `benchtest.results` and judges every
parameter (a measurement name within a test) that either holds: its shift from the baseline in
the parameter's unit, relative to the baseline value and in baseline standard deviations,
against the parameter's drift tolerance (`tolerance`). It lists new and missing tests and
changed test outcomes too. The `Comparison` says what regressed; `exit_code` is what a pipeline
acts on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.results import Run, TestRecord, open_run
from benchtest.review.tolerance import Allowance, Tolerance, ToleranceRules, profile_tolerances
from benchtest.values.errors import BenchtestError, ResultFileError

#: Parameter statuses that are regressions.
REGRESSIONS = frozenset({"moved", "missing", "unit changed", "no value"})
#: Test outcomes from the best to the worst; an outcome worse than the baseline's regressed.
#: An outcome not listed (written by a newer benchtest) counts as the worst.
SEVERITY = {"passed": 0, "marginal": 0, "skipped": 1, "failed": 2, "error": 3, "incomplete": 3}
WORST = max(SEVERITY.values())


class CompareError(BenchtestError):
    """Two run files that cannot be compared (of different parts); names both files."""


@dataclass(frozen=True)
class Readings:
    """The values one run holds of one parameter of one test: several for repeated readings,
    or for the units of a multi-site run."""

    values: npt.NDArray[np.float64]  # the finite ones
    times: npt.NDArray[np.float64]  # when each was measured, s since the epoch (UTC)
    unit: str
    low: float  # limits (NaN where open), as the first reading had them
    high: float
    unreadable: int = 0  # readings that are no finite number (a failed measurement)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.count else math.nan

    @property
    def std(self) -> float | None:
        """The sample standard deviation; None for fewer than two readings."""
        return float(np.std(self.values, ddof=1)) if self.count >= 2 else None


@dataclass(frozen=True)
class RunSide:
    """One of the two runs of a comparison, as read."""

    path: Path
    run_id: str
    part: str
    serial_number: str
    start_time: str
    outcome: str
    tests: dict[str, str]  # test id -> outcome (the last attempt; the worst of the sites)
    readings: dict[tuple[str, str], Readings]  # (test id, parameter name) -> readings
    drift: dict[str, Tolerance]  # from the DUT profile the run recorded
    profile_sha256: str = ""
    notes: list[str] = field(default_factory=list)
    name: str = ""  # the baseline's name, when it was found by name


@dataclass(frozen=True)
class ParameterChange:
    """How one parameter of one test changed from the baseline to the run."""

    test_id: str
    name: str
    unit: str
    status: str  # same, moved, new, missing, unit changed, no value, no baseline value
    baseline: Readings | None
    run: Readings | None
    tolerance: Tolerance
    allowance: Allowance | None = None  # None where nothing was judged
    shift: float | None = None  # run mean - baseline mean, in `unit`
    relative: float | None = None  # shift / |baseline mean|
    sigma: float | None = None  # shift / baseline standard deviation

    @property
    def regression(self) -> bool:
        return self.status in REGRESSIONS

    @property
    def key(self) -> tuple[str, str]:
        return self.test_id, self.name


@dataclass(frozen=True)
class TestChange:
    """A test that is new, missing, or whose outcome changed ("" where a run lacks it)."""

    __test__ = False  # not a pytest test class

    test_id: str
    status: str  # same, changed, new, missing
    baseline_outcome: str
    run_outcome: str

    @property
    def regression(self) -> bool:
        """Missing, or an outcome worse than the baseline's (passed -> failed, ...)."""
        if self.status == "missing":
            return True
        if self.status != "changed":
            return False
        return severity(self.run_outcome) > severity(self.baseline_outcome)


@dataclass(frozen=True)
class Comparison:
    """A run against its baseline: every parameter and test, judged."""

    baseline: RunSide
    run: RunSide
    parameters: list[ParameterChange]
    tests: list[TestChange]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[ParameterChange | TestChange]:
        changes: list[ParameterChange | TestChange] = [*self.parameters, *self.tests]
        return [c for c in changes if c.regression]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def exit_code(self) -> int:
        """0 when nothing regressed, 1 when something did."""
        return 1 if self.regressed else 0

    def changed(self) -> list[ParameterChange]:
        """The parameters that are not the same (moved, new, missing, ...)."""
        return [p for p in self.parameters if p.status != "same"]


def severity(outcome: str) -> int:
    return SEVERITY.get(outcome, WORST)


def compare_runs(
    baseline: str | Path,
    run: str | Path,
    rules: ToleranceRules | None = None,
    *,
    baseline_name: str = "",
) -> Comparison:
    """Compare the run file `run` with the run file `baseline`.

    Raises ResultFileError when either is no run file, or a damaged one, and CompareError when
    they are runs of different parts. `rules` (a tolerance file's) overrides the tolerances of
    the DUT profiles the runs recorded (the run's first, then the baseline's).
    """
    base = read_side(Path(baseline), baseline_name)
    now = read_side(Path(run))
    if base.part != now.part:
        raise CompareError(
            f"{now.path} is a run of part {now.part or '(none)'!r}, the baseline {base.path} "
            f"of part {base.part or '(none)'!r}: compare runs of the same part"
        )
    rules = (rules or ToleranceRules()).with_profile({**base.drift, **now.drift})
    keys = dict.fromkeys([*base.readings, *now.readings])
    parameters = []
    for key in keys:
        before, after = base.readings.get(key), now.readings.get(key)
        limits = before if before is not None else after  # the baseline's, where it has them
        low, high = (limits.low, limits.high) if limits is not None else (math.nan, math.nan)
        tolerance = rules.for_parameter(key[1], low, high)
        parameters.append(judge(*key, before, after, tolerance))
    return Comparison(
        base, now, parameters, _test_changes(base.tests, now.tests), _notes(base, now)
    )


def judge(
    test_id: str, name: str, base: Readings | None, now: Readings | None, tolerance: Tolerance
) -> ParameterChange:
    """How the parameter `name` of `test_id` moved from `base` to `now`."""
    either = now if now is not None else base
    unit = either.unit if either is not None else ""
    status = _status(base, now)
    if status != "judged" or base is None or now is None:
        return ParameterChange(test_id, name, unit, status, base, now, tolerance)
    shift = now.mean - base.mean
    allowance = tolerance.allowed(base.mean, base.std, base.low, base.high)
    return ParameterChange(
        test_id,
        name,
        unit,
        "moved" if abs(shift) > allowance.shift else "same",
        base,
        now,
        tolerance,
        allowance,
        shift,
        shift / abs(base.mean) if base.mean != 0 else None,
        shift / base.std if base.std else None,
    )


def _status(base: Readings | None, now: Readings | None) -> str:
    if base is None:
        return "new"
    if now is None:
        return "missing"
    if base.unit != now.unit:
        return "unit changed"
    if not base.count:
        return "no baseline value"
    if not now.count:
        return "no value"
    return "judged"


def _test_changes(base: dict[str, str], now: dict[str, str]) -> list[TestChange]:
    changes = []
    for test_id in dict.fromkeys([*base, *now]):
        before, after = base.get(test_id, ""), now.get(test_id, "")
        if not before:
            status = "new"
        elif not after:
            status = "missing"
        else:
            status = "same" if before == after else "changed"
        changes.append(TestChange(test_id, status, before, after))
    return changes


def _notes(base: RunSide, now: RunSide) -> list[str]:
    notes = [*base.notes, *now.notes]
    if base.profile_sha256 and now.profile_sha256 and base.profile_sha256 != now.profile_sha256:
        notes.append("the run recorded another DUT profile than the baseline (its limits or "
                     "model may differ)")  # fmt: skip
    for key in base.readings.keys() & now.readings.keys():
        b, n = base.readings[key], now.readings[key]
        if not (_same(b.low, n.low) and _same(b.high, n.high)):
            notes.append(
                f"{key[0]} {key[1]}: limits changed from [{b.low:g}, {b.high:g}] to "
                f"[{n.low:g}, {n.high:g}] {n.unit}"
            )
    return notes


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def read_side(path: Path, name: str = "") -> RunSide:
    """One run file as a side of a comparison; a ResultFileError when it cannot be one."""
    with open_run(path) as run:
        if run.damaged:
            raise ResultFileError(f"{run.damage[0]}; compare needs an intact run file")
        meta = run.metadata
        start = str(meta.get("start_time", ""))
        snapshot = run.dut_profile
        drift = {}
        if snapshot is not None:
            drift = profile_tolerances(snapshot.text, f"{path}: run_info/dut_profile")
        notes = [f"{path}: {p}" if not p.startswith(str(path)) else p for p in run.problems]
        if run.outcome == "incomplete":
            notes.append(f"{path}: the run did not finish (incomplete); tests it never ran are "
                         "missing")  # fmt: skip
        tests, readings = _tests_and_readings(run, _seconds(start))
        return RunSide(
            path=path,
            run_id=str(meta.get("run_id", "")),
            part=str(meta.get("part", "")),
            serial_number=str(meta.get("serial_number", "")),
            start_time=start,
            outcome=run.outcome,
            tests=tests,
            readings=readings,
            drift=drift,
            profile_sha256=snapshot.sha256 if snapshot is not None else "",
            notes=notes,
            name=name,
        )


def _seconds(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return math.nan


def _tests_and_readings(
    run: Run, start: float
) -> tuple[dict[str, str], dict[tuple[str, str], Readings]]:
    """Outcome of each test and readings of each parameter: the last attempt of each test at
    each site, the sites' readings pooled."""
    latest: dict[tuple[str, str], TestRecord] = {}
    for test in run.tests:  # in start order: a retry replaces its earlier attempt
        latest[(test.id, str(test.conditions.get("site", "")))] = test
    outcomes: dict[str, str] = {}
    rows: dict[tuple[str, str], list[Any]] = {}
    for (test_id, _), test in latest.items():
        before = outcomes.get(test_id)
        if before is None or severity(test.outcome) > severity(before):
            outcomes[test_id] = test.outcome
        m = test.measurements
        for name, value, unit, low, high, moment in zip(
            m["name"].tolist(), m["value"].tolist(), m["unit"].tolist(), m["low"].tolist(),
            m["high"].tolist(), m["timestamp"].tolist(), strict=True,
        ):  # fmt: skip
            rows.setdefault((test_id, name), []).append((value, unit, low, high, moment))
    return outcomes, {key: _readings(found, start) for key, found in rows.items()}


def _readings(rows: Iterable[tuple[float, str, float, float, float]], start: float) -> Readings:
    table = list(rows)
    values = np.array([r[0] for r in table], dtype=np.float64)
    times = np.array([r[4] for r in table], dtype=np.float64)
    times = np.where(np.isfinite(times), times, start)
    finite = np.isfinite(values)
    _, unit, low, high, _ = table[0]
    return Readings(
        values[finite], times[finite], str(unit), float(low), float(high), int((~finite).sum())
    )
