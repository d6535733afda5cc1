"""The ThermoStream driver against its simulator: a first-order thermal lag the DUT follows."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchtest import SafetyError, open_instrument
from benchtest.config.dut import DutProfile
from benchtest.sim import SimulatedBench
from benchtest.values.errors import InstrumentReportedError
from instruments.temptronic.ats545 import ThermoStreamATS545

REPO = Path(__file__).resolve().parents[1]
DUT = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
TAU = 0.5  # s, slow enough to watch the approach


def bench(time_constant: float) -> dict[str, Any]:
    resource = f"sim://chamber?time_constant={time_constant}"
    return {
        "schema_version": 1,
        "instruments": {
            "chamber": {"driver": "temptronic.ats545", "resource": resource},
            "smu": {"driver": "keithley.k2450", "resource": "sim://smu"},
            "dmm": {"driver": "generic.scpi_dmm", "resource": "sim://dmm"},
        },
    }


@pytest.fixture
def simulated(request: pytest.FixtureRequest) -> Iterator[SimulatedBench]:
    tau = getattr(request, "param", TAU)
    with SimulatedBench(dict(DUT.data), bench(tau)) as sim:
        yield sim


def chamber_of(sim: SimulatedBench, **options: Any) -> ThermoStreamATS545:
    chamber = open_instrument(
        "temptronic.ats545",
        sim.addresses["chamber"],
        role="chamber",
        guard=DUT.guard_for("chamber"),
        **{"soak_time": 0.05, "poll_interval": 0.01, **options},
    )
    assert isinstance(chamber, ThermoStreamATS545)
    return chamber


def test_the_dut_approaches_the_setpoint_with_the_time_constant(simulated: SimulatedBench) -> None:
    with chamber_of(simulated) as chamber:
        started = time.monotonic()
        chamber.set_temperature(85.0)
        assert chamber.condition == 2  # not at temperature yet (asked at once, not after a sleep)
        time.sleep(TAU)
        reading = chamber.temperature
        elapsed = time.monotonic() - started
        expected = 85.0 - 60.0 * math.exp(-elapsed / TAU)
        assert reading == pytest.approx(expected, abs=60.0 * (elapsed - TAU) / TAU + 0.2)
        settled = chamber.wait_until_stable(tolerance=0.5, timeout=10.0)
        assert abs(settled - 85.0) <= 0.5
        assert chamber.condition == 1


@pytest.mark.parametrize("simulated", [0.02], indirect=True)
def test_the_part_in_the_chamber_follows_its_temperature(simulated: SimulatedBench) -> None:
    smu = open_instrument("keithley.k2450", simulated.addresses["smu"], role="smu")
    dmm = open_instrument("generic.scpi_dmm", simulated.addresses["dmm"], role="dmm")
    with chamber_of(simulated) as chamber, smu, dmm:
        chamber.set_temperature(125.0)
        chamber.wait_until_stable(tolerance=0.1, timeout=10.0)
        smu.source_voltage(5.0, current_limit=0.1)
        smu.output_on()
        time.sleep(0.01)
        tempco = DUT.model["tempco"]["vout_nominal"]["relative"]
        expected = 3.3 * (1 + tempco * (simulated.world.temperature() - 25.0))
        assert dmm.measure_voltage_dc() == pytest.approx(expected, abs=1e-5)


def test_the_dut_rating_is_guarded(simulated: SimulatedBench) -> None:
    with chamber_of(simulated) as chamber:
        with pytest.raises(SafetyError, match=r"tj <= 125 degC of BT-LDO33"):
            chamber.set_temperature(150.0)
        assert chamber.condition == 0  # nothing was sent: the flow is still off


def test_a_setpoint_beyond_the_air_limit_is_an_execution_error(simulated: SimulatedBench) -> None:
    with (
        open_instrument("temptronic.ats545", simulated.addresses["chamber"]) as chamber,
        pytest.raises(InstrumentReportedError, match=r"execution error \(\*ESR\? 16\)"),
    ):
        chamber.set_temperature(224.0)  # above the upper air limit ULIM (220 degC)


@pytest.mark.parametrize("simulated", [0.02], indirect=True)
def test_safe_state_stops_the_flow_and_the_dut_drifts_back_to_room(
    simulated: SimulatedBench,
) -> None:
    with chamber_of(simulated) as chamber:
        chamber.set_temperature(-40.0)
        chamber.wait_until_stable(tolerance=0.5, timeout=10.0)
        chamber.safe_state()
        assert (chamber.condition, chamber.setpoint_number) == (0, 1)
        time.sleep(0.5)  # ten time constants with the flow off (it rests ten times slower)
        assert -40.0 < chamber.temperature < 25.0
