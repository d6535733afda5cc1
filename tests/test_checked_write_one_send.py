"""A checked setting on a raw socket sends its error-queue read with it: one send of two lines,
one reply; what the queue holds is still reported against the setting, and the session stays
in step after a failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_transport import LoopbackInstrument

from benchtest.driver import direct_read
from benchtest.driver.transport import VisaTransport
from benchtest.values.errors import InstrumentReportedError, InstrumentTimeoutError
from instruments.rigol.ds1000z import RigolDS1000Z

ERR = ":SYSTem:ERRor?"
NO_ERROR = b'0,"No error"\n'
SETTING = ":CHANnel1:SCALe 0.5"


@pytest.fixture
def instrument() -> Iterator[LoopbackInstrument]:
    server = LoopbackInstrument()
    yield server
    server.stop()


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What each send on a pyvisa-py socket carried."""
    sent: list[bytes] = []
    original = direct_read.DirectReader.send

    def send(self: direct_read.DirectReader, data: bytes) -> None:
        sent.append(data)
        original(self, data)

    monkeypatch.setattr(direct_read.DirectReader, "send", send)
    return sent


def scope_on(
    instrument: LoopbackInstrument, *, timeout: float = 1.0, query_delay: float = 0.0
) -> RigolDS1000Z:
    transport = VisaTransport.open(
        instrument.resource, role="scope", timeout=timeout, query_delay=query_delay
    )
    return RigolDS1000Z(transport, role="scope")


def test_a_checked_setting_and_its_error_query_go_in_one_send(
    instrument: LoopbackInstrument, sends: list[bytes]
) -> None:
    instrument.replies[ERR] = NO_ERROR
    scope = scope_on(instrument)
    try:
        scope.channel(1).scale = 0.5
    finally:
        scope.close()
    assert sends == [f"{SETTING}\n{ERR}\n".encode()]
    assert instrument.received == [SETTING, ERR]


def test_an_error_the_setting_queued_is_reported_against_it_and_the_queue_drained(
    instrument: LoopbackInstrument, sends: list[bytes]
) -> None:
    instrument.replies[ERR] = [b'-222,"Data out of range"\n', NO_ERROR]
    instrument.replies[":CHANnel1:SCALe?"] = b"1.0\n"
    scope = scope_on(instrument)
    try:
        with pytest.raises(InstrumentReportedError, match="Data out of range") as info:
            scope.channel(1).scale = 0.5
        assert scope.channel(1).scale == 1.0  # in step: the next exchange reads its own reply
    finally:
        scope.close()
    assert info.value.command == SETTING and info.value.code == -222
    assert instrument.received == [SETTING, ERR, ERR, ":CHANnel1:SCALe?"]
    assert sends[0] == f"{SETTING}\n{ERR}\n".encode() and sends[1] == f"{ERR}\n".encode()


def test_with_a_query_delay_the_setting_and_the_error_query_go_apart(
    instrument: LoopbackInstrument, sends: list[bytes]
) -> None:
    instrument.replies[ERR] = NO_ERROR
    scope = scope_on(instrument, query_delay=0.001)
    try:
        scope.channel(1).scale = 0.5
    finally:
        scope.close()
    assert sends == [f"{SETTING}\n".encode(), f"{ERR}\n".encode()]


def test_a_silent_error_queue_times_out_on_its_query_and_the_session_recovers(
    instrument: LoopbackInstrument,
) -> None:
    instrument.replies[":CHANnel1:SCALe?"] = b"0.5\n"
    scope = scope_on(instrument, timeout=0.2)
    try:
        with pytest.raises(InstrumentTimeoutError) as info:
            scope.channel(1).scale = 0.5
        assert info.value.command == ERR
        assert scope.channel(1).scale == 0.5  # reconnected: back in step
    finally:
        scope.close()
