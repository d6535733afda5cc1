"""A stop signal (SIGTERM, a second Ctrl-C) that arrives once the tests are over, after the run
file is closed: it is noted, not raised into end-of-session hooks that nothing catches, and
the run ends with its summary and pytest's interrupted exit status."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from benchtest.results import open_run
from benchtest.values import stops

PLAN = """
def test_sources(smu):
    smu.source_voltage(1.0, current_limit=0.01)
    smu.output_on()


def test_measures(smu, measure):
    measure("iq_active", 40e-6)
"""

# The stop lands in a hook of the plan's conftest, after benchtest has closed the run file.
CONFTEST = """
import os
import signal

import pytest

# SIGINT as in a terminal, also when this suite runs as a background job (which ignores it).
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(trylast=True)
def pytest_{hook}():
    os.kill(os.getpid(), signal.{signal})
"""


@pytest.fixture
def stop_handler() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, stops.on_stop)
    stops.forget()
    try:
        yield
    finally:
        stops.raise_on_stop()
        stops.forget()
        signal.signal(signal.SIGTERM, previous)


def test_once_the_tests_are_over_a_stop_is_noted_not_raised(stop_handler: None) -> None:
    stops.note_only()
    signal.raise_signal(signal.SIGTERM)  # no KeyboardInterrupt
    with stops.held:
        signal.raise_signal(signal.SIGTERM)  # none when the block ends either
    assert stops.pending() and stops.received() == "SIGTERM"
    with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
        signal.raise_signal(signal.SIGTERM)  # a third: a step that hangs can still be left
    stops.forget()
    stops.raise_on_stop()
    with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
        signal.raise_signal(signal.SIGTERM)
    stops.forget()  # seen: nothing left for this test's teardown to raise again


@pytest.mark.parametrize(
    ("hook", "signum"),
    [
        ("sessionfinish", "SIGTERM"),
        ("sessionfinish", "SIGINT"),
        ("terminal_summary", "SIGTERM"),
    ],
)
def test_a_stop_after_the_run_file_is_closed_ends_the_run_as_interrupted_with_its_summary(
    pytester: pytest.Pytester, ldo_profile_text: str, hook: str, signum: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile(test_plan=PLAN)
    pytester.makeconftest(CONFTEST.format(hook=hook, signal=signum))
    result = pytester.runpytest_subprocess(
        "--sim",
        "--dut",
        "ldo.yaml",
        "--results-dir",
        "results",
        "-p",
        "no:cacheprovider",
        timeout=60,
    )
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    result.stdout.fnmatch_lines(["run file: *BT-LDO33.h5", "  BT-LDO33: passed", "*2 passed in*"])
    if hook == "sessionfinish":  # landed before the summary: it says so
        stop = "Ctrl-C" if signum == "SIGINT" else signum
        result.stdout.fnmatch_lines(
            [
                f"benchtest: {stop} received as the session ended (noted, not raised): "
                "the run ends as interrupted (exit status 2)"
            ]
        )
    [path] = (pytester.path / "results").glob("*.h5")
    with open_run(path) as run:  # closed whole before the stop
        assert run.outcome == "passed" and not run.problems
        assert [t.outcome for t in run.tests] == ["passed", "passed"]
