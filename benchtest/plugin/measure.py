"""The `measure` fixture, and the soft failure of a test whose measurements broke limits.

`measure("iq_sleep", value)` takes unit and limits from the profile and records the result at
once; a value out of limits fails the test only after the test body has finished, so every
measurement of the test is recorded (soft fail). The failure names value, limit and unit.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from benchtest.measure import LimitFailure, Measure
from benchtest.plugin.configuration import settings
from benchtest.plugin.recording import recorder

MEASURE = pytest.StashKey[Measure]()


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Measure:
    """Record measurements: `measure("vout", value)`, `measure.waveform("vout_startup", wf)`."""
    run = settings(request.config)
    if run is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE (and --bench or --sim)",
            pytrace=False,
        )
    callspec = getattr(request.node, "callspec", None)
    conditions = dict(callspec.params) if callspec is not None else {}
    recorder_ = Measure(request.node.nodeid, run.dut, recorder(request.config).emit, conditions)
    request.node.stash[MEASURE] = recorder_
    return recorder_


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    measure_ = item.stash.get(MEASURE, None)
    if measure_ is not None and measure_.failures:
        raise LimitFailure(measure_.failures)
    return result
