"""The `measure` fixture, and the soft failure of a test whose measurements broke limits.

`measure("iq_sleep", value)` takes unit and limits from the profile and records the result at
once; a value out of limits fails the test only after the test body has finished, so every
measurement of the test is recorded (soft fail). The failure names value, limit and unit.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import active, test_id
from benchtest.run.measuring import LimitFailure, Measure

MEASURE = pytest.StashKey[Measure]()


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Measure:
    """Record measurements: `measure("vout", value)`, `measure.waveform("vout_startup", wf)`."""
    config, node = request.config, request.node
    run, session = settings(config), active(config)
    if run is None or session is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE (and --bench or --sim)",
            pytrace=False,
        )
    callspec = getattr(node, "callspec", None)
    conditions = dict(callspec.params) if callspec is not None else {}
    if run.site:
        conditions["site"] = run.site
    measure_ = Measure(
        test_id(node),
        session.dut,
        session.recorder.emit,
        conditions,
        profile_limits=session.profile_limits,
    )
    node.stash[MEASURE] = measure_
    return measure_


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    measure_ = item.stash.get(MEASURE, None)
    if measure_ is not None and measure_.failures:
        raise LimitFailure(measure_.failures)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    measure_ = item.stash.get(MEASURE, None)
    if call.when == "teardown" and measure_ is not None:
        del item.stash[MEASURE]  # what it recorded is in the run file; keep memory flat
    if call.when == "call" and measure_ is not None:
        # Plain values, so the report also travels from a pytest-xdist worker.
        report.benchtest_limit_failures = [  # type: ignore[attr-defined]
            (m.name, m.value, m.limits.describe().removesuffix(f" {m.unit}"), m.unit)
            for m in measure_.failures
        ]
    return report


class FailedParameters:
    """Collects the out-of-limit parameters of each test's last attempt; prints them at the end."""

    def __init__(self) -> None:
        self.by_test: dict[str, list[tuple[str, float, str, str]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        failures = getattr(report, "benchtest_limit_failures", None)
        if report.when == "call" and failures is not None:
            self.by_test[report.nodeid] = [tuple(f) for f in failures]

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
