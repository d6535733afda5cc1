"""Every driver formats every numeric argument as an SCPI number, whatever numeric type it is.

numpy scalars (`np.float64`, `np.float32`, `np.int64`), 0-d arrays and plain Python numbers
must give the same bytes, be checked by the guard the same way, and a non-finite value (NaN,
inf) or a bool where a number belongs is refused before anything is sent. Each driver is tested
against a scripted conversation (`expected_protocol`), which fails on any other byte.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest.config.dut import DutProfile
from benchtest.driver.registry import driver_class, driver_names, open_instrument
from benchtest.driver.scpi import (
    InvalidValueError,
    ScpiInstrument,
    apply_settings,
    format_value,
)
from benchtest.driver.testing import expected_protocol
from benchtest.sim import SimulatedBench
from benchtest.values.errors import BenchtestError, SafetyError
from benchtest.values.ratings import Rating, SourceGuard
from instruments.generic.scpi_dmm import ScpiMultimeter
from instruments.keithley.k2400 import Keithley2400
from instruments.keithley.k2450 import Keithley2450
from instruments.keysight.b2900 import KeysightB2900
from instruments.rigol.dp800 import RigolDP800
from instruments.rigol.ds1000z import RigolDS1000Z
from instruments.rigol.mso5000 import RigolMSO5000
from instruments.siglent.sds1000xe import SiglentSDS1000XE
from instruments.siglent.sds2000xp import SiglentSDS2000XPlus
from instruments.siglent.spd3303x import SiglentSPD3303X
from instruments.temptronic.ats545 import ThermoStreamATS545

REPO = Path(__file__).resolve().parent.parent
Exchange = tuple[str, str | bytes | None]
Kind = Callable[[Any], Any]

FLOATS: dict[str, Kind] = {
    "float": float,
    "np.float64": np.float64,
    "np.float32": np.float32,
    "0-d array": np.array,
    "0-d float32 array": lambda v: np.array(v, dtype=np.float32),
}
INTS: dict[str, Kind] = {
    "int": int,
    "np.int64": np.int64,
    "np.int32": np.int32,
    "0-d array": np.array,
}
NOT_FINITE = [float("nan"), float("inf"), -np.inf, np.float32("nan"), np.array(np.inf)]
RATED = SourceGuard(
    ratings=(
        Rating("vin", "voltage", "V", min=-0.3, max=6.0, part="BT-LDO33"),
        Rating("iin", "current", "A", min=-0.5, max=0.5, part="BT-LDO33"),
        Rating("tj", "temperature", "degC", min=-40.0, max=125.0, part="BT-LDO33"),
    ),
    role="bench",
)


def after_each(error_query: str, clean: str) -> Callable[..., list[Exchange]]:
    """`checked(*commands)`: configuration writes, each followed by a clean error check."""

    def checked(*commands: str) -> list[Exchange]:
        return [step for command in commands for step in ((command, None), (error_query, clean))]

    return checked


SCPI = after_each(":SYSTem:ERRor?", '0,"No error"')
SPD = after_each("SYSTem:ERRor?", "0 No error")
SIGLENT_CMR = after_each("CMR?", "CMR 0")
ESR = after_each("*ESR?", "0")


# -- the one formatter --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
@pytest.mark.parametrize("value", [3.3, 0.1, 1e-06, 5e-05, 0.0001, -1.65, 1000.0, 0.0])
def test_every_float_kind_formats_as_the_python_number(kind: Kind, value: float) -> None:
    assert format_value(kind(value)) == repr(value)


@pytest.mark.parametrize("kind", INTS.values(), ids=INTS.keys())
def test_every_integer_kind_formats_as_an_integer(kind: Kind) -> None:
    assert format_value(kind(1200)) == "1200"


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
def test_a_non_finite_number_has_no_scpi_form(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_value(value)


# -- source meters -------------------------------------------------------------------------------

SOURCE_VOLTAGE = {
    Keithley2450: [":SOURce:FUNCtion VOLTage", ":SOURce:VOLTage:ILIMit 0.1", ":SOURce:VOLTage 3.3"],
    Keithley2400: [
        ":SOURce:FUNCtion VOLTage",
        ":SENSe:CURRent:PROTection 0.1",
        ":SOURce:VOLTage 3.3",
    ],
    KeysightB2900: [
        ":SOURce1:FUNCtion:MODE VOLTage",
        ":SENSe1:CURRent:PROTection 0.1",
        ":SOURce1:VOLTage 3.3",
    ],
}
SMUS = list(SOURCE_VOLTAGE)


@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_source_meter_sources_any_float_kind(driver: type[Any], kind: Kind) -> None:
    with expected_protocol(driver, SCPI(*SOURCE_VOLTAGE[driver]), guard=RATED) as smu:
        smu.source_voltage(kind(3.3), current_limit=kind(0.1))


@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_the_guard_refuses_any_float_kind_beyond_the_rating(driver: type[Any], kind: Kind) -> None:
    with (
        expected_protocol(driver, [], guard=RATED) as smu,
        pytest.raises(SafetyError, match=r"6\.5 V exceeds .* vin <= 6(\.0)? V"),
    ):
        smu.source_voltage(kind(6.5), current_limit=kind(0.1))


SOURCE_CURRENT = {
    Keithley2450: [":SOURce:FUNCtion CURRent", ":SOURce:CURRent:VLIMit 5", ":SOURce:CURRent 0"],
    Keithley2400: [":SOURce:FUNCtion CURRent", ":SENSe:VOLTage:PROTection 5", ":SOURce:CURRent 0"],
    KeysightB2900: [
        ":SOURce1:FUNCtion:MODE CURRent",
        ":SENSe1:VOLTage:PROTection 5",
        ":SOURce1:CURRent 0",
    ],
}


@pytest.mark.parametrize("kind", INTS.values(), ids=INTS.keys())
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_source_meter_sources_any_integer_kind(driver: type[Any], kind: Kind) -> None:
    with expected_protocol(driver, SCPI(*SOURCE_CURRENT[driver]), guard=RATED) as smu:
        smu.source_current(kind(0), voltage_limit=kind(5))


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_non_finite_level_is_refused_with_nothing_sent(driver: type[Any], value: Any) -> None:
    with (
        expected_protocol(driver, [], guard=RATED, role="smu") as smu,
        pytest.raises(SafetyError, match=r"not a finite number.*nothing was sent"),
    ):
        smu.source_voltage(value, current_limit=0.1)


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_non_finite_level_is_refused_without_a_guard_too(driver: type[Any], value: Any) -> None:
    with (
        expected_protocol(driver, [], role="smu") as smu,
        pytest.raises(InvalidValueError, match=r"finite.*nothing was sent"),
    ):
        smu.source_current(value, voltage_limit=1.0)


@pytest.mark.parametrize("value", [True, np.bool_(True), "3.3", None, [3.3], np.array([3.3])])
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_level_that_is_not_a_number_is_refused(driver: type[Any], value: Any) -> None:
    with expected_protocol(driver, [], guard=RATED) as smu, pytest.raises(BenchtestError):
        smu.source_voltage(value, current_limit=0.1)
    with expected_protocol(driver, []) as smu, pytest.raises(InvalidValueError):
        smu.source_voltage(value, current_limit=0.1)


SENSE = {Keithley2450: ":SENSe", Keithley2400: ":SENSe", KeysightB2900: ":SENSe1"}


@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_measure_range_and_nplc_of_any_float_kind(driver: type[Any], kind: Kind) -> None:
    sense = f"{SENSE[driver]}:VOLTage"
    conversation = SCPI(f"{sense}:RANGe 2.0", f"{sense}:NPLCycles 0.1")
    with expected_protocol(driver, conversation) as smu:
        apply_settings(smu.sense("voltage"), range=kind(2.0), nplc=kind(0.1))


def linear_sweep(driver: type[Any], stop: float) -> list[Exchange]:
    """`sweep_voltage` of 0 .. `stop` V in 3 points, 10 mA, delay 1 ms, NPLC 0.1, on `driver`."""
    middle, end = repr(stop / 2), repr(float(stop))
    if driver is Keithley2450:
        return [
            *SCPI(":SOURce:FUNCtion VOLTage", ":SOURce:VOLTage:ILIMit 0.01"),
            *SCPI(':SENSe:FUNCtion "CURRent"', ":SENSe:CURRent:NPLCycles 0.1"),
            (':TRACe:POINts? "defbuffer1"', "10000"),
            *SCPI(f':SOURce:SWEep:VOLTage:LINear 0.0,{end},3,0.001,1,BEST,OFF,OFF,"defbuffer1"'),
            (":INITiate", None),
            ("*WAI", None),
            (':TRACe:ACTual? "defbuffer1"', "3"),
            (':TRACe:DATA? 1,3,"defbuffer1",SOUR,READ', f"0,0,{middle},1E-06,{end},2E-06"),
            (":SYSTem:ERRor?", '0,"No error"'),
        ]
    if driver is Keithley2400:
        rest = ",+1E-06,+9.91E+37,+1.2E+01,+0"
        return [
            *SCPI(":SOURce:FUNCtion VOLTage", ":SENSe:CURRent:PROTection 0.01"),
            *SCPI(':SENSe:FUNCtion "CURRent"', ":SENSe:CURRent:NPLCycles 0.1"),
            *SCPI(":SOURce:VOLTage:STARt 0.0", f":SOURce:VOLTage:STOP {end}"),
            *SCPI(":SOURce:SWEep:POINts 3", ":SOURce:VOLTage:MODE SWEep", ":TRIGger:COUNt 3"),
            *SCPI(":SOURce:DELay 0.001", ":OUTPut:STATe ON"),
            (":READ?", ",".join(f"{v}{rest}" for v in ("0", middle, end))),
            *SCPI(":SOURce:VOLTage:MODE FIXed", ":TRIGger:COUNt 1"),
        ]
    return [
        *SCPI(":SOURce1:FUNCtion:MODE VOLTage", ":SENSe1:CURRent:PROTection 0.01"),
        *SCPI(':SENSe1:FUNCtion "CURRent"', ":SENSe1:CURRent:NPLCycles 0.1"),
        *SCPI(":SOURce1:VOLTage:STARt 0.0", f":SOURce1:VOLTage:STOP {end}"),
        *SCPI(":SOURce1:SWEep:POINts 3", ":SOURce1:VOLTage:MODE SWEep", ":TRIGger1:COUNt 3"),
        *SCPI(":TRIGger1:SOURce AINT", ":TRIGger1:ACQuire:DELay 0.001"),
        *SCPI(":FORMat:ELEMents:SENSe CURRent,SOURce", ":OUTPut1:STATe ON"),
        (":INITiate (@1)", None),
        ("*OPC?", "1"),
        (":FETCh:ARRay? (@1)", f"0,0,1E-06,{middle},2E-06,{end}"),
        (":SYSTem:ERRor?", '0,"No error"'),
        *SCPI(":SOURce1:VOLTage:MODE FIXed", ":TRIGger1:COUNt 1"),
    ]


LINSPACES = {
    "np.linspace": (np.linspace(0, 5, 3), 5.0),
    "float32 linspace": (np.linspace(0, 5, 3, dtype=np.float32), 5.0),
    "np.arange of int64": (np.arange(0, 5, 2, dtype=np.int64), 4.0),
    "list of numpy scalars": ([np.float32(0), np.float64(2.5), np.int64(5)], 5.0),
}


@pytest.mark.parametrize(("levels", "stop"), LINSPACES.values(), ids=LINSPACES.keys())
@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_sweep_from_linspace_just_works(
    driver: type[Any], kind: Kind, levels: Any, stop: float
) -> None:
    with expected_protocol(driver, linear_sweep(driver, stop), guard=RATED) as smu:
        result = smu.sweep_voltage(
            levels, current_limit=kind(0.01), delay=kind(1e-3), nplc=kind(0.1)
        )
    assert list(result.source) == [0.0, stop / 2, stop]


@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_float32_list_sweep_sends_the_numbers_as_written(driver: type[Any]) -> None:
    levels = np.array([1.1, 3.3, 2.2], dtype=np.float32)
    with expected_protocol(driver, [], guard=RATED) as smu:
        plan = smu._plan("voltage", levels, 0.01, None, None)
    assert plan.list_commands(":SOURce:LIST:VOLTage") == [":SOURce:LIST:VOLTage 1.1,3.3,2.2"]


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("driver", SMUS, ids=lambda d: d.driver_name)
def test_a_sweep_with_a_non_finite_argument_sends_nothing(driver: type[Any], value: Any) -> None:
    calls: list[Callable[[Any], object]] = [
        lambda smu: smu.sweep_voltage([0.0, value], current_limit=0.01),
        lambda smu: smu.sweep_voltage(np.array([0.0, value]), current_limit=0.01),
        lambda smu: smu.sweep_voltage([0.0, 1.0], current_limit=value),
        lambda smu: smu.sweep_voltage([0.0, 1.0], current_limit=0.01, delay=value),
        lambda smu: smu.sweep_voltage([0.0, 1.0], current_limit=0.01, nplc=value),
    ]
    for call in calls:
        with expected_protocol(driver, [], guard=RATED) as smu, pytest.raises(BenchtestError):
            call(smu)


# -- supplies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("integer", INTS.values(), ids=INTS.keys())
@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
def test_dp800_settings_of_any_numeric_kind(kind: Kind, integer: Kind) -> None:
    conversation = SCPI(
        ":APPLy CH1,3.3", ":SOURce2:CURRent 0.1", ":APPLy CH3,3.3,0.2", ":OUTPut:STATe CH1,ON"
    )
    with expected_protocol(RigolDP800, conversation, guard=RATED) as psu:
        psu.set_voltage(integer(1), kind(3.3))
        psu.set_current_limit(integer(2), kind(0.1))
        psu.apply(integer(3), kind(3.3), kind(0.2))
        psu.output_on(integer(1))


@pytest.mark.parametrize("integer", INTS.values(), ids=INTS.keys())
@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
def test_spd3303x_settings_of_any_numeric_kind(kind: Kind, integer: Kind) -> None:
    conversation = SPD("CH1:VOLTage 3.3", "CH2:CURRent 0.1", "OUTPut CH2,ON")
    with expected_protocol(SiglentSPD3303X, conversation, guard=RATED) as psu:
        psu.set_voltage(integer(1), kind(3.3))
        psu.set_current_limit(integer(2), kind(0.1))
        psu.output_on(integer(2))


SUPPLY_CALLS: list[Callable[[Any, Any], object]] = [
    lambda psu, v: psu.set_voltage(1, v),
    lambda psu, v: psu.set_current_limit(1, v),
]


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("driver", [RigolDP800, SiglentSPD3303X], ids=lambda d: d.driver_name)
def test_a_supply_refuses_a_non_finite_setting(driver: type[Any], value: Any) -> None:
    for call in [*SUPPLY_CALLS, lambda psu, v: psu.apply(1, v, 0.1)][
        : 3 if driver is RigolDP800 else 2
    ]:
        with expected_protocol(driver, [], guard=RATED) as psu, pytest.raises(SafetyError):
            call(psu, value)
        with expected_protocol(driver, []) as psu, pytest.raises(InvalidValueError):
            call(psu, value)


# -- oscilloscopes --------------------------------------------------------------------------------

SCOPE_SETUP = {
    RigolDS1000Z: SCPI(
        ":CHANnel2:DISPlay 1",
        ":CHANnel2:PROBe 10",
        ":CHANnel2:SCALe 0.5",
        ":CHANnel2:OFFSet -1.0",
        ":CHANnel2:COUPling DC",
        ":TIMebase:MAIN:SCALe 0.0001",
        ":TIMebase:MAIN:OFFSet 0.0002",
        ":TRIGger:MODE EDGE",
        ":TRIGger:EDGe:SOURce CHANnel2",
        ":TRIGger:EDGe:SLOPe POSitive",
        ":TRIGger:EDGe:LEVel 1.65",
        ":TRIGger:SWEep NORMal",
    ),
    RigolMSO5000: SCPI(
        ":CHANnel2:DISPlay 1",
        ":CHANnel2:PROBe 10",
        ":CHANnel2:SCALe 0.5",
        ":CHANnel2:OFFSet -1.0",
        ":CHANnel2:COUPling DC",
        ":TIMebase:MAIN:SCALe 0.0001",
        ":TIMebase:MAIN:OFFSet 0.0002",
        ":TRIGger:MODE EDGE",
        ":TRIGger:EDGe:SOURce CHANnel2",
        ":TRIGger:EDGe:SLOPe POSitive",
        ":TRIGger:EDGe:LEVel 1.65",
        ":TRIGger:SWEep NORMal",
    ),
    SiglentSDS1000XE: SIGLENT_CMR(
        "C2:TRA ON",
        "C2:ATTN 10",
        "C2:VDIV 0.5",
        "C2:OFST -1.0",
        "C2:CPL D1M",
        "TDIV 0.0001",
        "TRDL 0.0002",
        "TRSE EDGE,SR,C2,HT,OFF",
        "C2:TRSL POS",
        "C2:TRLV 1.65",
        "TRMD NORM",
    ),
    SiglentSDS2000XPlus: ESR(
        ":CHANnel2:SWITch ON",
        ":CHANnel2:PROBe VALue,10",
        ":CHANnel2:SCALe 0.5",
        ":CHANnel2:OFFSet -1.0",
        ":CHANnel2:COUPling DC",
        ":TIMebase:SCALe 0.0001",
        ":TIMebase:DELay 0.0002",
        ":TRIGger:TYPE EDGE",
        ":TRIGger:EDGE:SOURce C2",
        ":TRIGger:EDGE:SLOPe RISing",
        ":TRIGger:EDGE:LEVel 1.65",
        ":TRIGger:MODE NORMal",
    ),
}


@pytest.mark.parametrize("integer", INTS.values(), ids=INTS.keys())
@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
@pytest.mark.parametrize("driver", list(SCOPE_SETUP), ids=lambda d: d.driver_name)
def test_a_scope_is_set_up_with_any_numeric_kind(
    driver: type[Any], kind: Kind, integer: Kind
) -> None:
    with expected_protocol(driver, SCOPE_SETUP[driver]) as scope:
        scope.configure_channel(integer(2), scale=kind(0.5), offset=kind(-1.0), probe=integer(10))
        scope.configure_timebase(scale=kind(1e-4), position=kind(2e-4))
        scope.configure_edge_trigger(source=integer(2), level=kind(1.65))


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("driver", list(SCOPE_SETUP), ids=lambda d: d.driver_name)
def test_a_scope_refuses_a_non_finite_setting(driver: type[Any], value: Any) -> None:
    calls: list[Callable[[Any], object]] = [
        lambda scope: scope.configure_channel(1, scale=1.0, offset=value),
        lambda scope: scope.configure_channel(1, scale=value),
        lambda scope: scope.configure_timebase(scale=1e-3, position=value),
        lambda scope: scope.configure_edge_trigger(source=1, level=value),
    ]
    for call in calls:
        with expected_protocol(driver, []) as scope, pytest.raises(InvalidValueError):
            call(scope)


@pytest.mark.parametrize("integer", INTS.values(), ids=INTS.keys())
def test_a_point_count_of_any_integer_kind_is_a_point_count(integer: Kind) -> None:
    with expected_protocol(RigolDS1000Z, []) as scope:
        assert scope.requested_points(integer(1000)) == 1000
        for wrong in (True, 2.5, np.float64(10.0), -1, np.int64(0)):
            with pytest.raises(BenchtestError):
                scope.requested_points(wrong)


# -- meter and chamber ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
def test_a_multimeter_takes_any_float_kind(kind: Kind) -> None:
    conversation = [
        (":MEASure:VOLTage:DC? 10.0", "+3.3E+00"),
        *SCPI(":CONFigure:CURRent:DC 0.01", ":SENSe:CURRent:DC:NPLCycles 10.0"),
        (":READ?", "+4.5E-05"),
    ]
    with expected_protocol(ScpiMultimeter, conversation) as dmm:
        assert dmm.measure_voltage_dc(range=kind(10.0)) == pytest.approx(3.3)
        assert dmm.measure_current_dc(range=kind(0.01), nplc=kind(10.0)) == pytest.approx(45e-6)


@pytest.mark.parametrize("value", [*NOT_FINITE, True, "10"], ids=repr)
def test_a_multimeter_refuses_a_range_that_is_no_finite_number(value: Any) -> None:
    with expected_protocol(ScpiMultimeter, []) as dmm, pytest.raises(InvalidValueError):
        dmm.measure_voltage_dc(range=value)


@pytest.mark.parametrize("kind", FLOATS.values(), ids=FLOATS.keys())
def test_a_chamber_takes_any_float_kind(kind: Kind) -> None:
    conversation = ESR("SETN 0", "SETP 85.0", "SOAK 0.5", "FLOW 1")
    with expected_protocol(ThermoStreamATS545, conversation, guard=RATED, soak_time=0.5) as chamber:
        chamber.set_temperature(kind(85.0))


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
def test_a_chamber_refuses_a_non_finite_temperature(value: Any) -> None:
    with (
        expected_protocol(ThermoStreamATS545, [], guard=RATED) as chamber,
        pytest.raises(SafetyError, match="not a finite number"),
    ):
        chamber.set_temperature(value)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, "5", None], ids=repr)
def test_a_wait_without_a_finite_timeout_is_refused_before_it_begins(timeout: Any) -> None:
    for driver in SCOPE_SETUP:
        with expected_protocol(driver, []) as scope, pytest.raises(InvalidValueError):
            scope.wait_for_trigger(timeout=timeout)
    with (
        expected_protocol(ThermoStreamATS545, [], guard=RATED) as chamber,
        pytest.raises(InvalidValueError, match="timeout"),
    ):
        chamber.wait_until_stable(tolerance=0.5, timeout=timeout)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("integer", INTS.values(), ids=INTS.keys())
def test_a_debug_port_register_write_takes_any_integer_kind(integer: Kind) -> None:
    from test_debug_port_registers import scripted

    script = [
        ("reg write 0x03 0x90", "OK"),
        ("reg read 0x01", "0x15"),
        ("reg write 0x01 0x14", "OK"),
    ]
    with scripted(script) as uart:
        uart.write_register("VTRIM", integer(0x90))
        uart.write_field("CTRL", "MODE", integer(0))
        with pytest.raises(BenchtestError, match="refused"):
            uart.write_register("VTRIM", np.float64(1.0))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, "2"], ids=repr)
def test_a_debug_port_wait_without_a_finite_timeout_is_refused(timeout: Any) -> None:
    from test_debug_port_registers import scripted

    with scripted([]) as uart, pytest.raises(BenchtestError, match="timeout must be"):
        uart.expect("never", timeout=timeout)


def test_every_scpi_driver_is_covered_here() -> None:
    covered = {*SMUS, RigolDP800, SiglentSPD3303X, *SCOPE_SETUP, ScpiMultimeter, ThermoStreamATS545}
    # The profilers' numbers are checked with their captures (tests/test_profiler_*.py).
    profilers = ("jetperch.joulescope", "nordic.ppk2", "qoitech.otii", "sim.profiler")
    others = {driver_class(n) for n in ("serial.debug_port", *profilers)}
    scpi = {driver_class(n) for n in driver_names()} - others
    assert all(issubclass(d, ScpiInstrument) for d in scpi)
    assert scpi == covered


# -- end to end on the simulated bench ------------------------------------------------------------


@contextmanager
def simulated(tmp_path: Path, role: str, driver: str, nets: dict[str, Any]) -> Iterator[Any]:
    """One driver on the simulated bench, wired as `nets` say, opened with the LDO's guard."""
    profile = yaml.safe_load((REPO / "dut_profiles" / "bt_ldo33.yaml").read_text("utf-8"))
    profile["nets"] = nets
    profile["absolute_maximum"] = {
        name: r for name, r in profile["absolute_maximum"].items() if r["net"] in nets
    }
    profile.pop("recommended_operating")
    (tmp_path / "ldo.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    dut = DutProfile.load(tmp_path / "ldo.yaml")
    bench = {"schema_version": 1, "instruments": {role: {"driver": driver, "resource": "sim://x"}}}
    options = {"command_interval": 0.005} if driver == "siglent.spd3303x" else {}
    with (
        SimulatedBench(profile, bench) as sim,
        open_instrument(
            driver, sim.addresses[role], role=role, guard=dut.guard_for(role), **options
        ) as instrument,
    ):
        yield sim, instrument


@pytest.mark.parametrize("driver", ["keithley.k2450", "keithley.k2400", "keysight.b2900"])
def test_numpy_levels_and_sweeps_drive_the_simulated_smu(driver: str, tmp_path: Path) -> None:
    with simulated(tmp_path, "smu", driver, {"vin": {"role": "smu"}}) as (sim, smu):
        smu.source_voltage(np.float32(5.0), current_limit=np.float64(0.01))
        smu.output_on()
        assert smu.voltage_setpoint == 5.0 and sim.world.powered
        assert smu.measure_current(nplc=np.float32(1.0)) == pytest.approx(45e-6, rel=0.02)
        result = smu.sweep_voltage(
            np.linspace(0.0, 5.5, 12, dtype=np.float32), current_limit=np.array(0.01)
        )
        assert list(result.source) == [round(0.5 * i, 1) for i in range(12)]
        with pytest.raises(SafetyError, match=r"6\.5 V exceeds"):
            smu.sweep_voltage(np.linspace(0.0, 6.5, 14), current_limit=0.01)
        with pytest.raises(SafetyError, match="not a finite number"):
            smu.source_voltage(np.float64("nan"), current_limit=0.01)
        levels = [e["value"] for e in sim.journal.entries if e["event"] == "voltage"]
        assert levels and max(levels) == 5.5  # neither 6.5 V nor NaN arrived


@pytest.mark.parametrize("driver", ["rigol.dp800", "siglent.spd3303x"])
def test_numpy_settings_drive_the_simulated_supply(driver: str, tmp_path: Path) -> None:
    nets = {"vin": {"role": "psu", "channel": 2}}
    with simulated(tmp_path, "psu", driver, nets) as (sim, psu):
        psu.set_current_limit(np.int64(2), np.float32(0.1))
        psu.set_voltage(np.array(2), np.float32(5.0))
        psu.output_on(np.int32(2))
        assert psu.measure_voltage(np.int64(2)) == 5.0 and sim.world.powered
        with pytest.raises(SafetyError, match=r"6\.5 V exceeds"):
            psu.set_voltage(np.int64(2), np.float64(6.5))
        with pytest.raises(SafetyError, match="not a finite number"):
            psu.set_voltage(2, np.float32("inf"))
        levels = [e["value"] for e in sim.journal.entries if e["event"] == "ch2.voltage"]
        assert levels == [5.0]
