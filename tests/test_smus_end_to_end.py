"""Every source-meter, supply and meter driver against its simulator over a real socket.

The simulated bench wires each instrument as the DUT profile's `nets` say; the drivers are
opened by registry name with the profile's guard. Bad input (garbage, silence, an error on the
queue) must end, within the timeout, in an error naming the role, the command and what arrived.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest.config.dut import DutProfile
from benchtest.driver.registry import open_instrument
from benchtest.sim import SimulatedBench
from benchtest.sim.testing import wait_until
from benchtest.values.errors import (
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
    SafetyError,
)
from instruments.siglent.spd3303x import SiglentSPD3303X

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)
SMUS = ("keithley.k2450", "keithley.k2400", "keysight.b2900")
SUPPLIES = ("rigol.dp800", "siglent.spd3303x")
FAST = {"siglent.spd3303x": {"command_interval": 0.005}}  # the default 50 ms, shortened


@contextmanager
def simulated(
    tmp_path: Path, drivers: Mapping[str, str], nets: Mapping[str, Any], **options: Any
) -> Iterator[tuple[SimulatedBench, dict[str, Any]]]:
    """Start a bench of `drivers` (role -> driver) and open each driver with its guard."""
    profile = copy.deepcopy(PROFILE)
    profile["nets"] = dict(nets)
    ratings = profile["absolute_maximum"].items()  # only those of the nets kept
    profile["absolute_maximum"] = {name: r for name, r in ratings if r["net"] in nets}
    profile.pop("recommended_operating")  # its conditions may be bound by ratings dropped here
    path = tmp_path / "ldo.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    dut = DutProfile.load(path)
    bench = {
        "schema_version": 1,
        "instruments": {r: {"driver": d, "resource": f"sim://{r}"} for r, d in drivers.items()},
    }
    with SimulatedBench(profile, bench) as sim, ExitStack() as stack:
        opened = {}
        for role, driver in drivers.items():
            settings = {**FAST.get(driver, {}), **options}
            instrument = open_instrument(
                driver, sim.addresses[role], role=role, guard=dut.guard_for(role), **settings
            )
            opened[role] = stack.enter_context(instrument)
        yield sim, opened


def smu_bench(tmp_path: Path, driver: str, **options: Any) -> Any:
    return simulated(tmp_path, {"smu": driver}, {"vin": {"role": "smu"}}, **options)


@pytest.mark.parametrize("driver", SMUS)
def test_input_sweep_shows_the_uvlo_and_the_quiescent_current(driver: str, tmp_path: Path) -> None:
    with smu_bench(tmp_path, driver) as (sim, roles):
        smu = roles["smu"]
        assert smu.identify().manufacturer.upper().startswith(("KEITHLEY", "KEYSIGHT"))
        result = smu.sweep_voltage(np.linspace(0.0, 5.5, 56), current_limit=0.01, nplc=1)
        assert len(result) == 56 and result.source[-1] == 5.5
        on = result.measured > 1e-6
        assert result.source[np.argmax(on)] == pytest.approx(2.5)  # the undervoltage lockout
        assert np.all(result.measured[~on] == 0.0)
        assert result.measured[on] == pytest.approx(45e-6, rel=0.02)
        sim.world.set_mode("sleep")
        listed = smu.sweep_voltage([5.0, 3.0, 1.0, 4.0], current_limit=0.01, delay=0.001)
        # sleeps at 5 and 3 V, off at 1 V, boots in active mode at 4 V
        assert listed.measured == pytest.approx([1.2e-6, 1.2e-6, 0.0, 45e-6], rel=0.02)


@pytest.mark.parametrize("driver", SMUS)
def test_point_by_point_sourcing_measuring_and_safe_state(driver: str, tmp_path: Path) -> None:
    with smu_bench(tmp_path, driver) as (sim, roles):
        smu = roles["smu"]
        smu.source_voltage(5.0, current_limit=0.01)
        smu.output_on()
        assert smu.output_enabled is True and sim.world.powered
        assert smu.measure_current(nplc=1) == pytest.approx(45e-6, rel=0.02)
        assert smu.measure_voltage() == 5.0
        with pytest.raises(SafetyError, match="vin <= 6"):
            smu.source_voltage(6.5, current_limit=0.01)
        swept = smu.sweep_current([0.0, 1e-3], voltage_limit=5.5)
        assert list(swept.measured) == [0.0, 5.5]  # below Iq the input collapses
        smu.safe_state()
        assert smu.output_enabled is False and not sim.world.powered


@pytest.mark.parametrize("driver", SUPPLIES)
def test_a_supply_channel_powers_the_dut_and_a_dmm_reads_its_output(
    driver: str, tmp_path: Path
) -> None:
    nets = {"vin": {"role": "psu", "channel": 2}, "vout": {"role": "dmm"}}
    drivers = {"psu": driver, "dmm": "generic.scpi_dmm"}
    with simulated(tmp_path, drivers, nets) as (sim, roles):
        psu, dmm = roles["psu"], roles["dmm"]
        assert dmm.measure_voltage_dc() == 0.0
        psu.set_current_limit(2, 0.1)
        psu.set_voltage(2, 5.0)
        psu.output_on(2)
        assert psu.output_enabled(2) and not psu.output_enabled(1)
        assert psu.measure_voltage(2) == 5.0 and sim.world.powered
        assert psu.measure_voltage(1) == 0.0  # an unconnected channel, off
        wait_until(lambda: dmm.measure_voltage_dc(nplc=1) == pytest.approx(3.3, abs=1e-3))
        with pytest.raises(SafetyError):
            psu.set_voltage(2, 6.5)
        psu.safe_state()
        assert not psu.output_enabled(2) and not sim.world.powered
        assert dmm.measure_voltage_dc(range=10.0) == 0.0


def test_open_paces_the_spd_with_its_command_interval(tmp_path: Path) -> None:
    interval = SiglentSPD3303X.command_interval
    nets = {"vin": {"role": "psu"}}
    with simulated(tmp_path, {"psu": "siglent.spd3303x"}, nets, command_interval=interval) as (
        _,
        roles,
    ):
        assert roles["psu"].transport.pacer.interval == interval == 0.05
        assert roles["psu"].output_enabled(1) is False


SOURCES = [(d, "smu", {"vin": {"role": "smu"}}) for d in SMUS] + [
    (d, "psu", {"vin": {"role": "psu", "channel": 1}}) for d in SUPPLIES
]


def read_something(instrument: Any) -> object:
    """A query whose reply must parse: a supply's voltage, an SMU's output state."""
    if hasattr(instrument, "channel_count"):
        return instrument.measure_voltage(1)
    return instrument.output_enabled


def set_something(instrument: Any) -> None:
    """A configuration write followed by the error-queue check."""
    if hasattr(instrument, "channel_count"):
        instrument.output_off(1)
    else:
        instrument.output_off()


@pytest.mark.parametrize(("driver", "role", "nets"), SOURCES)
def test_bad_input_ends_in_an_error_naming_role_command_and_reply(
    driver: str, role: str, nets: dict[str, Any], tmp_path: Path
) -> None:
    # 1 s: the replies before and after the silence must not time out on a busy machine
    with simulated(tmp_path, {role: driver}, nets, timeout=1.0) as (sim, roles):
        instrument, server = roles[role], sim.simulators[role]
        instrument.identify()  # the connection's *CLS has been handled
        server.push_error(-222, "Data out of range")
        with pytest.raises(InstrumentReportedError, match="Data out of range") as reported:
            set_something(instrument)
        assert reported.value.role == role and reported.value.code == -222
        assert reported.value.command and "Data out of range" in str(reported.value.received)

        server.inject("garbage")
        with pytest.raises(ProtocolError) as garbled:
            read_something(instrument)
        assert garbled.value.role == role and garbled.value.command
        assert b"garbled" in garbled.value.received  # type: ignore[operator]

        server.inject("silent")
        with pytest.raises(InstrumentTimeoutError, match=r"no reply within 1 s") as silent:
            read_something(instrument)
        assert silent.value.role == role and silent.value.command

        server.inject(None)
        read_something(instrument)  # the instrument answers again


def test_unknown_channel_option_and_driver_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="unknown option"):
        open_instrument("rigol.dp800", "TCPIP::127.0.0.1::1::SOCKET", channel=2)
    with smu_bench(tmp_path, "keysight.b2900", channel=1) as (_, roles):
        assert roles["smu"].channel == 1
