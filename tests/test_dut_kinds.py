"""Plans choose their part by family; each part gets its own DUT session and run file."""

from __future__ import annotations

import pytest

PLAN = """
import pytest
pytestmark = pytest.mark.dut_kind("{family}")

def test_identity(uart, dut, measure):
    assert dut.family == "{family}"
    measure("iq_sleep", 1.0e-6)
"""


def make_profiles(pytester: pytest.Pytester, ldo_profile_text: str, *extra: str) -> None:
    folder = pytester.mkdir("dut_profiles")
    (folder / "ldo.yaml").write_text(ldo_profile_text)
    other = ldo_profile_text.replace("name: BT-LDO33", "name: BT-MCU1").replace(
        "family: ldo", "family: mcu"
    )
    (folder / "mcu.yaml").write_text(other)
    for index, family in enumerate(extra):
        twin = ldo_profile_text.replace("name: BT-LDO33", f"name: TWIN{index}").replace(
            "family: ldo", f"family: {family}"
        )
        (folder / f"twin{index}.yaml").write_text(twin)


def test_each_family_runs_against_its_own_profile(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    make_profiles(pytester, ldo_profile_text)
    pytester.makepyfile(test_a_ldo=PLAN.format(family="ldo"), test_b_mcu=PLAN.format(family="mcu"))
    result = pytester.runpytest_inprocess("--sim", "--results-dir", "results")
    result.assert_outcomes(passed=2)
    names = sorted(p.name.split("_", 1)[1] for p in (pytester.path / "results").glob("*.h5"))
    assert names == ["BT-LDO33.h5", "BT-MCU1.h5"]


def test_with_dut_a_plan_for_another_family_is_skipped(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    make_profiles(pytester, ldo_profile_text)
    pytester.makepyfile(test_a_ldo=PLAN.format(family="ldo"), test_b_mcu=PLAN.format(family="mcu"))
    result = pytester.runpytest_inprocess(
        "--sim", "--dut", "dut_profiles/ldo.yaml", "-rs", "--results-dir", "results"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*plan for mcu parts; the DUT BT-LDO33 is ldo*"])


def test_two_profiles_of_one_family_need_a_choice(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    make_profiles(pytester, ldo_profile_text, "ldo")
    pytester.makepyfile(test_a_ldo=PLAN.format(family="ldo"))
    result = pytester.runpytest_inprocess("--sim", "--results-dir", "results")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "2 DUT profiles of family 'ldo'" in result.stderr.str()
    assert "choose one with --dut PROFILE" in result.stderr.str()


def test_an_unknown_family_is_named(pytester: pytest.Pytester, ldo_profile_text: str) -> None:
    make_profiles(pytester, ldo_profile_text)
    pytester.makepyfile(test_a=PLAN.format(family="adc"))
    result = pytester.runpytest_inprocess("--sim", "--results-dir", "results")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no DUT profile of family 'adc'" in result.stderr.str()
    assert "families there: ldo, mcu" in result.stderr.str()


def test_an_unmarked_test_runs_with_the_part_already_under_test(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    make_profiles(pytester, ldo_profile_text)
    pytester.makepyfile(
        test_a_mcu=PLAN.format(family="mcu"),
        test_b_smoke="def test_any_part(uart, dut):\n    assert dut.name == 'BT-MCU1'\n",
    )
    result = pytester.runpytest_inprocess("--sim", "--results-dir", "results")
    result.assert_outcomes(passed=2)
    assert [p.name.split("_", 1)[1] for p in (pytester.path / "results").glob("*.h5")] == [
        "BT-MCU1.h5"
    ]
