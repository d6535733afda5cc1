"""Sweep plans: linear or list, 100-value list commands, reply parsing with "no value" as NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchtest.driver.sweeps import SweepPlan, parse_points, parse_values


def test_equally_spaced_levels_are_linear_and_others_are_not() -> None:
    assert SweepPlan.create("voltage", np.linspace(0, 5.5, 1000), 0.01).linear
    assert SweepPlan.create("voltage", [5.0, 4.0, 3.0], 0.01).linear  # downwards too
    assert not SweepPlan.create("voltage", [0.0, 1.0, 3.0], 0.01).linear
    assert not SweepPlan.create("voltage", [2.0], 0.01).linear  # one point: a list
    assert not SweepPlan.create("voltage", [1.0, 1.0, 1.0], 0.01).linear


def test_names_and_units_follow_the_source_function() -> None:
    plan = SweepPlan.create("current", [0.0, 1e-3], 5.5)
    assert (plan.keyword, plan.measured_keyword) == ("CURRent", "VOLTage")
    assert (plan.level_name, plan.limit_name) == ("current_setpoint", "voltage_limit")
    result = plan.result(plan.levels, np.array([0.0, 5.5]))
    assert (result.source_unit, result.measured_unit) == ("A", "V")


def test_list_commands_hold_at_most_100_values_then_append() -> None:
    plan = SweepPlan.create("voltage", [float(i % 13) for i in range(201)], 0.01)
    commands = plan.list_commands(":SOURce:LIST:VOLTage")
    assert [c.split(" ")[0] for c in commands] == [
        ":SOURce:LIST:VOLTage",
        ":SOURce:LIST:VOLTage:APPend",
        ":SOURce:LIST:VOLTage:APPend",
    ]
    counts = [len(c.split(" ")[1].split(",")) for c in commands]
    assert counts == [100, 100, 1]
    values = [float(v) for c in commands for v in c.split(" ")[1].split(",")]
    assert values == list(plan.levels)


@pytest.mark.parametrize(
    ("levels", "delay", "words"),
    [([], None, "non-empty"), ([[1.0, 2.0]], None, "non-empty"), ([1.0, math.inf], None, "finite"),
     ([1.0], -0.5, "delay"), ([1.0], math.nan, "delay")],
)  # fmt: skip
def test_malformed_requests_are_value_errors(
    levels: list[float], delay: float | None, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        SweepPlan.create("voltage", levels, 0.01, delay)


def test_values_of_9_9e37_and_9_91e37_become_nan() -> None:
    values = parse_values("+1.0E+00,+9.910000E+37,-9.9E37,4.5E-05")
    assert values[0] == 1.0 and values[3] == 4.5e-05
    assert math.isnan(values[1]) and math.isnan(values[2])


def test_points_must_fill_whole_rows_of_the_expected_count() -> None:
    assert parse_points("1,2,3,4", 2, 2).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ValueError, match="points of 2"):
        parse_points("1,2,3", 2, 2)
    with pytest.raises(ValueError, match="expected 3 points"):
        parse_points("1,2,3,4", 2, 3)
    with pytest.raises(ValueError):
        parse_points("1,2,#,4", 2, 2)
