"""The simulated Keithley 2450 over a real PyVISA socket: its native SCPI dialect and the DUT."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.sim import Journal, LdoModel, World
from benchtest.sim.simulators.keithley2450 import Keithley2450
from benchtest.sim.testing import visa_session

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)
ERROR_2450 = re.compile(r'^(-?\d+),"([^;"]*);1;\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}"$')


def simulated_smu(profile: dict[str, Any], journal: Journal | None = None) -> Keithley2450:
    return Keithley2450(World(LdoModel.from_mapping(profile["model"])), journal=journal)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def smu(journal: Journal) -> Iterator[Any]:
    with simulated_smu(PROFILE, journal) as server, visa_session(server.address) as inst:
        yield inst


def power_dut(inst: Any, volts: float = 5.0) -> None:
    inst.write(":SOUR:FUNC VOLT")
    inst.write(f":SOUR:VOLT {volts}")
    inst.write(":SOUR:VOLT:ILIM 0.01")
    inst.write(':SENS:FUNC "CURR"')
    inst.write(":OUTP ON")
    assert inst.query("*OPC?") == "1"  # all of the above has been applied


def test_identity_and_language(smu: Any) -> None:
    assert smu.query("*IDN?") == "KEITHLEY INSTRUMENTS INC.,MODEL 2450,04412345,1.7.3c"
    assert smu.query("*LANG?") == "SCPI"


def test_long_and_short_forms_reach_the_same_setting(smu: Any) -> None:
    smu.write(":SOURCE1:VOLTAGE:LEVEL:IMMEDIATE:AMPLITUDE 1.25")
    assert smu.query(":sour:volt?") == "1.250000E+00"
    smu.write("SOUR:VOLT:ILIM 2.5e-3")
    assert smu.query(":SOURce:VOLTage:ILIMit?") == "2.500000E-03"
    smu.write(":SOURce:FUNCtion CURRent")
    assert smu.query(":SOUR:FUNC?") == "CURR"
    smu.write(":SOUR:CURR:VLIM 6")
    assert smu.query(":SOURCE:CURRENT:VLIMIT?") == "6.000000E+00"
    smu.write(":SENSe:FUNCtion 'VOLTage'")
    assert smu.query(":SENS:FUNC?") == '"VOLT:DC"'
    smu.write(":SENS:CURR:NPLC 0.5")
    assert smu.query(":SENSE:CURRENT:DC:NPLCYCLES?") == "5.000000E-01"
    assert smu.query(":SYST:ERR?") == '0,"No error;0;0 0"'


@pytest.mark.parametrize(
    "command",
    [":SOUR:VOLT 210.5", ":SOUR:CURR -1.1", ":SOUR:VOLT:ILIM 2", ":SENS:CURR:NPLC 20",
     ":SENS:CURR:NPLC 0.001", ":SENS:CURR:RANG 5"],
)  # fmt: skip
def test_out_of_range_values_are_refused_with_222(smu: Any, command: str) -> None:
    smu.write(command)
    match = ERROR_2450.match(smu.query(":SYST:ERR:NEXT?"))
    assert match is not None and match.groups() == ("-222", "Data out of range")
    assert smu.query(":SYST:ERR?") == '0,"No error;0;0 0"'


def test_unknown_header_and_unquoted_sense_function_are_errors(smu: Any) -> None:
    smu.write(":SOUR:VOLT:BOGUS 1")
    smu.write(":SENS:FUNC CURR")
    first, second = smu.query(":SYST:ERR?"), smu.query(":SYST:ERR?")
    assert ERROR_2450.match(first) and first.startswith('-113,"Undefined header;')
    assert ERROR_2450.match(second) and second.startswith('-104,"Data type error;')


def test_output_state_defaults_off_and_is_journaled(smu: Any, journal: Journal) -> None:
    assert smu.query(":OUTP?") == "0"
    smu.write(":OUTPut:STATe ON")
    assert smu.query(":OUTP:STAT?") == "1"
    smu.write(":OUTP 0")
    assert smu.query(":OUTP?") == "0"
    outputs = [e["value"] for e in journal.entries if e["event"] == "output"]
    assert outputs == [True, False]
    assert all(e["role"] == "smu" for e in journal.entries if e["event"] == "output")


def test_current_reading_follows_the_dut_mode(smu: Any) -> None:
    assert float(smu.query(":READ?")) == 0.0  # output off: nothing flows
    power_dut(smu)
    assert float(smu.query(":READ?")) == pytest.approx(45e-6, rel=0.02)


@pytest.mark.parametrize("iq_sleep", [1.2e-6, 3.3e-6, 15e-6])
def test_sleep_current_follows_the_profile(iq_sleep: float) -> None:
    profile = copy.deepcopy(PROFILE)
    profile["model"]["iq_sleep"] = iq_sleep
    with simulated_smu(profile) as server, visa_session(server.address) as inst:
        power_dut(inst)
        server.world.set_mode("sleep")
        reading = inst.query(":READ?")
        assert re.fullmatch(r"-?\d\.\d{6}E[+-]\d\d", reading)
        assert float(reading) == pytest.approx(iq_sleep, rel=0.02)
        assert float(inst.query(':READ? "defbuffer1", SOUR')) == 5.0


def test_voltage_reading_is_the_sourced_voltage(smu: Any) -> None:
    power_dut(smu, 4.2)
    assert float(smu.query(":MEAS:VOLT?")) == 4.2
    assert smu.query(":SENS:FUNC?") == '"VOLT:DC"'  # :MEASure leaves the function changed


def test_current_limit_clamps_the_reading_and_trips(smu: Any) -> None:
    power_dut(smu)
    smu.write(":SOUR:VOLT:ILIM 10e-6")
    assert float(smu.query(":READ?")) == pytest.approx(10e-6)
    assert smu.query(":SOUR:VOLT:ILIM:TRIP?") == "1"


def test_fixed_range_overflow_reads_9_9e37(smu: Any) -> None:
    power_dut(smu)
    smu.write(":SENS:CURR:RANG 10e-6")
    assert smu.query(":SENS:CURR:RANG:AUTO?") == "0"
    assert float(smu.query(":READ?")) == 9.9e37


def test_a_sweep_longer_than_defbuffer1_keeps_only_its_newest_readings(smu: Any) -> None:
    """defbuffer1 fills continuously: a sweep beyond its capacity overwrites its first readings."""
    assert smu.query(':TRAC:POIN? "defbuffer1"') == "10000"  # the capacity after a reset
    power_dut(smu, 1.0)
    smu.write(':TRAC:POIN 2,"defbuffer1"')
    smu.write(':SOUR:SWE:VOLT:LIN 1,3,3,0,1,BEST,OFF,OFF,"defbuffer1"')
    smu.write(":INIT")
    smu.write("*WAI")
    assert smu.query(':TRAC:ACT? "defbuffer1"') == "2"
    sources = smu.query(':TRAC:DATA? 1,2,"defbuffer1",SOUR').split(",")
    assert [float(v) for v in sources] == [2.0, 3.0]
    assert smu.query(":SYST:ERR?") == '0,"No error;0;0 0"'
