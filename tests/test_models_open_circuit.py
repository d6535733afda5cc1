"""Nothing wired to a simulated source: a current source drives the open input to its voltage
limit with the sign of its current, and is in compliance; a voltage source sets the voltage."""

from __future__ import annotations

import pytest

from benchtest.sim.models.load import OpenCircuit, SupplyState


@pytest.mark.parametrize(
    ("current", "expected"), [(1e-3, 5.0), (-1e-3, -5.0), (0.0, 0.0)], ids=["+", "-", "zero"]
)
def test_a_current_source_into_nothing_rises_to_its_limit_with_the_sign_of_its_current(
    current: float, expected: float
) -> None:
    load = OpenCircuit()
    load.apply_supply(SupplyState(True, "CURR", current=current, voltage_limit=5.0))
    assert load.input_voltage() == expected
    assert load.in_compliance() is (current != 0.0)
    assert load.input_current() == 0.0


def test_a_voltage_source_sets_the_open_input_and_an_output_off_leaves_it_at_zero() -> None:
    load = OpenCircuit()
    load.apply_supply(SupplyState(True, "VOLT", voltage=-2.5))
    assert load.input_voltage() == -2.5 and not load.in_compliance()
    load.apply_supply(SupplyState(False, "CURR", current=-1e-3, voltage_limit=5.0))
    assert load.input_voltage() == 0.0 and not load.in_compliance()
