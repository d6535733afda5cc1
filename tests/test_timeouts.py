"""A test that hangs until pytest-timeout ends it still leaves the SMU output off.

The timeout covers the test function only (`timeout_func_only`): on a busy machine starting the
simulated bench alone took longer than the timeout, which then fired before the SMU was ever
switched on. The plan's setup here takes longer than its timeout on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest.sim.server.journal import read_values

HANGING_PLAN = """
import time

import pytest

@pytest.fixture(autouse=True)
def slow_start():  # setup longer than the timeout, as starting the bench on a busy machine
    time.sleep(2)

def test_hangs_with_the_output_on(smu):
    smu.source_voltage(5.0, current_limit=0.01)
    smu.output_on()
    time.sleep(60)
"""


def smu_outputs(journal: Path) -> list[bool]:
    return [bool(value) for value in read_values(journal, "smu", "output")]


@pytest.mark.parametrize("method", ["signal", "thread"])
def test_timed_out_test_leaves_instruments_safe(
    pytester: pytest.Pytester, ldo_profile_text: str, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    journal = pytester.path / "journal.jsonl"
    monkeypatch.setenv("BENCHTEST_SIM_JOURNAL", str(journal))
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile(test_plan=HANGING_PLAN)
    result = pytester.runpytest_subprocess(
        "--sim",
        "--dut",
        "ldo.yaml",
        "--results-dir",
        "results",
        "-p",
        "timeout",
        "--timeout",
        "1.5",
        "--timeout-method",
        method,
        "-o",
        "timeout_func_only=true",
        timeout=300,
    )
    assert result.ret != 0
    assert "Timeout" in result.stdout.str() + result.stderr.str()
    assert smu_outputs(journal)[0] is True
    assert smu_outputs(journal)[-1] is False
