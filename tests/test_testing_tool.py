"""expected_protocol: the scripted conversation catches unexpected commands and unused replies."""

from __future__ import annotations

import pytest

from benchtest.driver.scpi import Control, Reading, ScpiInstrument, parse_number
from benchtest.driver.testing import ScriptedTransport, expected_protocol
from benchtest.values.errors import ConnectionLostError


class Meter(ScpiInstrument):
    """A minimal declarative driver to exercise the tool."""

    driver_name = "test.meter"
    voltage_range = Control(":VOLT:RANG?", ":VOLT:RANG {value}", parser=parse_number, unit="V")
    voltage = Reading(":MEAS:VOLT?", parser=parse_number, unit="V")


def test_a_matching_conversation_passes() -> None:
    conversation = [
        (":VOLT:RANG 10", None),
        (":SYSTem:ERRor?", '+0,"No error"'),
        (":MEAS:VOLT?", "1.5"),
    ]
    with expected_protocol(Meter, conversation) as meter:
        meter.voltage_range = 10
        assert meter.voltage == 1.5


def test_an_unexpected_command_fails_with_a_diff() -> None:
    with (
        pytest.raises(AssertionError, match="unexpected command at step 1") as info,
        expected_protocol(Meter, [(":VOLT:RANG 20", None)]) as meter,
    ):
        meter.voltage_range = 10
    assert "expected: ':VOLT:RANG 20'" in str(info.value)
    assert "received: ':VOLT:RANG 10'" in str(info.value)


def test_a_command_after_the_script_ended_fails() -> None:
    with (
        pytest.raises(AssertionError, match="the script has ended"),
        expected_protocol(Meter, []) as meter,
    ):
        _ = meter.voltage


def test_unused_replies_fail_on_exit() -> None:
    conversation = [(":MEAS:VOLT?", "1.5"), (":MEAS:VOLT?", "1.6")]
    with (
        pytest.raises(AssertionError, match=r"1 scripted exchange\(s\) never happened") as info,
        expected_protocol(Meter, conversation) as meter,
    ):
        assert meter.voltage == 1.5
    assert "'1.6'" in str(info.value)


def test_a_query_scripted_as_a_write_fails() -> None:
    with (
        pytest.raises(AssertionError, match="sent with query"),
        expected_protocol(Meter, [(":MEAS:VOLT?", None)]) as meter,
    ):
        _ = meter.voltage


def test_a_scripted_exception_is_raised_to_the_driver() -> None:
    lost = ConnectionLostError("connection lost", role="dmm", command=":MEAS:VOLT?")
    with (
        expected_protocol(Meter, [(":MEAS:VOLT?", lost)]) as meter,
        pytest.raises(ConnectionLostError),
    ):
        _ = meter.voltage


def test_an_error_in_the_body_is_not_masked_by_unused_replies() -> None:
    with (
        pytest.raises(ZeroDivisionError),
        expected_protocol(Meter, [(":MEAS:VOLT?", "1.5")]),
    ):
        _ = 1 / 0


def test_scripted_transport_records_position_and_close() -> None:
    transport = ScriptedTransport([("*IDN?", "A,B,C,D")])
    assert transport.query("*IDN?") == "A,B,C,D"
    assert transport.unused == [] and transport.position == 1
    transport.close()
    assert transport.closed
