"""Temperature-sensor physics: transfer function, noise and resolution, conversions, currents."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest.sim import SupplyState, World, build_model
from benchtest.sim.models import SensorModel
from benchtest.sim.testing import ManualClock

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_temp_s1.yaml").read_text(encoding="utf-8")
)
TYPICAL = build_model(PROFILE["model"])
assert isinstance(TYPICAL, SensorModel)
QUIET = {"noise_rms": 0.0, "lsb": 0.0}


def sensor(clock: ManualClock | None = None, **changes: Any) -> World:
    """A powered sensor in continuous mode on a clock that moves only when a test (or a wait of
    the model) moves it: nothing here depends on how fast the machine runs."""
    clock = clock or ManualClock()
    world = World(dataclasses.replace(TYPICAL, **changes), clock=clock, sleep=clock.sleep)
    world.apply_supply(SupplyState(output=True, voltage=3.3, current_limit=10e-3))
    world.set_mode("continuous")  # every read returns a fresh conversion at once
    return world


def read(world: World) -> float:
    return float(world.device.actions()["read"]())


@pytest.mark.parametrize("temperature", [-40.0, 25.0, 85.0, 125.0])
def test_reading_follows_the_transfer_function(temperature: float) -> None:
    clock = ManualClock()
    changes = {"offset": 0.2, "gain_error": 2e-3, "curvature": -2e-5, **QUIET}
    world = sensor(clock, **changes)
    world.force_temperature(temperature, tau=1e-3)
    clock.now += 1.0
    delta = temperature - 25.0
    error = 0.2 + 2e-3 * delta - 2e-5 * delta**2
    assert read(world) == pytest.approx(temperature + error, abs=1e-4)  # 4 decimals printed


def test_supply_sensitivity_moves_the_reading() -> None:
    world = sensor(ManualClock(), supply_sensitivity=0.05, offset=0.0, **QUIET)
    at_nominal = read(world)
    world.apply_supply(SupplyState(output=True, voltage=5.3, current_limit=10e-3))
    assert read(world) - at_nominal == pytest.approx(0.05 * 2.0, abs=1e-4)


def test_readings_scatter_by_the_noise_and_land_on_the_lsb() -> None:
    world = sensor(ManualClock(), noise_rms=0.05)
    readings = np.array([read(world) for _ in range(2000)])
    assert np.std(readings) == pytest.approx(0.05, rel=0.1)
    assert np.allclose(readings / TYPICAL.lsb, np.round(readings / TYPICAL.lsb), atol=0.02)


def test_a_one_shot_conversion_is_a_current_pulse_of_the_conversion_time() -> None:
    """The conversion ends `t_conversion` after it starts on the world's clock: `read` waits for
    it (the manual clock moves on by exactly the wait), and the supply current steps up and back
    down at those two instants with the time constant `current_tau`. (Timed on the real clock to
    20 us, this failed whenever the machine was busy.)"""
    clock = ManualClock()
    world = sensor(clock, t_conversion=0.02)
    world.set_mode("standby")
    clock.now += 1.0  # long enough for the current to settle at the standby level
    actions = world.device.actions()
    started = clock.now
    assert actions["convert"]() == "OK"
    assert world.input_current() == pytest.approx(TYPICAL.idd_active, rel=5e-3)
    value = float(actions["read"]())  # waits for the running conversion
    assert clock.now == pytest.approx(started + 0.02, abs=1e-12)
    assert value == pytest.approx(25.0, abs=1.0)
    assert world.input_current() == pytest.approx(TYPICAL.idd_standby, rel=5e-3)
    active, standby, tau = TYPICAL.idd_active, TYPICAL.idd_standby, TYPICAL.current_tau
    half = active / 2
    rise = world.first_crossing("idd", half, rising=True, after=started - 1)
    fall = world.first_crossing("idd", half, rising=False, after=started)
    step_up = tau * math.log((active - standby) / (active - half))
    step_down = tau * math.log((active - standby) / (half - standby))
    assert rise == pytest.approx(started + step_up, abs=1e-9)
    assert fall == pytest.approx(started + 0.02 + step_down, abs=1e-9)


def test_read_starts_a_conversion_and_waits_for_it_on_the_world_clock() -> None:
    clock = ManualClock()
    world = sensor(clock, t_conversion=0.05)
    world.set_mode("standby")
    started = clock.now
    assert float(world.device.actions()["read"]()) == pytest.approx(25.0, abs=1.0)
    assert clock.now == pytest.approx(started + 0.05, abs=1e-12)


def test_an_unpowered_sensor_says_so() -> None:
    world = sensor()
    world.apply_supply(SupplyState(output=False))
    assert world.device.actions()["read"]() == "ERR not powered"
    assert world.input_current() == 0.0
