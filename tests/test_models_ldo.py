"""LDO physics in the simulated world: regulation, dropout, current limit, temperature, start-up."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.sim import SupplyState, World, build_model
from benchtest.sim.models import LdoModel
from benchtest.sim.testing import ManualClock
from benchtest.values.errors import SimulatorError

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)
TYPICAL = build_model(PROFILE["model"])
assert isinstance(TYPICAL, LdoModel)
SETTLE = 1.0  # s, long after any ramp


def ldo(clock: ManualClock, **changes: Any) -> World:
    return World(dataclasses.replace(TYPICAL, **changes), clock=clock)


def vout(world: World, clock: ManualClock, vin: float, sink: float = 0.0) -> float:
    """Settled VOUT with `vin` applied and `sink` A drawn by an SMU on VOUT."""
    world.apply_supply(SupplyState(output=True, voltage=vin, current_limit=0.49))
    load = world.port("vout")
    assert load is not None
    load.apply_supply(SupplyState(output=True, function="CURR", current=-sink, voltage_limit=6.0))
    clock.now += SETTLE
    return load.input_voltage()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.mark.parametrize("slope", [0.3e-3, 0.6e-3, 2.0e-3])
def test_line_regulation_is_the_model_slope(clock: ManualClock, slope: float) -> None:
    world = ldo(clock, line_regulation=slope)
    low, high = vout(world, clock, 3.6, 1e-3), vout(world, clock, 5.5, 1e-3)
    assert (high - low) / (5.5 - 3.6) == pytest.approx(slope, rel=1e-9)


@pytest.mark.parametrize("droop", [0.01, 0.05])
def test_load_regulation_droops_by_the_model_resistance(clock: ManualClock, droop: float) -> None:
    world = ldo(clock, load_regulation=droop)
    light, heavy = vout(world, clock, 5.0, 1e-3), vout(world, clock, 5.0, 0.3)
    assert (heavy - light) / (0.3 - 1e-3) == pytest.approx(-droop, rel=1e-9)


def test_in_dropout_the_output_is_vin_less_the_pass_device_drop(clock: ManualClock) -> None:
    world = ldo(clock, dropout=0.2, rated_current=0.3)
    assert vout(world, clock, 3.3, 0.3) == pytest.approx(3.3 - 0.2)
    assert vout(world, clock, 3.3, 0.15) == pytest.approx(3.3 - 0.1)  # R_do = 0.2 V / 0.3 A


def test_input_current_is_quiescent_plus_load(clock: ManualClock) -> None:
    world = ldo(clock)
    vout(world, clock, 5.0, 0.1)
    assert world.input_current() == pytest.approx(TYPICAL.iq_active + 0.1, rel=1e-3)


def test_beyond_the_current_limit_the_output_collapses(clock: ManualClock) -> None:
    world = ldo(clock, current_limit=0.35)
    assert vout(world, clock, 5.0, 0.34) > 3.2
    assert vout(world, clock, 5.0, 0.36) == 0.0
    load = world.port("vout")
    assert load is not None and load.in_compliance()


def test_forcing_vout_below_regulation_draws_the_current_limit(clock: ManualClock) -> None:
    world = ldo(clock, current_limit=0.42)
    world.apply_supply(SupplyState(output=True, voltage=5.0, current_limit=0.49))
    load = world.port("vout")
    assert load is not None
    load.apply_supply(SupplyState(output=True, voltage=2.97, current_limit=1.0))
    assert load.input_current() == pytest.approx(-0.42)  # the SMU sinks what the LDO sources
    load.apply_supply(SupplyState(output=True, voltage=3.5, current_limit=1.0))
    assert load.input_current() == 0.0  # above regulation the LDO sources nothing


def test_lockout_has_hysteresis(clock: ManualClock) -> None:
    world = ldo(clock, uvlo=2.5, uvlo_hysteresis=0.1)
    for vin, on in [(2.45, False), (2.5, True), (2.45, True), (2.39, False), (2.45, False)]:
        world.apply_supply(SupplyState(output=True, voltage=vin, current_limit=0.1))
        assert world.powered is on, vin


def test_temperature_moves_the_parameters_by_their_tempco(clock: ManualClock) -> None:
    world = ldo(clock)
    at_room = vout(world, clock, 3.3, 0.3)
    world.force_temperature(125.0, tau=1e-3)
    clock.now += SETTLE
    hot = world.port("vout")
    assert hot is not None
    dropout_tempco = PROFILE["model"]["tempco"]["dropout"]["relative"]
    assert 3.3 - hot.input_voltage() == pytest.approx(
        (3.3 - at_room) * (1 + dropout_tempco * 100), rel=1e-6
    )
    assert world.unit().vout_nominal == pytest.approx(3.3 * (1 + 30e-6 * 100))


@pytest.mark.parametrize("overshoot", [0.0, 0.02, 0.08])
def test_startup_overshoot_and_rise_time_follow_the_model(
    clock: ManualClock, overshoot: float
) -> None:
    world = ldo(clock, startup_overshoot=overshoot)
    t_on = clock.now
    world.apply_supply(SupplyState(output=True, voltage=5.0, current_limit=0.1))
    clock.now += SETTLE
    start = t_on + TYPICAL.startup_delay
    times = [start + i * 1e-7 for i in range(20_000)]
    values = [world.net_value("vout", t) for t in times]
    assert max(values) / 3.3 - 1 == pytest.approx(overshoot, abs=1e-4)
    t10 = world.first_crossing("vout", 0.33, rising=True, after=t_on)
    t90 = world.first_crossing("vout", 2.97, rising=True, after=t_on)
    assert t10 is not None and t90 is not None
    assert t90 - t10 == pytest.approx(TYPICAL.startup_tau * math.log(9), rel=1e-3)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"vout_nominal": "high"}, r"model\.vout_nominal: expected a number, got 'high'"),
        ({"vout_nomnal": 3.3}, r"model\.vout_nomnal: the ldo model has no parameter"),
        ({"spread": {"iq": {"sigma": 1e-6}}}, r"model\.spread\.iq: the ldo model has no"),
        ({"spread": {"iq_sleep": {"sd": 1e-6}}}, r"model\.spread\.iq_sleep: expected \{sigma"),
        ({"tempco": {"iq_sleep": {"cubic": 1}}}, r"model\.tempco\.iq_sleep: expected one of"),
        ({"uvlo": {"typ": 2.5, "sigma": -1}}, r"model\.uvlo\.sigma: expected a number >= 0"),
        ({"iq_sleep": {"typ": 1e-6, "sigma": 1e-7}}, r"model\.spread\.iq_sleep: model\.iq_sleep"),
        ({"kind": "pmic"}, r"model\.kind: the simulated bench has no 'pmic' model"),
        ({"faults": {"smoke": True}}, r"model\.faults\.smoke: unknown fault"),
    ],
)
def test_a_bad_model_section_names_the_field(change: dict[str, Any], words: str) -> None:
    with pytest.raises(SimulatorError, match=words):
        build_model({**PROFILE["model"], **change})
