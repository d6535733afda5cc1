"""Keysight B2900 driver against scripted conversations: channel-numbered SCPI, FETCh sweeps."""

from __future__ import annotations

import math

import pytest

from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import InstrumentError, InstrumentReportedError, SafetyError
from benchtest.values.ratings import Rating, SourceGuard
from instruments.keysight.b2900 import KeysightB2900

OK = '+0,"No error"'
ERR = ":SYSTem:ERRor?"
GUARD = SourceGuard(
    ratings=(
        Rating("vin", "voltage", "V", min=-0.3, max=6.0),
        Rating("iin", "current", "A", min=-0.5, max=0.5),
    ),
    role="smu",
)


def checked(command: str) -> list[tuple[str, str | None]]:
    return [(command, None), (ERR, OK)]


def test_commands_carry_the_channel_number() -> None:
    conversation = [
        *checked(":SOURce2:FUNCtion:MODE VOLTage"),
        *checked(":SENSe2:CURRent:PROTection 0.01"),
        *checked(":SOURce2:VOLTage 3.3"),
        *checked(":OUTPut2:STATe ON"),
        (":OUTPut2:STATe?", "1"),
    ]
    with expected_protocol(KeysightB2900, conversation, guard=GUARD, channel=2) as smu:
        smu.source_voltage(3.3, current_limit=0.01)
        smu.output_on()
        assert smu.output_enabled is True


def test_channel_three_does_not_exist() -> None:
    with (
        pytest.raises(InstrumentError, match="channels 1 and 2"),
        expected_protocol(KeysightB2900, [], channel=3),
    ):
        pass


def test_spot_measurement_with_channel_list_and_not_a_number() -> None:
    conversation = [
        (":OUTPut1:STATe?", "1"),  # a reading needs the output on
        *checked(':SENSe1:FUNCtion "CURRent"'),
        *checked(":SENSe1:CURRent:RANGe:AUTO ON"),
        *checked(":SENSe1:CURRent:NPLCycles 0.001"),
        (":MEASure:CURRent? (@1)", "+9.910000E+37"),
        (ERR, OK),  # not a number: did the reading queue an error?
    ]
    with expected_protocol(KeysightB2900, conversation) as smu:
        assert math.isnan(smu.measure_current(nplc=0.001))


def test_source_current_with_voltage_protection() -> None:
    conversation = [
        *checked(":SOURce1:FUNCtion:MODE CURRent"),
        *checked(":SENSe1:VOLTage:PROTection 5.5"),
        *checked(":SOURce1:CURRent 0.002"),
    ]
    with expected_protocol(KeysightB2900, conversation) as smu:
        smu.source_current(2e-3, voltage_limit=5.5)


SETUP = [
    *checked(":SOURce1:FUNCtion:MODE VOLTage"),
    *checked(":SENSe1:CURRent:PROTection 0.01"),
    *checked(':SENSe1:FUNCtion "CURRent"'),
]


def acquire(
    delay: list[tuple[str, str | None]], points: int, reply: str
) -> list[tuple[str, str | None]]:
    return [
        *checked(f":TRIGger1:COUNt {points}"),
        (":SENSe1:CURRent:NPLCycles?", "1"),  # how long the sweep takes
        *checked(":TRIGger1:SOURce AINT"),
        *delay,
        *checked(":FORMat:ELEMents:SENSe CURRent,SOURce"),
        *checked(":OUTPut1:STATe ON"),
        (":INITiate (@1)", None),
        ("*OPC?", "1"),
        (":FETCh:ARRay? (@1)", reply),
        (ERR, OK),
        *checked(":SOURce1:VOLTage:MODE FIXed"),
        *checked(":TRIGger1:COUNt 1"),
    ]


def test_linear_sweep_runs_on_aint_triggers_and_is_fetched_once() -> None:
    conversation = [
        *SETUP,
        *checked(":SOURce1:VOLTage:STARt 0.0"),
        *checked(":SOURce1:VOLTage:STOP 5.5"),
        *checked(":SOURce1:SWEep:POINts 2"),
        *checked(":SOURce1:VOLTage:MODE SWEep"),
        *acquire(
            checked(":TRIGger1:ACQuire:DELay 0.001"), 2, "+0.0E+00,+0.0E+00,+4.5E-05,+5.5E+00"
        ),
    ]
    with expected_protocol(KeysightB2900, conversation, guard=GUARD) as smu:
        result = smu.sweep_voltage([0.0, 5.5], current_limit=0.01, delay=0.001)
    assert list(result.source) == [0.0, 5.5] and list(result.measured) == [0.0, 4.5e-05]


def test_list_sweep() -> None:
    conversation = [
        *SETUP,
        *checked(":SOURce1:LIST:VOLTage 1.0,5.0,2.0"),
        *checked(":SOURce1:VOLTage:MODE LIST"),
        *acquire([], 3, "+0,+1,+1E-6,+5,+0,+2"),
    ]
    with expected_protocol(KeysightB2900, conversation, guard=GUARD) as smu:
        result = smu.sweep_voltage([1.0, 5.0, 2.0], current_limit=0.01)
    assert list(result.source) == [1.0, 5.0, 2.0]


def test_sweep_guard_refuses_with_nothing_sent() -> None:
    with (
        expected_protocol(KeysightB2900, [], guard=GUARD) as smu,
        pytest.raises(SafetyError, match="vin <= 6"),
    ):
        smu.sweep_voltage([0.0, 1.0, 2.0, 9.0], current_limit=0.01)


def test_an_error_during_the_sweep_is_reported_after_the_fetch() -> None:
    conversation = [
        *SETUP,
        *checked(":SOURce1:LIST:VOLTage 1.0,2.0,4.0"),
        *checked(":SOURce1:VOLTage:MODE LIST"),
        *acquire([], 3, "+0,+1,+0,+2,+0,+4")[:-5],
        (ERR, '-230,"Data corrupt or stale"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(KeysightB2900, conversation, role="smu") as smu,
        pytest.raises(InstrumentReportedError, match="Data corrupt") as info,
    ):
        smu.sweep_voltage([1.0, 2.0, 4.0], current_limit=0.01)
    assert info.value.command == ":INITiate (@1)" and info.value.role == "smu"


def test_safe_state_on_channel_two() -> None:
    conversation = [
        (":OUTPut2:STATe OFF", None),
        (":SOURce2:FUNCtion:MODE?", "CURR"),
        (":SOURce2:CURRent 0", None),
        (ERR, OK),
    ]
    with expected_protocol(KeysightB2900, conversation, channel=2) as smu:
        smu.safe_state()
