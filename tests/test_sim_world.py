"""Physics of the simulated DUT: lockout, dropout, start-up ramp, currents, rendered nets."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest.sim import LdoModel, SupplyState, World
from benchtest.values.errors import SimulatorError

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)
MODEL = LdoModel.from_mapping(PROFILE["model"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(MODEL, clock=clock)


def powered(world: World, vin: float = 5.0, limit: float = 0.1) -> None:
    world.apply_supply(SupplyState(output=True, voltage=vin, current_limit=limit))


def test_model_comes_from_the_profile() -> None:
    assert MODEL.vout_nominal == 3.3
    assert MODEL.iq_sleep == 1.2e-6
    assert MODEL.firmware_id == "BT-LDO33 rev B fw 1.2.0"


def test_model_names_the_bad_field() -> None:
    broken = {**PROFILE["model"], "startup_tau": "fast"}
    with pytest.raises(SimulatorError, match=r"model\.startup_tau: expected a number"):
        LdoModel.from_mapping(broken)


@pytest.mark.parametrize(
    ("vin", "vout"), [(0.0, 0.0), (2.4, 0.0), (3.0, 3.0), (3.2, 3.2), (5.0, 3.3)]
)
def test_settled_output_follows_lockout_and_dropout(
    world: World, clock: FakeClock, vin: float, vout: float
) -> None:
    # Unloaded, the pass device drops no voltage: below regulation VOUT follows VIN.
    powered(world, vin)
    clock.now += 1.0
    assert world.net_value("vout", clock.now) == pytest.approx(vout, abs=1e-9)


def test_startup_ramp_is_first_order_after_the_delay(clock: FakeClock) -> None:
    world = World(dataclasses.replace(MODEL, startup_overshoot=0.0), clock=clock)
    t_on = clock.now
    powered(world)
    assert world.power_on_time == t_on
    assert world.net_value("vout", t_on + MODEL.startup_delay * 0.99) == 0.0
    t63 = t_on + MODEL.startup_delay + MODEL.startup_tau
    assert world.net_value("vout", t63) == pytest.approx(3.3 * (1 - math.exp(-1)))
    crossing = world.first_crossing("vout", 3.3 * (1 - math.exp(-1)), rising=True, after=t_on)
    assert crossing == pytest.approx(t63)


def test_trigger_crossing_not_found_before_arming_or_in_wrong_direction(
    world: World, clock: FakeClock
) -> None:
    powered(world)
    assert world.first_crossing("vout", 1.0, rising=True, after=clock.now + 1.0) is None
    assert world.first_crossing("vout", 1.0, rising=False, after=clock.now) is None
    clock.now += 1.0
    world.apply_supply(SupplyState(output=False))
    assert world.first_crossing("vout", 1.0, rising=False, after=clock.now - 0.5) == clock.now


def test_input_current_follows_mode_and_compliance(world: World) -> None:
    assert world.input_current() == 0.0  # output off
    powered(world)
    assert world.input_current() == pytest.approx(MODEL.iq_active, rel=0.01)
    world.set_mode("sleep")
    assert world.input_current() == pytest.approx(MODEL.iq_sleep, rel=0.01)
    powered(world, limit=1e-6)
    assert world.input_current() == 1e-6
    assert world.in_compliance()


def test_power_cycle_reboots_the_firmware_into_active_mode(world: World) -> None:
    powered(world)
    world.set_mode("sleep")
    world.apply_supply(SupplyState(output=False))
    assert not world.powered
    powered(world)
    assert world.mode == "active"


def test_copied_profile_changes_the_simulated_part(clock: FakeClock) -> None:
    profile = copy.deepcopy(PROFILE)
    profile["model"]["iq_sleep"] = 7.5e-6
    world = World(LdoModel.from_mapping(profile["model"]), clock=clock)
    powered(world)
    world.set_mode("sleep")
    assert world.input_current() == pytest.approx(7.5e-6, rel=0.01)


def test_render_has_the_model_noise_and_is_reproducible(world: World, clock: FakeClock) -> None:
    powered(world)
    clock.now += 1.0
    samples = world.render("vout", clock.now - 0.5, 1e-6, 0, 100_000, seed=(1, 2))
    assert samples.mean() == pytest.approx(3.3, abs=1e-4)
    assert samples.std() == pytest.approx(MODEL.noise_rms, rel=0.02)
    again = world.render("vout", clock.now - 0.5, 1e-6, 0, 100_000, seed=(1, 2))
    other = world.render("vout", clock.now - 0.5, 1e-6, 0, 100_000, seed=(1, 3))
    assert np.array_equal(samples, again)
    assert not np.array_equal(samples, other)


def test_render_in_chunks_equals_render_at_once(world: World, clock: FakeClock) -> None:
    powered(world)
    t0 = clock.now - 10e-6
    whole = world.render("vout", t0, 1e-8, 0, 200_000, seed=(5,))
    chunks = [world.render("vout", t0, 1e-8, s, 70_000, seed=(5,)) for s in (0, 70_000, 140_000)]
    assert np.array_equal(whole, np.concatenate(chunks)[:200_000])


def test_render_of_deep_memory_chunk_is_fast(world: World, clock: FakeClock) -> None:
    powered(world)
    started = time.perf_counter()
    chunk = world.render("vout", clock.now, 1e-9, 23_750_000, 250_000, seed=(0,))
    assert time.perf_counter() - started < 0.5  # ~10 ms here; one chunk of a 24 M-point memory
    assert len(chunk) == 250_000
