"""The SCPI server base of the simulated bench: header patterns, dispatch, error queue, shutdown."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from benchtest.sim.server.scpi import Request, header_regex, in_range, parse_float
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.testing import visa_session


class Dial(ScpiServer):
    """A minimal instrument: one numeric setting with a range."""

    identity = "BENCHTEST,DIAL,1,0.1"

    def register(self) -> None:
        self.level = 0.0
        self.setting(":SOURce[1]:VOLTage[:LEVel]", lambda r: f"{self.level:g}", self._set)
        self.command(":CHANnel<n>:NAME?", lambda r: f"CH{r.suffix()}")

    def _set(self, request: Request) -> None:
        self.level = in_range(parse_float(request.arg()), -10, 10)


@pytest.fixture
def dial() -> Iterator[Dial]:
    with Dial(role="dial") as server:
        yield server


@pytest.mark.parametrize(
    "header",
    [":SOURce:VOLTage:ILIMit", ":SOUR:VOLT:ILIM", "SOUR:VOLT:ILIM", ":source:voltage:ilimit",
     ":SOUR1:VOLT:LEV:ILIM", ":SOURCE:VOLTAGE:LEVEL:ILIMIT"],
)  # fmt: skip
def test_header_pattern_accepts_short_long_and_optional_forms(header: str) -> None:
    assert header_regex(":SOURce[1]:VOLTage[:LEVel]:ILIMit").fullmatch(header)


@pytest.mark.parametrize(
    "header", [":SOURC:VOLT:ILIM", ":SOUR:VOLT", ":SOUR:VOLT:ILIM?", ":SOUR2:VOLT:ILIM"]
)
def test_header_pattern_rejects_other_headers(header: str) -> None:
    assert header_regex(":SOURce[1]:VOLTage[:LEVel]:ILIMit").fullmatch(header) is None


def test_header_pattern_captures_numeric_suffix() -> None:
    match = header_regex(":CHANnel<n>:SCALe?").fullmatch(":chan3:scal?")
    assert match is not None and match.group(1) == "3"


def test_identity_and_settings_over_pyvisa(dial: Dial) -> None:
    with visa_session(dial.address) as inst:
        assert inst.query("*IDN?") == "BENCHTEST,DIAL,1,0.1"
        inst.write(":SOURCE:VOLTAGE:LEVEL 2.5")
        assert inst.query("sour:volt?") == "2.5"
        assert inst.query(":CHAN4:NAME?") == "CH4"
        assert inst.query("*OPC?") == "1"


def test_compound_line_replies_joined_with_semicolon(dial: Dial) -> None:
    with visa_session(dial.address) as inst:
        assert inst.query(":SOUR:VOLT 1;:SOUR:VOLT?;*OPC?") == "1;1"


def test_error_queue_is_fifo_and_reports_no_error_when_empty(dial: Dial) -> None:
    with visa_session(dial.address) as inst:
        inst.write(":BOGus:COMMand 1")
        inst.write(":SOUR:VOLT 11")
        inst.write(":SOUR:VOLT")
        assert inst.query(":SYST:ERR?") == '-113,"Undefined header"'
        assert inst.query(":SYSTEM:ERROR:NEXT?") == '-222,"Data out of range"'
        assert inst.query(":SYST:ERR?") == '-109,"Missing parameter"'
        assert inst.query(":SYST:ERR?") == '0,"No error"'
        assert inst.query(":SOUR:VOLT?") == "0"  # the rejected values changed nothing


def test_error_queue_overflow_and_event_status_register(dial: Dial) -> None:
    for _ in range(30):
        dial.handle_line(":NOPE")
    dial.handle_line(":SOUR:VOLT 99")
    assert dial.handle_line("*ESR?") == [str(0x20 | 0x10)]  # command error + execution error
    assert dial.handle_line("*ESR?") == ["0"]  # reading cleared it
    errors = [dial.next_error() for _ in range(21)]
    assert errors[-2] == '-350,"Queue overflow"'
    assert errors[-1] == '0,"No error"'
    dial.handle_line(":NOPE;*CLS")
    assert dial.handle_line(":SYST:ERR?") == ['0,"No error"']


def test_stop_closes_clients_and_joins_every_thread() -> None:
    before = set(threading.enumerate())
    server = Dial(role="dial")
    server.start()
    client = socket.create_connection(("127.0.0.1", server.port), timeout=2)
    client.sendall(b"*IDN?\n")
    assert client.recv(100) == b"BENCHTEST,DIAL,1,0.1\n"
    server.stop()
    assert client.recv(100) == b""  # the server closed the connection
    client.close()
    assert set(threading.enumerate()) == before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
