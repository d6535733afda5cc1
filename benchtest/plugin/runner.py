"""Running one test: its attempts (the `retry(n)` marker), each recorded as its own attempt.

A test marked `retry(n)` runs up to n + 1 times and stops at the first attempt that does not
fail. Every attempt goes into the run file with its number and outcome; the test's outcome
is its last attempt's: passed if a retry passed, failed or error if every attempt did.
Earlier failed attempts show as RERUN in the terminal. A failure caused by bench trouble (a
`BenchtestError`: an instrument that did not answer, say) or in setup/teardown is an "error",
not a verdict on the DUT.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from _pytest.runner import runtestprotocol  # the one-test protocol, run once per attempt

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import activate, emit, run_file_failure, test_id
from benchtest.values.errors import BenchtestError
from benchtest.values.events import TestFinished, TestStarted, utc_now

RERUN = "rerun"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "retry(n): re-run a failing test up to n more times; every attempt is recorded "
        "and the last one decides the outcome",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if settings(item.config) is None:
        return None  # not a bench run: pytest's own runner
    retries = _retries(item)
    if activate(item) is None:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in range(1, retries + 2):
        last = attempt == retries + 1
        # With the real next item, each attempt tears down what the next test does not need,
        # the test's own fixtures included, so the next attempt sets them up afresh.
        reports = _run_attempt(item, nextitem, attempt)
        if last or not any(r.failed for r in reports):
            break
        for report in reports:
            if report.failed:
                report.outcome = RERUN  # type: ignore[assignment]
            item.ihook.pytest_runtest_logreport(report=report)
        item._initrequest()  # type: ignore[attr-defined]  # fresh fixtures for the next attempt
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    failure = run_file_failure(item.config)
    if failure is not None:  # a full disk: nothing more can be recorded, so stop here
        item.session.shouldstop = f"benchtest: {failure}"
    return True


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


def _run_attempt(
    item: pytest.Item, nextitem: pytest.Item | None, attempt: int
) -> list[pytest.TestReport]:
    callspec = getattr(item, "callspec", None)
    conditions = dict(callspec.params) if callspec is not None else {}
    run = settings(item.config)
    if run is not None and run.site:
        conditions["site"] = run.site
    emit(item.config, TestStarted(test_id(item), utc_now(), conditions, attempt=attempt))
    reports: list[pytest.TestReport] = []
    try:
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    finally:
        outcome, message, duration = _outcome(reports) if reports else ("error", "interrupted", 0.0)
        finished = TestFinished(
            test_id(item), outcome, utc_now(), duration, message, attempt=attempt
        )
        emit(item.config, finished)
    return reports


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    excinfo = call.excinfo
    report.benchtest_bench_trouble = excinfo is not None and isinstance(  # type: ignore[attr-defined]
        excinfo.value, BenchtestError
    )
    return report


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
