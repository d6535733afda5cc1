"""Plan mistakes stop the run at collection, before anything is powered."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest import DutProfile
from benchtest.config.plan_rules import measure_call_problems, unknown_roles
from benchtest.sim.server.journal import read_values

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def dut() -> DutProfile:
    return DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")


def plan_with_mistakes(measure: object) -> None:
    measure("iq_sleep", 1e-6)  # fine
    measure("iq_deep_sleep", 1e-7)  # not in the profile
    measure("vout", 3.3, unit="A")  # wrong unit
    measure("ripple", 1e-3, high=5e-3)  # inline limits without a unit
    measure("ripple", 1e-3, unit="V", high=5e-3)  # fine
    measure.sweep("vout", [4.0, 5.0], [3.3, 3.3], x_name="vin", x_unit="V")  # fine
    measure.sweep("vout_curve", [4.0], [3.3], x_name="vin", x_unit="V")  # not in the profile


def test_measure_calls_are_checked_against_the_profile(dut: DutProfile) -> None:
    problems = measure_call_problems(plan_with_mistakes, dut)
    assert len(problems) == 4, problems
    first = plan_with_mistakes.__code__.co_firstlineno
    assert problems[0].startswith(
        f"line {first + 2}: measure('iq_deep_sleep'): 'iq_deep_sleep' is not"
    )
    assert "known parameters: current_limit, dropout, iq_active, iq_sleep," in problems[0]
    assert "unit 'A' does not match the unit 'V' of vout" in problems[1]
    assert "inline limits need a unit" in problems[2]
    assert "measure.sweep('vout_curve'): 'vout_curve' is not a parameter" in problems[3]


def test_unknown_roles_are_those_neither_bench_nor_nets_know(dut: DutProfile) -> None:
    assert unknown_roles(["smu", "psu", "smuu"], ["smu", "scope"], dut) == ["psu", "smuu"]
    assert unknown_roles(["uart"], [], dut) == []  # the profile's nets know it


PLAN = """
import pytest

@pytest.mark.requires("smu")
def test_fine(smu, measure):
    measure("iq_sleep", 1e-6)

@pytest.mark.requires("smuu")
def test_typo_role(measure):
    measure("iq_sleep", 1e-6)

def test_typo_parameter(smu, measure):
    smu.source_voltage(5.0, current_limit=0.01)
    smu.output_on()
    measure("iq_slep", smu.measure_current())
"""


def test_plan_mistakes_stop_the_run_before_any_test(
    pytester: pytest.Pytester, ldo_profile_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile(test_plan=PLAN)
    journal = pytester.path / "journal.jsonl"
    monkeypatch.setenv("BENCHTEST_SIM_JOURNAL", str(journal))
    result = pytester.runpytest_inprocess("--sim", "--dut", "ldo.yaml", "--results-dir", "results")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "test_plan.py::test_typo_role: requires('smuu'): no such role" in err
    assert "test_plan.py::test_typo_parameter: line 14: measure('iq_slep'): 'iq_slep' is not" in err
    assert "passed" not in result.stdout.str()
    assert read_values(journal, "smu", "output") == []  # nothing was powered
