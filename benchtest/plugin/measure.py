"""The `measure` fixture, and the soft failure of a test whose measurements broke limits.

`measure("iq_sleep", value)` takes unit and limits from the profile and records the result at
once; a value out of limits fails the test only after the test body has finished, so every
measurement of the test is recorded (soft fail). The failure names value, limit and unit.

The fixture finds its test through the runner (`dut_sessions.in_progress`), which also puts
the measurements out of limits on the test's call report (`benchtest_limit_failures`).

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from benchtest.plugin.dut_sessions import in_progress

if TYPE_CHECKING:
    from benchtest.run.measuring import Measure


@pytest.fixture
def measure() -> Measure:
    """Record measurements: `measure("vout", value)`, `measure.waveform("vout_startup", wf)`."""
    test = in_progress()
    if test is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE (and --bench or --sim)",
            pytrace=False,
        )
    from benchtest.run.measuring import Measure

    session = test.session
    test.measure = Measure(
        test.test_id,
        session.dut,
        session.recorder.emit,
        test.conditions,
        profile_limits=session.profile_limits,
        pool=session.pool,
    )
    return test.measure


@pytest.hookimpl(trylast=True)  # after pytest's own, which runs the test body
def pytest_runtest_call(item: pytest.Item) -> None:
    """The soft failure: raised once the test body finished without an error of its own."""
    test = in_progress()
    if test is not None and test.measure is not None and test.item is item:
        failures = test.measure.failures
        if failures:
            from benchtest.run.measuring import LimitFailure

            raise LimitFailure(failures)


class FailedParameters:
    """Collects the out-of-limit parameters of each test's last attempt; prints them at the end."""

    def __init__(self) -> None:
        self.by_test: dict[str, list[tuple[str, float, str, str]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        failures = getattr(report, "benchtest_limit_failures", None)
        if failures:
            self.by_test[report.nodeid] = [tuple(f) for f in failures]
        else:  # a later attempt without any: the test's last attempt is what counts
            self.by_test.pop(report.nodeid, None)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        rows = [(test, *f) for test, fs in self.by_test.items() for f in fs]
        if not rows:
            return
        terminalreporter.write_sep("=", f"{len(rows)} parameter(s) out of limits", red=True)
        table = [("test", "parameter", "value", "limit", "unit")]
        table += [(t.split("::", 1)[-1], n, f"{v:.6g}", lim, u) for t, n, v, lim, u in rows]
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        for row in table:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            terminalreporter.write_line("  ".join(cells).rstrip())


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(FailedParameters(), "benchtest-failed-parameters")
