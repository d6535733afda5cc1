"""Plan checks at collection read each test function once, yet report per test what is per test.

A parametrised function's `measure(...)` calls are read with its first test that runs (not
with a skipped one); a parameter beyond a rating and an unknown role are named for each test
that has them.
"""

from __future__ import annotations

import pytest

PLAN = """
import pytest


@pytest.mark.parametrize("n", range(3))
def test_param(n, measure):
    measure("iq_slep", 1e-6)


class TestGroup:
    @pytest.mark.parametrize("n", range(2))
    def test_method(self, n, measure):
        measure("vout", 3.3, unit="A")


@pytest.mark.skip(reason="later")
def test_skipped(measure):
    measure("nothing_like_it", 1)


@pytest.mark.parametrize("vin", [4.0, 9.0, 12.0])
def test_condition(vin, measure):
    measure("vout", 3.3)


@pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.skip), 2])
def test_half_skipped(n, measure):
    measure("iq_deep", 1)


@pytest.mark.requires("smuu")
@pytest.mark.parametrize("n", range(2))
def test_role(n, measure):
    measure("vout", 3.3)
"""

BENCH = """
schema_version: 1
instruments:
  smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::9::SOCKET"}
"""


def test_problems_are_named_once_per_function_and_per_test_where_they_differ(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text, bench=BENCH)
    pytester.makepyfile(test_plan=PLAN)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--bench", "bench.yaml", "--dut", "ldo.yaml", "--co"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = result.stderr.lines
    start = lines.index("ERROR: benchtest: the plan does not fit the bench or DUT profile:")
    problems = [line.strip().split(": ", 2)[:2] for line in lines[start + 1 :] if line.strip()]
    assert problems == [
        ["test_plan.py::test_param[0]", "line 6"],
        ["test_plan.py::TestGroup::test_method[0]", "line 12"],
        ["test_plan.py::test_condition[9.0]", "parametrized vin=9.0"],
        ["test_plan.py::test_condition[12.0]", "parametrized vin=12.0"],
        ["test_plan.py::test_half_skipped[2]", "line 27"],
        ["test_plan.py::test_role[0]", "requires('smuu')"],
        ["test_plan.py::test_role[1]", "requires('smuu')"],
    ]
    err = result.stderr.str()
    assert "measure('iq_slep'): 'iq_slep' is not a parameter" in err
    assert "unit 'A' does not match the unit 'V' of vout" in err
    assert "9 V exceeds the absolute maximum rating vin <= 6 V" in err
    assert "nothing_like_it" not in err  # a skipped test is not checked
