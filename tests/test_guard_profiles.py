"""A DUT profile the guard cannot trust is refused when it loads, or at collection.

Each defect here once let 7 V reach the SMU, or was only caught at run time: a rating that is
NaN or infinite, a profile without nets, a rating on a role the bench lacks, a maximum below
the minimum, recommended operating conditions or test conditions beyond the ratings, a plan
parametrised beyond them. Each is now one `ConfigError` (or a usage error at collection) that
names the file and the field, before any instrument is opened. The end-to-end cases run a plan
that sources 7 V on the simulated bench and read the simulator's journal: the level never
arrived.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.config.plan_rules import parameter_problems, unguarded_ratings
from benchtest.sim.server.journal import read_values
from benchtest.values.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
LDO: dict[str, Any] = yaml.safe_load(
    (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)
Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> dict[str, Any]:
    profile = copy.deepcopy(LDO)
    edit(profile)
    return profile


def write(path: Path, profile: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    return path


def rating(name: str, key: str, value: Any) -> Edit:
    return lambda p: p["absolute_maximum"][name].__setitem__(key, value)


def operating(name: str, key: str, value: Any) -> Edit:
    return lambda p: p["recommended_operating"][name].__setitem__(key, value)


def condition(parameter: str, name: str, value: Any) -> Edit:
    return lambda p: p["parameters"][parameter]["conditions"].__setitem__(name, value)


DEFECTS: dict[str, tuple[Edit, str, str]] = {
    "NaN maximum": (rating("vin", "max", math.nan), "absolute_maximum.vin.max", "finite"),
    "infinite maximum": (rating("vin", "max", math.inf), "absolute_maximum.vin.max", "finite"),
    "-inf minimum": (rating("iin", "min", -math.inf), "absolute_maximum.iin.min", "finite"),
    "no nets": (lambda p: p.pop("nets"), "(top level)", "'nets' is required"),
    "empty nets": (lambda p: p.__setitem__("nets", {}), "nets", "got {}"),
    "max below min": (
        rating("vin", "min", 7.0),
        "absolute_maximum.vin",
        "max (6 V) is below min (7 V)",
    ),
    "operating max beyond": (
        operating("vin", "max", 6.5),
        "recommended_operating.vin.max",
        "6.5 V exceeds the absolute maximum rating vin <= 6 V",
    ),
    "operating min beyond": (
        operating("vin", "min", -1.0),
        "recommended_operating.vin.min",
        "-1 V is below the absolute minimum rating vin >= -0.3 V",
    ),
    "linked operating beyond": (
        operating("temperature", "max", 150.0),
        "recommended_operating.temperature.max",
        "150 degC exceeds the absolute maximum rating tj <= 125 degC",
    ),
    "link to no rating": (
        operating("temperature", "rating", "t_junction"),
        "recommended_operating.temperature.rating",
        "no absolute_maximum entry 't_junction'",
    ),
    "operating unit differs": (
        operating("vin", "unit", "A"),
        "recommended_operating.vin.unit",
        "does not match the unit 'V'",
    ),
    "NaN operating": (operating("vin", "max", math.nan), "recommended_operating.vin.max", "finite"),
    "condition beyond": (
        condition("iq_active", "vin", 7.0),
        "parameters.iq_active.conditions.vin",
        "7 V exceeds the absolute maximum rating vin <= 6 V",
    ),
    "condition range beyond": (
        condition("line_regulation", "vin", [3.6, 6.000001]),
        "parameters.line_regulation.conditions.vin",
        "6.000001 V exceeds",
    ),
    "temperature condition beyond": (
        condition("dropout", "temperature", [-40.0, 130.0]),
        "parameters.dropout.conditions.temperature",
        "130 degC exceeds the absolute maximum rating tj <= 125 degC",
    ),
    "NaN condition": (
        condition("iq_active", "vin", math.nan),
        "parameters.iq_active.conditions.vin",
        "finite",
    ),
    "NaN limit": (
        lambda p: p["parameters"]["iq_sleep"].__setitem__("max", math.nan),
        "parameters.iq_sleep.max",
        "finite",
    ),
}


@pytest.mark.parametrize(("edit", "field", "words"), DEFECTS.values(), ids=DEFECTS.keys())
def test_a_profile_the_guard_cannot_trust_is_refused_naming_file_and_field(
    tmp_path: Path, edit: Edit, field: str, words: str
) -> None:
    path = write(tmp_path / "bad.yaml", edited(edit))
    with pytest.raises(ConfigError) as info:
        DutProfile.load(path)
    assert (info.value.path, info.value.field) == (str(path), field), str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN", "1e999"])
def test_yaml_spellings_of_non_finite_ratings_are_refused(tmp_path: Path, text: str) -> None:
    source = (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
    old = "    net: vin\n    min: -0.3\n    max: 6.0\n"
    assert source.count(old) == 1
    path = tmp_path / "bad.yaml"
    path.write_text(source.replace(old, f"    net: vin\n    min: -0.3\n    max: {text}\n"))
    with pytest.raises(ConfigError, match=r"absolute_maximum\.vin\.max"):
        DutProfile.load(path)


def test_the_example_profiles_load_and_bind_their_conditions() -> None:
    for name in ("bt_ldo33", "bt_mcu_l0", "bt_temp_s1"):
        DutProfile.load(REPO / "dut_profiles" / f"{name}.yaml")
    ldo = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
    assert {r.quantity for r in ldo.guard_for("load").ratings} == {"voltage", "current"}
    assert [r.name for r in ldo.guard_for("chamber").ratings] == ["tj"]


# -- bench and profile together -----------------------------------------------------------------


def bench(tmp_path: Path, roles: dict[str, str]) -> Bench:
    text = yaml.safe_dump(
        {
            "schema_version": 1,
            "name": "test bench",
            "instruments": {r: {"driver": d, "resource": f"sim://{r}"} for r, d in roles.items()},
        }
    )
    (tmp_path / "bench.yaml").write_text(text, encoding="utf-8")
    return Bench.load(tmp_path / "bench.yaml")


def misnamed(profile: dict[str, Any]) -> None:
    """The net the SMU drives, tied to a role no bench has."""
    profile["nets"]["vin"] = {"role": "supply"}


def test_a_rating_on_a_role_the_bench_lacks_is_named_when_another_source_could_drive_it(
    tmp_path: Path,
) -> None:
    dut = DutProfile.load(write(tmp_path / "ldo.yaml", edited(misnamed)))
    problems = unguarded_ratings(bench(tmp_path, {"smu": "keithley.k2450"}), dut)
    # vin and iin on the misnamed role; vout and iout, as the bench has no load either
    assert [p.split(": ")[1] for p in problems] == [
        "absolute_maximum.vin",
        "absolute_maximum.iin",
        "absolute_maximum.vout",
        "absolute_maximum.iout",
    ]
    assert "the voltage rating of net vin is guarded on role 'supply'" in problems[0]
    assert "smu (keithley.k2450) can source voltage on no net of the profile" in problems[0]
    assert str(dut.path) in problems[0] and "nets.vin.role" in problems[0]


def test_a_missing_role_that_nothing_on_the_bench_could_stand_in_for_is_fine(
    tmp_path: Path,
) -> None:
    dut = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
    roles = {"smu": "keithley.k2450", "scope": "rigol.ds1000z", "dmm": "generic.scpi_dmm"}
    assert unguarded_ratings(bench(tmp_path, roles), dut) == []  # no load, no chamber: skips
    roles["psu"] = "rigol.dp800"  # a supply on no net could be the missing load
    problems = unguarded_ratings(bench(tmp_path, roles), dut)
    assert [p.split(": ")[1] for p in problems] == [
        "absolute_maximum.vout",
        "absolute_maximum.iout",
    ]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"vin": 7.0}, "vin=7.0: 7 V exceeds the absolute maximum rating vin <= 6 V"),
        ({"vin": np.float32(6.5)}, "6.5 V exceeds"),
        ({"vin": np.linspace(5.0, 7.0, 3)}, "7 V exceeds"),
        ({"temperature": 150.0}, "150 degC exceeds the absolute maximum rating tj <= 125 degC"),
        ({"vin": math.nan}, "nan is not a finite number"),
    ],
)
def test_a_parametrized_condition_beyond_a_rating_is_a_plan_problem(
    params: dict[str, Any], words: str
) -> None:
    dut = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
    problems = parameter_problems(params, dut)
    assert len(problems) == 1 and words in problems[0] and "bt_ldo33.yaml" in problems[0]
    assert parameter_problems({"vin": 5.5, "temperature": 125.0, "mode": "sleep"}, dut) == []


# -- end to end: 7 V never reaches the SMU ------------------------------------------------------

SEVEN_VOLTS = """
import pytest

@pytest.mark.requires("smu")
@pytest.mark.parametrize("vin", [{vin}])
def test_source(smu, vin):
    smu.source_voltage(vin, current_limit=0.01)
"""
IN_THE_BODY = """
def test_source(smu):
    smu.source_voltage({vin}, current_limit=0.01)
"""


def run(
    pytester: pytest.Pytester, profile: dict[str, Any], vin: float, plan: str = SEVEN_VOLTS
) -> tuple[Any, list[Any]]:
    """Run a plan that sources `vin` through the simulated SMU with `profile`; the result and
    every source level the simulated SMU received."""
    write(pytester.path / "dut.yaml", profile)
    pytester.makepyfile(test_plan=plan.format(vin=vin))
    journal = pytester.path / "journal.jsonl"
    result = pytester.runpytest_inprocess(
        "--sim", "--dut", "dut.yaml", "--results-dir", "results", "-p", "no:cacheprovider"
    )
    return result, read_values(journal, "smu", "voltage")


@pytest.fixture
def journal_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHTEST_SIM_JOURNAL", str(pytester.path / "journal.jsonl"))


def test_a_sound_profile_lets_5_volts_through_and_refuses_7(
    pytester: pytest.Pytester, journal_env: None
) -> None:
    result, levels = run(pytester, LDO, 5.0)
    result.assert_outcomes(passed=1)
    assert levels == [5.0, 0.0]  # the journal sees what arrives (then safe state's 0 V)
    result, levels = run(pytester, LDO, 7.0, IN_THE_BODY)  # not seen at collection
    result.assert_outcomes(failed=1)
    assert "7 V exceeds the absolute maximum rating vin <= 6 V" in result.stdout.str()
    assert levels == [5.0, 0.0]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (rating("vin", "max", math.nan), "absolute_maximum.vin.max"),
        (rating("vin", "max", math.inf), "absolute_maximum.vin.max"),
        (lambda p: p.pop("nets"), "'nets' is required"),
        (misnamed, "absolute_maximum.vin: the voltage rating of net vin is guarded on role"),
        (operating("vin", "max", 7.0), "recommended_operating.vin.max"),
        (condition("iq_active", "vin", 7.0), "parameters.iq_active.conditions.vin"),
    ],
    ids=["NaN rating", "infinite rating", "no nets", "misnamed role", "operating", "condition"],
)
def test_a_defective_profile_stops_the_run_before_7_volts_reach_the_smu(
    pytester: pytest.Pytester, journal_env: None, edit: Edit, words: str
) -> None:
    result, levels = run(pytester, edited(edit), 7.0)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert words in result.stderr.str() and "dut.yaml" in result.stderr.str()
    assert levels == []
    assert not (pytester.path / "results").exists()


def test_a_plan_parametrised_beyond_a_rating_stops_at_collection(
    pytester: pytest.Pytester, journal_env: None
) -> None:
    result, levels = run(pytester, LDO, 5.0)
    assert levels == [5.0, 0.0]
    result, levels = run(pytester, LDO, "5.0, 7.0")  # type: ignore[arg-type]
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_plan.py::test_source[7.0]: parametrized vin=7.0: 7 V exceeds" in (
        result.stderr.str()
    )
    assert levels == [5.0, 0.0]  # from the first run only
