"""MCU physics in the simulated world: mode currents, leakage, wake-up latency, brown-out reset."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.sim import SupplyState, World, build_model
from benchtest.sim.models import McuModel
from benchtest.sim.simulators.debug_port import Firmware, PortConfig
from benchtest.sim.testing import ManualClock

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_mcu_l0.yaml").read_text(encoding="utf-8")
)
TYPICAL = build_model(PROFILE["model"])
assert isinstance(TYPICAL, McuModel)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def mcu(clock: ManualClock, **changes: Any) -> World:
    return World(dataclasses.replace(TYPICAL, **changes), clock=clock)


def supply(world: World, vdd: float) -> None:
    world.apply_supply(SupplyState(output=True, voltage=vdd, current_limit=20e-3))


def wake_pin(world: World, volts: float) -> None:
    pin = world.port("wake")
    assert pin is not None
    pin.apply_supply(SupplyState(output=True, voltage=volts, current_limit=10e-3))


@pytest.mark.parametrize("vdd", [1.8, 3.0, 3.6])
@pytest.mark.parametrize("mode", ["active", "sleep"])
def test_run_and_sleep_currents_follow_the_supply(
    clock: ManualClock, mode: str, vdd: float
) -> None:
    world = mcu(clock)
    supply(world, vdd)
    world.set_mode(mode)
    base = TYPICAL.idd_active if mode == "active" else TYPICAL.idd_sleep
    expected = base * (1 + TYPICAL.supply_coefficient * (vdd - 3.0))
    assert world.input_current() == pytest.approx(expected, rel=5e-3)


def test_deep_sleep_leakage_doubles_every_doubling_interval(clock: ManualClock) -> None:
    world = mcu(clock)
    supply(world, 3.0)
    world.set_mode("deepsleep")
    at_room = world.input_current()
    world.force_temperature(25.0 + 2 * 20.0, tau=1e-3)  # two doublings of the leakage
    clock.now += 1.0
    expected = TYPICAL.idd_deepsleep_floor + 4 * TYPICAL.idd_deepsleep_leakage
    assert at_room == pytest.approx(
        TYPICAL.idd_deepsleep_floor + TYPICAL.idd_deepsleep_leakage, rel=5e-3
    )
    assert world.input_current() == pytest.approx(expected, rel=5e-3)


@pytest.mark.parametrize(("mode", "latency"), [("deepsleep", 7.0e-6), ("sleep", 0.6e-6)])
def test_a_wake_edge_brings_the_current_up_after_the_latency(
    clock: ManualClock, mode: str, latency: float
) -> None:
    world = mcu(clock, wakeup_deepsleep=7.0e-6, wakeup_sleep=0.6e-6)
    supply(world, 3.0)
    world.set_mode(mode)
    clock.now += 1e-3  # settled in the low-power mode
    edge = clock.now
    wake_pin(world, 3.0)
    clock.now += latency * 0.99
    assert world.mode == mode
    clock.now = edge + 1e-3
    assert world.mode == "active"
    asleep = world.net_value("idd", edge)
    middle = (asleep + TYPICAL.idd_active) / 2
    rise = world.first_crossing("idd", middle, rising=True, after=edge)
    assert rise is not None
    assert rise - edge == pytest.approx(latency + TYPICAL.current_tau * math.log(2), rel=1e-3)


def test_a_wake_edge_in_run_mode_changes_nothing(clock: ManualClock) -> None:
    world = mcu(clock)
    supply(world, 3.0)
    wake_pin(world, 3.0)
    clock.now += 1e-3
    assert world.mode == "active"
    assert world.net_value("wake", clock.now) == 3.0


def test_brown_out_holds_the_part_in_reset_with_hysteresis(clock: ManualClock) -> None:
    world = mcu(clock, bor_falling=1.62, bor_hysteresis=0.08)
    supply(world, 3.0)
    assert world.reset_cause == "por"
    for vdd, powered in [(1.63, True), (1.61, False), (1.69, False), (1.71, True)]:
        supply(world, vdd)
        assert world.powered is powered, vdd
    assert world.reset_cause == "bor"
    assert world.input_current() > TYPICAL.idd_reset * 2  # running again
    supply(world, 1.61)
    assert world.input_current() == pytest.approx(TYPICAL.idd_reset, rel=5e-3)
    supply(world, 0.5)  # below the power-on-reset level: everything is lost
    supply(world, 3.0)
    assert world.reset_cause == "por"


def test_the_console_shows_each_boot_and_its_cause(clock: ManualClock) -> None:
    world = mcu(clock)
    firmware = Firmware(world, PortConfig.from_mapping(PROFILE["debug_port"]))
    shown: list[bytes] = []
    firmware.attach(shown.append)
    supply(world, 3.0)
    supply(world, 1.5)
    supply(world, 3.0)
    text = b"".join(shown).decode()
    assert "BT-MCU-L0 rev A fw 2.4.1 boot, reset cause: por" in text
    assert "BT-MCU-L0 rev A fw 2.4.1 boot, reset cause: bor" in text
    assert firmware.respond("rstcause").startswith(b"bor\r\n")
    reply = firmware.respond("mem read 0x40021094").decode()
    assert reply.startswith("0x02000000")  # RST_CAUSE.CAUSE = bor
    assert b"reset cause: software" in firmware.respond("reset")


def test_the_register_map_sets_the_power_mode(clock: ManualClock) -> None:
    world = mcu(clock)
    firmware = Firmware(world, PortConfig.from_mapping(PROFILE["debug_port"]))
    supply(world, 3.0)
    assert firmware.respond("mem write 0x40007000 0x00000902").startswith(b"OK")
    assert world.mode == "deepsleep"
    assert firmware.respond("mem read 0x40007004").startswith(b"0x00000005")  # VDD_OK, stop
    assert firmware.respond("mem read 0x40015800").startswith(b"0x20010417")
