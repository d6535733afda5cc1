"""VisaTransport keeps a session in step: after a timeout, a protocol error or an interrupt the
next exchange first brings it back, so a late reply is never taken for the next answer; and
the byte-level behaviour of drivers around it (a reading with the output off, a reading that
queued an error, a short block that queued one)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import warnings
from collections.abc import Iterator

import pytest

from benchtest.driver.testing import expected_protocol
from benchtest.driver.transport import StrayReplyWarning, VisaTransport
from benchtest.sim.testing import wait_until
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)
from instruments.keithley.k2450 import Keithley2450
from instruments.rigol.ds1000z import RigolDS1000Z

TIMEOUT = 0.3  # s


class LateInstrument:
    """A loopback TCP instrument that answers each line from `replies` (command -> (delay in
    s, reply bytes)), serving every connection in its own thread; `received` lists the lines,
    `answered` those whose reply has gone out, and `connections` counts the connections."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[float, bytes]] = {}
        self.received: list[str] = []
        self.answered: list[str] = []
        self.connections = 0
        self.got = threading.Event()  # set whenever a line arrives
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve)
        self._accept.start()

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def stop(self) -> None:
        self._stop.set()
        for thread in [self._accept, *self._threads]:
            thread.join(timeout=5)
            assert not thread.is_alive()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._converse, args=(connection,))
            self._threads.append(thread)
            thread.start()

    def _converse(self, connection: socket.socket) -> None:
        connection.settimeout(0.05)
        pending = b""
        with connection:
            while not self._stop.is_set():
                try:
                    data = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self._answer(connection, line.decode())

    def _answer(self, connection: socket.socket, command: str) -> None:
        self.received.append(command)
        self.got.set()
        delay, reply = self.replies.get(command, (0.0, b""))
        if self._stop.wait(delay) or not reply:
            return
        with contextlib.suppress(OSError):  # the client has gone: a late reply to a closed one
            connection.sendall(reply)
        self.answered.append(command)


@pytest.fixture
def instrument() -> Iterator[LateInstrument]:
    server = LateInstrument()
    yield server
    server.stop()


@pytest.fixture
def transport(instrument: LateInstrument) -> Iterator[VisaTransport]:
    visa = VisaTransport.open(instrument.resource, role="smu", timeout=TIMEOUT)
    yield visa
    visa.close()


def test_a_late_reply_is_not_taken_for_the_next_answer(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":SOURce:VOLTage?"] = (3 * TIMEOUT, b"+2.500000E+00\n")
    instrument.replies[":SOURce:VOLTage:ILIMit?"] = (0.0, b"+1.000000E-02\n")
    with pytest.raises(InstrumentTimeoutError):
        transport.query(":SOURce:VOLTage?")
    assert not transport.in_step
    wait_until(lambda: ":SOURce:VOLTage?" in instrument.answered)  # the late reply went out
    assert transport.query(":SOURce:VOLTage:ILIMit?") == "+1.000000E-02"
    assert transport.in_step and instrument.connections == 2  # back in step: a new connection


def test_an_interrupted_query_is_followed_by_a_resync(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":READ?"] = (30.0, b"+4.500000E-05\n")
    instrument.replies[":SOURce:FUNCtion?"] = (0.0, b"VOLT\n")
    instrument.got.clear()

    def interrupt() -> None:
        assert instrument.got.wait(10)  # the query has been sent: the reader is waiting
        os.kill(os.getpid(), signal.SIGINT)

    ctrl_c = threading.Thread(target=interrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also in `pytest &`
    ctrl_c.start()
    transport.timeout = 60.0
    try:
        with pytest.raises(KeyboardInterrupt):
            transport.query(":READ?")
    finally:
        ctrl_c.join()
        signal.signal(signal.SIGINT, previous)
        transport.timeout = TIMEOUT
    assert not transport.in_step
    assert transport.query(":SOURce:FUNCtion?") == "VOLT"


def test_a_block_cut_short_leaves_the_next_query_in_step(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = (0.0, b"#9000000100" + b"x" * 50)
    instrument.replies["*OPC?"] = (0.0, b"1\n")
    with pytest.raises(ProtocolError, match="header announced 100 bytes, 50 arrived"):
        transport.read_block(":WAV:DATA?")
    assert transport.query("*OPC?") == "1"


def test_a_block_header_announcing_too_much_is_refused(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = (0.0, b"#9999999999")
    transport.max_block = 1_000_000
    with pytest.raises(ProtocolError, match="announces 999999999 bytes, more than the 1000000"):
        transport.read_block(":WAV:DATA?")


def test_a_reply_that_stalls_part_way_is_a_protocol_error(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    long_reply = b"1," * 20_000  # more than one read chunk, and no terminator
    instrument.replies[":TRACe:DATA?"] = (0.0, long_reply)
    with pytest.raises(ProtocolError, match="without its termination") as info:
        transport.query(":TRACe:DATA?")
    assert info.value.command == ":TRACe:DATA?"


def test_a_reply_with_an_extra_line_is_refused_and_the_next_reading_is_its_own(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":MEASure:VOLTage:DC?"] = (0.0, b"+1.000000E+00\n+1.500000E+00\n")
    instrument.replies[":SOURce:FUNCtion?"] = (0.0, b"VOLT\n")
    with pytest.raises(ProtocolError, match="went on after its end: 14 more bytes") as info:
        transport.query(":MEASure:VOLTage:DC?")
    assert info.value.command == ":MEASure:VOLTage:DC?"
    assert not transport.in_step
    assert transport.query(":SOURce:FUNCtion?") == "VOLT"  # not the extra line


def test_bytes_no_query_asked_for_are_dropped_before_the_next_query(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies["*TRG"] = (0.0, b"+1.500000E+00\n")  # answers a command that has none
    instrument.replies[":READ?"] = (0.0, b"+2.000000E+00\n")
    transport.write("*TRG")
    wait_until(lambda: "*TRG" in instrument.answered)
    with pytest.warns(StrayReplyWarning, match=r"smu: dropped 14 bytes .* before ':READ\?'"):
        assert transport.query(":READ?") == "+2.000000E+00"
    assert transport.query(":READ?") == "+2.000000E+00"
    assert transport.in_step and instrument.connections == 1


def test_whitespace_after_a_reply_is_dropped_without_a_word(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":READ?"] = (0.0, b"+2.000000E+00\n\r\n")  # a doubled terminator
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert transport.query(":READ?") == "+2.000000E+00"
        assert transport.query(":READ?") == "+2.000000E+00"
    assert transport.in_step


def test_a_block_longer_than_its_header_says_is_refused(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = (0.0, b"#15hello\n+2.5E-01\n")  # 5 said, 15 sent
    instrument.replies["*OPC?"] = (0.0, b"1\n")
    with pytest.raises(ProtocolError, match=r"went on after its end: \d+ more bytes") as info:
        transport.read_block(":WAV:DATA?")
    received = info.value.received
    assert isinstance(received, bytes) and received.startswith(b"+2")
    assert transport.query("*OPC?") == "1"


# -- drivers around it -------------------------------------------------------------------------

ERR, OK = ":SYSTem:ERRor?", '0,"No error;0;0 0"'


def test_a_reading_with_the_output_off_is_refused_before_anything_else() -> None:
    with (
        expected_protocol(Keithley2450, [(":OUTPut:STATe?", "0")], role="smu") as smu,
        pytest.raises(InstrumentError, match=r"cannot measure current: the output is off") as info,
    ):
        smu.measure_current()
    assert info.value.role == "smu" and info.value.command == ":READ?"


def test_an_error_a_reading_queued_is_reported_against_the_reading() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),
        (':SENSe:FUNCtion "CURRent"', None),
        (ERR, OK),
        (":SENSe:CURRent:RANGe:AUTO ON", None),
        (ERR, OK),
        (":READ?", "9.91E37"),
        (ERR, '-113,"Undefined header;1;2026/01/02 10:00:00.000"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(InstrumentReportedError, match="Undefined header") as info,
    ):
        smu.measure_current()
    assert info.value.command == ":READ?" and info.value.code == -113


def test_a_short_block_with_a_queued_error_names_the_block_query() -> None:
    preamble = "0,0,1200,1,2.000000e-05,-1.456000e-02,0,4.000000e-02,-75,127"
    settings = [
        (":CHANnel1:SCALe?", "5.000000e-01"),
        (":CHANnel1:OFFSet?", "0.000000e+00"),
        (":CHANnel1:PROBe?", "1.000000e+01"),
        (":TIMebase:MAIN:SCALe?", "1.000000e-04"),
        (":ACQuire:SRATe?", "1.000000e+08"),
    ]
    conversation: list[tuple[str, str | bytes | None]] = []
    # a readout's writes are not checked one by one: its queue is read once, or on a failure
    for command in (":WAVeform:SOURce CHANnel1", ":WAVeform:MODE NORMal", ":WAVeform:FORMat BYTE"):
        conversation += [(command, None)]
    conversation += [(":WAVeform:PREamble?", preamble), *settings]
    conversation += [(":WAVeform:STARt 1", None), (":WAVeform:STOP 1200", None)]
    conversation += [
        (":WAVeform:DATA?", b""),
        (ERR, '-221,"Settings conflict"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(RigolDS1000Z, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Settings conflict") as info,
    ):
        scope.fetch_waveform(1)
    assert info.value.command == ":WAVeform:DATA?"
    assert isinstance(info.value.__cause__, ProtocolError)


def test_a_closed_transport_is_not_reopened_by_a_resync(
    instrument: LateInstrument, transport: VisaTransport
) -> None:
    instrument.replies["*IDN?"] = (3 * TIMEOUT, b"ACME,SMU\n")
    with pytest.raises(InstrumentTimeoutError):
        transport.query("*IDN?")
    transport.close()
    with pytest.raises(ConnectionLostError, match="closed"):
        transport.query("*IDN?")
    assert instrument.connections == 1
