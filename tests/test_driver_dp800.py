"""Rigol DP800 driver against scripted conversations: `:APPLy`, per-channel output and readback."""

from __future__ import annotations

import pytest

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import ProtocolError, SafetyError
from benchtest.values.ratings import NO_GUARD, Rating, SourceGuard
from instruments.capabilities import PowerSupply
from instruments.rigol.dp800 import RigolDP800

OK = '0,"No error"'
ERR = ":SYSTem:ERRor?"
GUARD = SourceGuard(
    ratings=(Rating("vin", "voltage", "V", max=6.0), Rating("iin", "current", "A", max=0.5)),
    role="psu",
)


def checked(command: str) -> list[tuple[str, str | None]]:
    return [(command, None), (ERR, OK)]


def test_provides_the_power_supply_capability() -> None:
    assert RigolDP800.capabilities == ("PowerSupply",)
    _: type[PowerSupply] = RigolDP800
    with expected_protocol(RigolDP800, []) as psu:
        assert psu.channel_count == 3


def test_set_voltage_and_current_limit() -> None:
    conversation = [*checked(":APPLy CH2,5.0"), *checked(":SOURce2:CURRent 0.1")]
    with expected_protocol(RigolDP800, conversation, guard=GUARD) as psu:
        psu.set_voltage(2, 5.0)
        psu.set_current_limit(2, 0.1)


def test_apply_sets_both_in_one_command() -> None:
    with expected_protocol(RigolDP800, checked(":APPLy CH1,3.3,0.2"), guard=GUARD) as psu:
        psu.apply(1, 3.3, 0.2)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda psu: psu.set_voltage(1, 7.0), SafetyError, "vin <= 6"),
        (lambda psu: psu.apply(1, 5.0, 0.6), SafetyError, "iin <= 0.5"),
        (lambda psu: psu.set_voltage(3, 5.5), InvalidValueError, "0 .. 5.3"),
        (lambda psu: psu.set_voltage(4, 1.0), InvalidValueError, "no output 4"),
        (lambda psu: psu.set_current_limit(1, -0.1), InvalidValueError, "-0.1"),
    ],
)
def test_refused_requests_send_nothing(call: object, error: type[Exception], words: str) -> None:
    guard = GUARD if error is SafetyError else NO_GUARD
    with expected_protocol(RigolDP800, [], guard=guard) as psu, pytest.raises(error) as info:
        call(psu)  # type: ignore[operator]
    assert words in str(info.value) and "nothing was sent" in str(info.value)


def test_outputs_switch_and_report_on_off() -> None:
    conversation = [
        *checked(":OUTPut:STATe CH3,ON"),
        (":OUTPut:STATe? CH3", "ON"),
        *checked(":OUTPut:STATe CH3,OFF"),
        (":OUTPut:STATe? CH3", "OFF"),
    ]
    with expected_protocol(RigolDP800, conversation) as psu:
        psu.output_on(3)
        assert psu.output_enabled(3) is True
        psu.output_off(3)
        assert psu.output_enabled(3) is False


def test_measure_and_settings_read_back_from_the_right() -> None:
    conversation = [
        (":MEASure:VOLTage? CH1", "5.0012"),
        (":MEASure:CURRent? CH1", "0.0450"),
        (":APPLy? CH1,VOLTage", "CH1:30V/3A,5.000"),
        (":APPLy? CH1,CURRent", "0.1000"),
    ]
    with expected_protocol(RigolDP800, conversation) as psu:
        assert psu.measure_voltage(1) == pytest.approx(5.0012)
        assert psu.measure_current(1) == pytest.approx(0.045)
        assert psu.channel(1).voltage_setpoint == 5.0
        assert psu.channel(1).current_limit == 0.1


def test_garbled_readback_names_command_and_reply() -> None:
    with (
        expected_protocol(
            RigolDP800, [(":MEASure:VOLTage? CH2", "5.0\x0012"), (ERR, OK)], role="psu"
        ) as psu,
        pytest.raises(ProtocolError) as info,
    ):
        psu.measure_voltage(2)
    assert info.value.command == ":MEASure:VOLTage? CH2" and "[psu]" in str(info.value)


def test_safe_state_turns_every_output_off_then_zeroes_them() -> None:
    conversation = [
        (":OUTPut:STATe CH1,OFF", None),
        (":OUTPut:STATe CH2,OFF", None),
        (":OUTPut:STATe CH3,OFF", None),
        (":APPLy CH1,0", None),
        (":APPLy CH2,0", None),
        (":APPLy CH3,0", None),
        (ERR, OK),
    ]
    with expected_protocol(RigolDP800, conversation) as psu:
        psu.safe_state()
