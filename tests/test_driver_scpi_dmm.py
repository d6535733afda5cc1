"""Generic SCPI multimeter against scripted conversations (Keysight 344xx command set)."""

from __future__ import annotations

import math

import pytest

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import InstrumentTimeoutError, ProtocolError
from instruments.capabilities import Multimeter
from instruments.generic.scpi_dmm import ScpiMultimeter

OK = '+0,"No error"'
ERR = ":SYSTem:ERRor?"


def test_provides_the_multimeter_capability() -> None:
    _: type[Multimeter] = ScpiMultimeter
    assert ScpiMultimeter.capabilities == ("Multimeter",)


def test_autoranged_reading_is_one_measure_query() -> None:
    with expected_protocol(ScpiMultimeter, [(":MEASure:VOLTage:DC? AUTO", "+3.30012E+00")]) as dmm:
        assert dmm.measure_voltage_dc() == pytest.approx(3.30012)


def test_range_and_nplc_configure_then_read() -> None:
    conversation = [
        (":CONFigure:CURRent:DC 0.01", None),
        (ERR, OK),
        (":SENSe:CURRent:DC:NPLCycles 10", None),
        (ERR, OK),
        (":READ?", "+4.5E-05"),
    ]
    with expected_protocol(ScpiMultimeter, conversation) as dmm:
        assert dmm.measure_current_dc(range=0.01, nplc=10) == pytest.approx(45e-6)


@pytest.mark.parametrize(("four_wire", "function"), [(False, "RESistance"), (True, "FRESistance")])
def test_open_terminals_overload_reads_nan(four_wire: bool, function: str) -> None:
    conversation = [(f":MEASure:{function}? 1000.0", "+9.90000000E+37")]
    with expected_protocol(ScpiMultimeter, conversation) as dmm:
        assert math.isnan(dmm.measure_resistance(range=1000.0, four_wire=four_wire))


@pytest.mark.parametrize("kwargs", [{"range": -1.0}, {"range": "10"}, {"nplc": 0.0001}])
def test_bad_settings_send_nothing(kwargs: dict[str, object]) -> None:
    with expected_protocol(ScpiMultimeter, []) as dmm, pytest.raises(InvalidValueError):
        dmm.measure_voltage_dc(**kwargs)  # type: ignore[arg-type]


def test_garbled_reading_is_a_protocol_error() -> None:
    conversation = [(":MEASure:VOLTage:DC? AUTO", "+3.3E+0O"), (ERR, OK)]
    with (
        expected_protocol(ScpiMultimeter, conversation, role="dmm") as dmm,
        pytest.raises(ProtocolError) as info,
    ):
        dmm.measure_voltage_dc()
    assert info.value.received == "+3.3E+0O" and info.value.role == "dmm"


def test_a_silent_meter_is_explained_from_its_error_queue() -> None:
    silence = InstrumentTimeoutError("no reply", role="dmm", command=":READ?")
    conversation = [
        (":CONFigure:VOLTage:DC AUTO", None),
        (ERR, OK),
        (":SENSe:VOLTage:DC:NPLCycles 1", None),
        (ERR, OK),
        (":READ?", silence),
        (ERR, OK),
    ]
    with (
        expected_protocol(ScpiMultimeter, conversation) as dmm,
        pytest.raises(InstrumentTimeoutError),
    ):
        dmm.measure_voltage_dc(nplc=1)


def test_safe_state_sends_nothing() -> None:
    with expected_protocol(ScpiMultimeter, []) as dmm:
        dmm.safe_state()
