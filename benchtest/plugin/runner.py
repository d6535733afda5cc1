"""Running one test: its attempts (the `retry(n)` marker), each recorded as its own attempt.

A test marked `retry(n)` runs up to n + 1 times and stops at the first attempt that does not
fail. Every attempt goes into the run file with its number and outcome; the test's outcome
is its last attempt's: passed if a retry passed, failed or error if every attempt did.
Earlier failed attempts show as RERUN in the terminal. A failure caused by bench trouble (a
`BenchtestError`: an instrument that did not answer, say) or in setup/teardown is an "error",
not a verdict on the DUT.

An instrument-level error (an instrument that cannot be opened, stopped answering, dropped its
connection or garbled a reply; not one that reported an error of its own) is retried up to
`--instrument-retries` times, each time with a fresh connection: the role's connection is
closed and the module's fixtures are set up again, so the next attempt opens, identifies and
configures the instrument anew. Each such attempt is recorded like any other, its message
naming the retry. A run whose only trouble is such errors ends with exit status
`EXIT_BENCH_ERROR` (69), so CI can tell an unreachable bench from a DUT that failed.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from _pytest.runner import runtestprotocol  # the one-test protocol, run once per attempt

from benchtest.plugin.configuration import RunSettings, settings
from benchtest.plugin.dut_sessions import (
    TestInProgress,
    activate,
    active,
    record,
    running,
    test_id,
)
from benchtest.values.errors import (
    BenchtestError,
    ConnectionLostError,
    InstrumentError,
    InstrumentReportedError,
)

RERUN = "rerun"
#: Exit status of a run whose tests failed only because the bench could not be reached (an
#: instrument that could not be opened or stopped answering): sysexits' EX_UNAVAILABLE.
EXIT_BENCH_ERROR = 69


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "retry(n): re-run a failing test up to n more times; every attempt is recorded "
        "and the last one decides the outcome",
    )
    # Per run (a plugin object, as pytest's own junitxml is): inert unless a test had a bench
    # error, which only a bench run records.
    config.pluginmanager.register(_Verdicts(), "benchtest-verdicts")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    run = settings(item.config)
    if run is None:
        return None  # not a bench run: pytest's own runner
    budget = _Budget(_retries(item), run.instrument_retries, run.instrument_retries)
    session = activate(item)
    if session is None:
        return None
    ihook = item.ihook  # the hooks of the test's folder (its conftest files): found once
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    test = TestInProgress(item, test_id(item), _conditions(item, run), session)
    attempt = 0
    while True:
        attempt += 1
        # With the real next item, each attempt tears down what the next test does not need,
        # the test's own fixtures included, so the next attempt sets them up afresh.
        reports = _run_attempt(test, nextitem, attempt, budget)
        if budget.again is None:
            break
        for report in reports:
            if report.failed:
                report.outcome = RERUN  # type: ignore[assignment]
            ihook.pytest_runtest_logreport(report=report)
        if budget.again:  # an instrument retry: a fresh connection to each failed role
            _fresh_connections(item, budget.again)
        item._initrequest()  # type: ignore[attr-defined]  # fresh fixtures for the next attempt
    for report in reports:
        ihook.pytest_runtest_logreport(report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    failure = session.run_file_failure
    if failure is not None:  # a full disk: nothing more can be recorded, so stop here
        item.session.shouldstop = f"benchtest: {failure}"
    return True


@dataclass
class _Budget:
    """The retries a test has left: of its `retry(n)` marker, and after instrument errors.

    `decide` is called with each attempt's reports; `again` then says whether the test runs
    once more: None when not, the roles to reconnect for an instrument retry, or an empty list
    for a retry of the marker.
    """

    marker: int
    instrument: int
    instrument_total: int
    again: list[str] | None = None

    def decide(self, reports: list[pytest.TestReport]) -> str:
        """Spend a retry on a failed attempt if one is left; what the attempt's recorded
        message gets added ("" when the test does not run again)."""
        self.again = None
        failed = [r for r in reports if r.failed]
        if not failed:
            return ""
        roles = sorted({str(r.benchtest_instrument) for r in failed if _instrument_of(r)})
        if all(_instrument_of(r) for r in failed) and self.instrument > 0:
            self.instrument -= 1
            self.again = roles
            done = self.instrument_total - self.instrument
            return (
                f" (instrument retry {done} of {self.instrument_total}: "
                f"a fresh connection to {', '.join(roles)})"
            )
        if self.marker > 0:
            self.marker -= 1
            self.again = []
        return ""


def _instrument_of(report: pytest.TestReport) -> str:
    """The role whose instrument-level error failed `report`, or ""."""
    return str(getattr(report, "benchtest_instrument", "") or "")


def _fresh_connections(item: pytest.Item, roles: list[str]) -> None:
    """Close `roles`' connections and tear down the fixtures above the test (the role
    fixtures are module-scoped), so the next attempt opens and identifies each role anew."""
    # pytest's setup state, as its own runner uses it: tear down every node but the session,
    # so session-scoped fixtures stay and module-scoped ones are made again.
    try:
        item.session._setupstate.teardown_exact(item.session)  # type: ignore[arg-type]
    except Exception as exc:  # a fixture's teardown failed: its node is gone all the same
        item.warn(pytest.PytestWarning(f"teardown before an instrument retry failed: {exc}"))
    session = active(item.config)
    if session is not None and session.pool is not None:
        for role in roles:
            session.pool.disconnect(role)


def _retries(item: pytest.Item) -> int:
    marker = item.get_closest_marker("retry")
    if marker is None:
        return 0
    count = marker.args[0] if marker.args else marker.kwargs.get("n", 1)
    if not isinstance(count, int) or count < 0:
        raise pytest.UsageError(
            f"{item.nodeid}: retry(n) needs a whole number n >= 0, got {count!r}"
        )
    return count


def _conditions(item: pytest.Item, run: RunSettings) -> dict[str, Any]:
    """The conditions a test runs at: its parameters, and the site on a multi-site bench."""
    callspec = getattr(item, "callspec", None)
    conditions = dict(callspec.params) if callspec is not None else {}
    if run.site:
        conditions["site"] = run.site
    return conditions


def _run_attempt(
    test: TestInProgress, nextitem: pytest.Item | None, attempt: int, budget: _Budget
) -> list[pytest.TestReport]:
    from benchtest.values.events import TestFinished, TestStarted, utc_now

    session, test_id_ = test.session, test.test_id
    record(session, TestStarted(test_id_, utc_now(), dict(test.conditions), attempt=attempt))
    reports: list[pytest.TestReport] = []
    previous = running(test)
    try:
        reports = runtestprotocol(test.item, nextitem=nextitem, log=False)
    finally:
        running(previous)
        _limit_failures(test, reports)
        outcome, message, duration = _outcome(reports) if reports else ("error", "interrupted", 0.0)
        message += budget.decide(reports)
        finished = TestFinished(test_id_, outcome, utc_now(), duration, message, attempt=attempt)
        record(session, finished)
    return reports


def _limit_failures(test: TestInProgress, reports: list[pytest.TestReport]) -> None:
    """The attempt's measurements out of limits, on its call report as plain values (so the
    report also travels from a pytest-xdist worker); the attempt's `Measure` is then let go
    (what it recorded is in the run file, and memory stays flat)."""
    measure, test.measure = test.measure, None
    failures = measure.failures if measure is not None else []
    if failures:
        for report in reports:
            if report.when == "call":
                report.benchtest_limit_failures = [  # type: ignore[attr-defined]
                    (m.name, m.value, m.limits.describe().removesuffix(f" {m.unit}"), m.unit)
                    for m in failures
                ]


@pytest.hookimpl(tryfirst=True)  # before --pdb shows the report
def pytest_exception_interact(
    node: pytest.Item | pytest.Collector,
    call: pytest.CallInfo[Any],
    report: pytest.TestReport | pytest.CollectReport,
) -> None:
    """A phase of a test that raised (pytest calls this for each, a skip or an expected
    failure aside, before the bench runner logs its reports): whether it was bench trouble
    (`benchtest_bench_trouble`), and the role of an instrument-level error
    (`benchtest_instrument`). The report of a phase that did not raise has neither."""
    if not isinstance(report, pytest.TestReport) or call.excinfo is None:
        return
    error = call.excinfo.value
    report.benchtest_bench_trouble = isinstance(error, BenchtestError)  # type: ignore[attr-defined]
    role = ""
    if isinstance(error, InstrumentError):
        run = settings(node.config)
        role = instrument_level(error, run) if run is not None else ""
    report.benchtest_instrument = role  # type: ignore[attr-defined]


def instrument_level(error: BaseException | None, run: RunSettings) -> str:
    """The role of the instrument whose trouble `error` is, when it is instrument-level (the
    bench, not the DUT): an instrument that could not be opened, stopped answering, dropped
    its connection or garbled a reply. "" for anything else: an error the instrument reported
    itself (it was reached), and on the DUT's own debug port anything but a port that is gone
    or cannot be opened (a console that is silent or garbled is the DUT's)."""
    if not isinstance(error, InstrumentError) or isinstance(error, InstrumentReportedError):
        return ""
    role = error.role or "?"
    if _is_debug_port(run, role):
        lost = isinstance(error, ConnectionLostError) or isinstance(
            error.__cause__, ConnectionLostError
        )
        return role if lost else ""
    return role


def _is_debug_port(run: RunSettings, role: str) -> bool:
    if role not in run.bench.roles:
        return False
    from benchtest.driver.registry import driver_class

    try:
        return "DebugPort" in driver_class(run.bench.roles[role].driver).capabilities
    except BenchtestError:
        return False


class _Verdicts:
    """Which tests failed for bench errors only, and which for anything else (a DUT failure,
    a plan error): the run's exit status is EXIT_BENCH_ERROR when only the first kind did."""

    def __init__(self) -> None:
        self.bench_errors: set[str] = set()
        self.other_failures: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.outcome == RERUN or not report.failed:
            return
        if _instrument_of(report):
            self.bench_errors.add(report.nodeid)
        else:
            self.other_failures.add(report.nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.other_failures.add(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        failed_tests = session.exitstatus == pytest.ExitCode.TESTS_FAILED
        if failed_tests and self.bench_errors and not self.other_failures:
            session.exitstatus = EXIT_BENCH_ERROR

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.bench_errors:
            terminalreporter.write_line(
                f"benchtest: {len(self.bench_errors)} test(s) ended in a bench error (an "
                "instrument that could not be reached or stopped answering), not a DUT verdict"
                + ("" if self.other_failures else f"; exit status {EXIT_BENCH_ERROR}"),
                yellow=True,
            )


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    if report.outcome == RERUN:
        return "rerun", "R", "RERUN"
    return None


def _outcome(reports: list[pytest.TestReport]) -> tuple[str, str, float]:
    """passed / failed / error / skipped, a message, and the duration of a test's phases."""
    duration = sum(r.duration for r in reports)
    for report in reports:
        if report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            return "skipped", str(reason), duration
        if report.failed:
            trouble = getattr(report, "benchtest_bench_trouble", False)
            kind = "error" if report.when != "call" or trouble else "failed"
            return kind, _message(report), duration
    return "passed", "", duration


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longreprtext).strip().splitlines()[-1] if report.longreprtext else ""
