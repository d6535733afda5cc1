"""The guard fails closed, and a raw SCPI write is no way around it.

An enforced guard (every guard built from a DUT profile) refuses what it cannot check: a value
that is no finite number, a quantity no rating of the role covers. A raw `write` of a source or
limit command of the driver's own dialect, in any spelling the instrument accepts, is checked
like the declared properties; within the ratings it is sent as written. Refusals show the value
exactly as given. Each case runs against a scripted conversation that fails on any other byte.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from benchtest.config.dut import DutProfile
from benchtest.driver.dialect import SourceCommand, guard_raw, message_units
from benchtest.driver.registry import open_instrument
from benchtest.driver.testing import expected_protocol
from benchtest.sim import SimulatedBench
from benchtest.values.errors import SafetyError
from benchtest.values.ratings import NO_GUARD, Rating, SourceGuard
from instruments.keithley.k2400 import Keithley2400
from instruments.keithley.k2450 import Keithley2450
from instruments.keysight.b2900 import KeysightB2900
from instruments.rigol.dp800 import RigolDP800
from instruments.siglent.spd3303x import SiglentSPD3303X
from instruments.temptronic.ats545 import ThermoStreamATS545

REPO = Path(__file__).resolve().parent.parent
VIN = Rating("vin", "voltage", "V", min=-0.3, max=6.0, part="BT-LDO33")
IIN = Rating("iin", "current", "A", max=0.5, part="BT-LDO33")
TJ = Rating("tj", "temperature", "degC", min=-40.0, max=125.0, part="BT-LDO33")
GUARD = SourceGuard(ratings=(VIN, IIN, TJ), role="smu")
ERRORS = {ThermoStreamATS545: ("*ESR?", "0"), SiglentSPD3303X: ("SYSTem:ERRor?", "0 No error")}


def sent(driver: type[Any], command: str) -> list[tuple[str, str | None]]:
    """`command` written, then the driver's error check answered clean."""
    return [(command, None), ERRORS.get(driver, (":SYSTem:ERRor?", '0,"No error"'))]


# -- the guard itself ---------------------------------------------------------------------------


def test_a_refusal_shows_the_value_as_given_not_rounded() -> None:
    with (
        expected_protocol(Keithley2450, [], guard=GUARD) as smu,
        pytest.raises(SafetyError) as info,
    ):
        smu.source_voltage(6.000001, current_limit=0.1)
    message = str(info.value)
    assert "6.000001 V exceeds the absolute maximum rating vin <= 6 V of BT-LDO33" in message
    assert "set voltage_setpoint to 6.000001 V" in message and "[smu]" in message


def test_a_quantity_no_rating_covers_is_refused_on_an_enforced_guard() -> None:
    voltage_only = SourceGuard(ratings=(VIN,), role="load")
    with (
        expected_protocol(Keithley2450, [], guard=voltage_only) as smu,
        pytest.raises(SafetyError, match="no absolute maximum rating of current") as info,
    ):
        smu.source_current(0.01, voltage_limit=5.0)
    assert "its ratings: vin (voltage)" in str(info.value)
    assert "nothing was sent" in str(info.value)


def test_a_role_without_any_rating_sources_nothing() -> None:
    unrated = SourceGuard(ratings=(), role="psu")
    with (
        expected_protocol(RigolDP800, [], guard=unrated) as psu,
        pytest.raises(SafetyError, match=r"\[psu\] .*no absolute maximum rating of voltage"),
    ):
        psu.set_voltage(1, 1.0)


def test_safe_state_is_never_refused_by_the_guard() -> None:
    unrated = SourceGuard(ratings=(), role="smu")
    conversation = [
        (":OUTPut:STATe OFF", None),
        (":SOURce:FUNCtion?", "VOLT"),
        (":SOURce:VOLTage 0", None),
        (":SYSTem:ERRor?", '0,"No error"'),
    ]
    with expected_protocol(Keithley2450, conversation, guard=unrated) as smu:
        smu.safe_state()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "5", None, True])
def test_the_guard_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(SafetyError, match="cannot be checked"):
        GUARD.check("voltage", value, what="set the level")  # type: ignore[arg-type]


def test_no_guard_checks_nothing() -> None:
    NO_GUARD.check("voltage", 700.0)
    NO_GUARD.check("power", float("nan"))
    assert not NO_GUARD.enforced and SourceGuard().enforced


# -- raw writes ---------------------------------------------------------------------------------

REFUSED: list[tuple[type[Any], str, str]] = [
    (Keithley2450, ":SOUR:VOLT 7", "7 V exceeds"),
    (Keithley2450, ":SOURce:VOLTage:LEVel 7", "7 V exceeds"),
    (Keithley2450, "SOUR:VOLT 7", "7 V exceeds"),
    (Keithley2450, "sour:volt 7", "7 V exceeds"),
    (Keithley2450, "sour1:volt:lev:imm:ampl 7.0", "7 V exceeds"),
    (Keithley2450, ":VOLT 7", "7 V exceeds"),
    (Keithley2450, "  :SOUR:VOLT\t7", "7 V exceeds"),
    (Keithley2450, ":SOUR:VOLT 6.000001", "6.000001 V exceeds"),
    (Keithley2450, ":SOUR:VOLT -0.5", "-0.5 V is below"),
    (Keithley2450, ":SOUR:VOLT 3;CURR 0.7", "0.7 A exceeds"),
    (Keithley2450, ":OUTP OFF;:SOUR:VOLT 7", "7 V exceeds"),
    (Keithley2450, ":SOUR:VOLT:ILIM 0.7", "0.7 A exceeds"),
    (Keithley2450, ":SOURce:CURRent:VLIMit 21", "21 V exceeds"),
    (Keithley2450, ":SOUR:LIST:VOLT 1,2,7", "7 V exceeds"),
    (Keithley2450, ":SOUR:LIST:VOLT:APP 1,7", "7 V exceeds"),
    (Keithley2450, ':SOUR:SWE:VOLT:LIN 0,7,10,-1,1,BEST,OFF,OFF,"defbuffer1"', "7 V exceeds"),
    (Keithley2450, ":SOUR:VOLT MAX", "'MAX' is not a plain number"),
    (Keithley2450, ":SOUR:VOLT 7V", "'7V' is not a plain number"),
    (Keithley2450, ":SOUR:VOLT 1e999", "inf is not a finite number"),
    (Keithley2450, "*RCL 1", "*RCL loads a stored set-up"),
    (Keithley2400, ":SOUR:VOLT 7", "7 V exceeds"),
    (Keithley2400, ":SENS:CURR:PROT 0.7", "0.7 A exceeds"),
    (Keithley2400, ":CURR:PROT:LEV 0.7", "0.7 A exceeds"),
    (Keithley2400, ":SOUR:VOLT:STOP 7", "7 V exceeds"),
    (Keithley2400, ":SOURce:LIST:VOLTage 7,1,3,8,2", "8 V exceeds"),  # the highest
    (Keithley2400, ":SOUR:VOLT:TRIG 7", "7 V exceeds"),
    (KeysightB2900, "sour2:volt 7", "7 V exceeds"),
    (KeysightB2900, ":SOURce1:VOLTage:LEVel:IMMediate:AMPLitude 7", "7 V exceeds"),
    (KeysightB2900, ":SENS1:CURR:DC:PROT:LEV:POS 0.7", "0.7 A exceeds"),
    (KeysightB2900, ":MMEMory:LOAD:STATe 'setup1'", "loads a stored set-up"),
    (RigolDP800, ":APPL CH1,7,0.1", "7 V exceeds"),
    (RigolDP800, ":APPLy CH2,5,0.7", "0.7 A exceeds"),
    (RigolDP800, ":apply 7", "7 V exceeds"),
    (RigolDP800, ":APPL P25V,7", "7 V exceeds"),
    (RigolDP800, ":APPL MAX,0.1", "'MAX' is not a plain number"),
    (Keithley2450, ":SOUR:VOLT 5\n:SOUR:VOLT 7", "7 V exceeds"),
    (Keithley2450, ":SOUR:VOLT 5\nVOLT 7", "7 V exceeds"),
    (RigolDP800, ":VOLT 7", "7 V exceeds"),
    (RigolDP800, ":SOUR2:VOLT 7", "7 V exceeds"),
    (RigolDP800, ":INST:NSEL 1;:VOLT 7", "7 V exceeds"),
    (RigolDP800, ":SOUR1:CURR:TRIG 0.7", "0.7 A exceeds"),
    (SiglentSPD3303X, "CH1:VOLT 7", "7 V exceeds"),
    (SiglentSPD3303X, "ch1:voltage 7", "7 V exceeds"),
    (SiglentSPD3303X, "CH2:CURRent 0.7", "0.7 A exceeds"),
    (SiglentSPD3303X, "TIMEr:SET CH1,1,7,0.1,10", "7 V exceeds"),
    (ThermoStreamATS545, "SETP 150", "150 degC exceeds"),
    (ThermoStreamATS545, "setp -60.5", "-60.5 degC is below"),
]


@pytest.mark.parametrize(
    ("driver", "command", "words"), REFUSED, ids=[f"{d.__name__}:{c}" for d, c, _ in REFUSED]
)
def test_a_raw_source_command_beyond_the_ratings_is_refused_with_nothing_sent(
    driver: type[Any], command: str, words: str
) -> None:
    with (
        expected_protocol(driver, [], guard=GUARD) as instrument,
        pytest.raises(SafetyError) as info,
    ):
        instrument.write(command)
    message = str(info.value)
    assert words in message and "nothing was sent" in message
    assert f"send {command!r}" in message and "[smu]" in message


ALLOWED: list[tuple[type[Any], str]] = [
    (Keithley2450, ":SOUR:VOLT 5"),
    (Keithley2450, "sour:volt:ilim 0.1;:outp on"),
    (Keithley2450, ":SENS:CURR:NPLC 1"),
    (Keithley2450, ":SOUR:VOLT:RANG 20"),
    (Keithley2450, ':SOUR:SWE:VOLT:LIST 1,0.2,1,OFF,"defbuffer1"'),
    (Keithley2400, ":SOUR:LIST:VOLT 1,2,3"),
    (Keithley2400, ":SOUR:VOLT:MODE LIST"),
    (KeysightB2900, ":SENS1:CURR:PROT:NEG -0.1"),
    (RigolDP800, ":APPL CH1,5,0.1"),
    (RigolDP800, ":OUTP CH1,ON"),
    (SiglentSPD3303X, "CH1:VOLTage 3.3"),
    (ThermoStreamATS545, "SETP 85.0"),
]


@pytest.mark.parametrize(("driver", "command"), ALLOWED, ids=[c for _, c in ALLOWED])
def test_a_raw_command_within_the_ratings_is_sent_as_written(
    driver: type[Any], command: str
) -> None:
    with expected_protocol(driver, sent(driver, command), guard=GUARD) as instrument:
        instrument.write(command)


def test_a_raw_query_is_never_refused() -> None:
    conversation = [(":SOUR:VOLT? MAX", "2.1E+02")]
    with expected_protocol(Keithley2450, conversation, guard=GUARD) as smu:
        assert smu.query(":SOUR:VOLT? MAX") == "2.1E+02"
    guard_raw(":SOUR:VOLT? 7", Keithley2450.guarded_commands(), GUARD)


def test_without_a_dut_profile_raw_writes_are_sent_unchecked() -> None:
    with expected_protocol(Keithley2450, sent(Keithley2450, ":SOUR:VOLT 7")) as smu:
        smu.write(":SOUR:VOLT 7")


def test_every_declared_guarded_property_is_a_guarded_raw_command() -> None:
    for driver in (Keithley2450, Keithley2400, KeysightB2900, RigolDP800, SiglentSPD3303X):
        headers = [c.header for c in driver.guarded_commands()]
        assert any("VOLTage" in h or "APPLy" in h for h in headers), driver
    assert [c.header for c in ThermoStreamATS545.guarded_commands()] == ["SETP"]


def test_compound_commands_follow_the_scpi_path_rules() -> None:
    units = list(message_units(":SOUR:VOLT 3;CURR 0.1;*WAI;LIST:VOLT 1,2;:OUTP ON"))
    assert units == [
        (":SOUR:VOLT", ["3"]),
        (":SOUR:CURR", ["0.1"]),
        ("*WAI", []),
        (":SOUR:LIST:VOLT", ["1", "2"]),
        (":OUTP", ["ON"]),
    ]
    assert list(message_units(':SENS:FUNC "CURR;VOLT",(@1,2)')) == [
        (":SENS:FUNC", ['"CURR;VOLT"', "(@1,2)"])
    ]


def test_a_manual_notation_header_matches_long_short_and_suffixed_spellings() -> None:
    level = SourceCommand("[:SOURce[<n>]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", "voltage")
    for header in (":SOUR:VOLT", ":SOURCE2:VOLTAGE:LEV", ":VOLT:IMM:AMPL", ":SOUR1:VOLT:AMPL"):
        assert level.matches(header), header
    for header in (":SOUR:VOLT:RANG", ":SOUR:VOLTA", ":SOURC:VOLT", ":SENS:VOLT"):
        assert not level.matches(header), header


# -- end to end on the simulated bench ----------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "driver", "refused", "allowed", "event"),
    [
        ("smu", "keithley.k2450", ":SOUR:VOLT 7", "sour:volt 5", "voltage"),
        ("smu", "keysight.b2900", "SOUR1:VOLT:LEV:IMM:AMPL 7", ":sour1:volt 5", "voltage"),
        ("psu", "rigol.dp800", ":APPL CH2,7,0.1", ":APPL CH2,5,0.1", "ch2.voltage"),
    ],
)
def test_raw_writes_on_the_simulated_bench_reach_the_instrument_only_within_the_ratings(
    tmp_path: Path, role: str, driver: str, refused: str, allowed: str, event: str
) -> None:
    dut = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
    guard = dut.guard_for("smu")  # VIN's ratings, whichever instrument drives it here
    wiring = {**copy.deepcopy(dut.data), "nets": {"vin": {"role": role, "channel": 2}}}
    bench = {"schema_version": 1, "instruments": {role: {"driver": driver, "resource": "sim://x"}}}
    with (
        SimulatedBench(wiring, bench) as sim,
        open_instrument(driver, sim.addresses[role], role=role, guard=guard) as inst,
    ):
        with pytest.raises(SafetyError, match="7 V exceeds"):
            inst.write(refused)
        inst.write(allowed)
        assert [e["value"] for e in sim.journal.entries if e["event"] == event] == [5.0]
