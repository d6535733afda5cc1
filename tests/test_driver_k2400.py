"""Keithley 2400 driver against scripted conversations in the classic SCPI command set."""

from __future__ import annotations

import math

import pytest

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import InstrumentReportedError, ProtocolError, SafetyError
from benchtest.values.ratings import Rating, SourceGuard
from instruments.keithley.k2400 import Keithley2400

OK = '0,"No error"'
ERR = ":SYSTem:ERRor?"
GUARD = SourceGuard(
    ratings=(
        Rating("vin", "voltage", "V", min=-0.3, max=6.0),
        Rating("iin", "current", "A", max=0.5),
    ),
    role="smu",
)


def checked(command: str) -> list[tuple[str, str | None]]:
    return [(command, None), (ERR, OK)]


def point(volts: float, amps: float) -> str:
    """One reading with the default five elements: V, I, R (not measured), time, status."""
    return f"{volts:+.6E},{amps:+.6E},+9.910000E+37,+1.234560E+01,+0.000000E+00"


def test_connect_clears_status_and_sets_the_five_elements_once() -> None:
    conversation = [
        ("*CLS", None),
        *checked(":FORMat:ELEMents VOLTage,CURRent,RESistance,TIME,STATus"),
    ]
    with expected_protocol(Keithley2400, conversation) as smu:
        smu.on_connect()


def test_identify_keeps_the_slash_separated_firmware() -> None:
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4104821,C32   Oct  4 2010 14:20:11/A02  /S/K"
    with expected_protocol(Keithley2400, [("*IDN?", idn)]) as smu:
        identity = smu.identify()
    assert identity.model == "MODEL 2400" and identity.firmware.startswith("C32")


def test_source_voltage_sets_the_compliance_as_a_sense_protection() -> None:
    conversation = [
        *checked(":SOURce:FUNCtion VOLTage"),
        *checked(":SENSe:CURRent:PROTection 0.01"),
        *checked(":SOURce:VOLTage 5.0"),
    ]
    with expected_protocol(Keithley2400, conversation, guard=GUARD) as smu:
        smu.source_voltage(5.0, current_limit=0.01)


def test_source_current_sets_the_voltage_protection() -> None:
    conversation = [
        *checked(":SOURce:FUNCtion CURRent"),
        *checked(":SENSe:VOLTage:PROTection 5.5"),
        *checked(":SOURce:CURRent 0.001"),
    ]
    with expected_protocol(Keithley2400, conversation, guard=GUARD) as smu:
        smu.source_current(0.001, voltage_limit=5.5)


def test_guard_refuses_with_nothing_sent() -> None:
    with (
        expected_protocol(Keithley2400, [], guard=GUARD) as smu,
        pytest.raises(SafetyError, match="nothing was sent"),
    ):
        smu.source_voltage(7.0, current_limit=0.01)


def test_measure_current_picks_the_current_of_the_five_elements() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),  # a reading needs the output on
        *checked(':SENSe:FUNCtion "CURRent"'),
        *checked(":SENSe:CURRent:RANGe 0.0001"),
        *checked(":SENSe:CURRent:NPLCycles 1"),
        (":READ?", point(5.0, 45e-6)),
    ]
    with expected_protocol(Keithley2400, conversation) as smu:
        assert smu.measure_current(range=1e-4, nplc=1) == pytest.approx(45e-6)


def test_measure_voltage_reads_the_first_element_and_nan_for_9_91e37() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),
        *checked(':SENSe:FUNCtion "VOLTage"'),
        *checked(":SENSe:VOLTage:RANGe:AUTO ON"),
        (":READ?", "+9.910000E+37,+1.000000E-03,+9.910000E+37,+1.0E+00,+8.0E+00"),
        (ERR, OK),  # no value: did the reading queue an error?
    ]
    with expected_protocol(Keithley2400, conversation) as smu:
        assert math.isnan(smu.measure_voltage())


def test_a_reading_with_the_wrong_element_count_is_a_protocol_error() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),
        *checked(':SENSe:FUNCtion "CURRent"'),
        *checked(":SENSe:CURRent:RANGe:AUTO ON"),
        (":READ?", "+5.000000E+00,+4.500000E-05"),
        (ERR, OK),
    ]
    with (
        expected_protocol(Keithley2400, conversation, role="smu") as smu,
        pytest.raises(ProtocolError, match="points of 5") as info,
    ):
        smu.measure_current()
    assert info.value.received == "+5.000000E+00,+4.500000E-05"


SETUP = [
    *checked(":SOURce:FUNCtion VOLTage"),
    *checked(":SENSe:CURRent:PROTection 0.01"),
    *checked(':SENSe:FUNCtion "CURRent"'),
]
FINISH = [*checked(":SOURce:VOLTage:MODE FIXed"), *checked(":TRIGger:COUNt 1")]


def test_linear_sweep_is_a_staircase_read_by_one_read() -> None:
    conversation = [
        *SETUP,
        *checked(":SOURce:VOLTage:STARt 0.0"),
        *checked(":SOURce:VOLTage:STOP 5.0"),
        *checked(":SOURce:SWEep:POINts 3"),
        *checked(":SOURce:VOLTage:MODE SWEep"),
        *checked(":TRIGger:COUNt 3"),
        (":SENSe:CURRent:NPLCycles?", "1"),  # how long the sweep takes
        *checked(":SOURce:DELay:AUTO ON"),
        *checked(":OUTPut:STATe ON"),
        (":READ?", ",".join(point(v, i) for v, i in ((0, 0), (2.5, 45e-6), (5, 45e-6)))),
        *FINISH,
    ]
    with expected_protocol(Keithley2400, conversation, guard=GUARD) as smu:
        result = smu.sweep_voltage([0.0, 2.5, 5.0], current_limit=0.01)
    assert list(result.source) == [0.0, 2.5, 5.0]
    assert list(result.measured) == pytest.approx([0.0, 45e-6, 45e-6])


def test_list_sweep_with_a_delay_uses_list_mode_in_100_value_commands() -> None:
    levels = [float(v % 7) for v in range(120)]
    text = [",".join(repr(v) for v in levels[:100]), ",".join(repr(v) for v in levels[100:])]
    conversation = [
        *SETUP,
        *checked(f":SOURce:LIST:VOLTage {text[0]}"),
        *checked(f":SOURce:LIST:VOLTage:APPend {text[1]}"),
        *checked(":SOURce:VOLTage:MODE LIST"),
        *checked(":TRIGger:COUNt 120"),
        (":SENSe:CURRent:NPLCycles?", "1"),
        *checked(":SOURce:DELay 0.01"),
        *checked(":OUTPut:STATe ON"),
        (":READ?", ",".join(point(v, 1e-6) for v in levels)),
        *FINISH,
    ]
    with expected_protocol(Keithley2400, conversation, guard=GUARD) as smu:
        result = smu.sweep_voltage(levels, current_limit=0.01, delay=0.01)
    assert list(result.source) == levels


def test_more_than_2500_points_are_refused_before_sending() -> None:
    with (
        expected_protocol(Keithley2400, []) as smu,
        pytest.raises(InvalidValueError, match="at most 2500"),
    ):
        smu.sweep_voltage([0.001 * i for i in range(2501)], current_limit=0.01)


def test_a_rejected_sweep_setting_is_reported_from_the_error_queue() -> None:
    conversation = [
        *SETUP,
        *checked(":SOURce:VOLTage:STARt 0.0"),
        *checked(":SOURce:VOLTage:STOP 5.0"),
        (":SOURce:SWEep:POINts 3", None),
        (ERR, '-221,"Settings conflict"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(Keithley2400, conversation, role="smu") as smu,
        pytest.raises(InstrumentReportedError, match="Settings conflict") as info,
    ):
        smu.sweep_voltage([0.0, 2.5, 5.0], current_limit=0.01)
    assert info.value.command == ":SOURce:SWEep:POINts 3"


def test_safe_state_output_off_then_zero() -> None:
    conversation = [
        (":OUTPut:STATe OFF", None),
        (":SOURce:FUNCtion?", "VOLT"),
        (":SOURce:VOLTage 0", None),
        (ERR, OK),
    ]
    with expected_protocol(Keithley2400, conversation) as smu:
        smu.safe_state()
