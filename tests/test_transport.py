"""VisaTransport against a real loopback TCP instrument through pyvisa-py `::SOCKET` resources."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from benchtest.driver.transport import VisaTransport, parse_error_reply
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)

CLOSE = b"<close the connection>"
Reply = bytes | list[bytes]


class LoopbackInstrument:
    """A TCP server on 127.0.0.1 that answers each received line with scripted raw bytes.

    `replies` maps a command (without its LF) to the bytes to send, or to a list sent one per
    query (the last one repeats); a command with no reply is answered with silence, and the
    reply `CLOSE` closes the connection. Every received line is kept in `received`.
    """

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.received: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="loopback-instrument")
        self._thread.start()

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._listener.close()

    def _wait(self, sock: socket.socket) -> bool:
        readable, _, _ = select.select([sock.fileno(), self._wake_r], [], [])
        return self._wake_r not in readable

    def _serve(self) -> None:
        while self._wait(self._listener):
            connection, _ = self._listener.accept()
            with connection:
                self._converse(connection)

    def _converse(self, connection: socket.socket) -> None:
        pending = b""
        while self._wait(connection):
            try:
                data = connection.recv(65536)
            except ConnectionResetError:  # the client closed with a reply still unread
                return
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not self._answer(connection, line.decode()):
                    return

    def _answer(self, connection: socket.socket, command: str) -> bool:
        self.received.append(command)
        reply = self.replies.get(command)
        if isinstance(reply, list):
            reply = reply.pop(0) if len(reply) > 1 else reply[0]
        if reply == CLOSE:
            return False
        if reply is not None:
            connection.sendall(reply)
        return True


@pytest.fixture
def instrument() -> Iterator[LoopbackInstrument]:
    server = LoopbackInstrument()
    yield server
    server.stop()


@pytest.fixture
def transport(instrument: LoopbackInstrument) -> Iterator[VisaTransport]:
    visa = VisaTransport.open(instrument.resource, role="scope", timeout=0.5)
    yield visa
    visa.close()


def block(payload: bytes, digits: int = 9, terminators: bytes = b"\n") -> bytes:
    length = str(len(payload)).zfill(digits).encode()
    return b"#" + str(digits).encode() + length + payload + terminators


BINARY = bytes(range(256)) * 8  # contains '#', LF and CR bytes inside the payload


def test_query_strips_termination_and_write_sends_lf(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies["*IDN?"] = b"RIGOL TECHNOLOGIES,DS1104Z,DS1ZA1,00.04.04\n"
    transport.write(":RUN")
    assert transport.query("*IDN?") == "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA1,00.04.04"
    assert instrument.received == [":RUN", "*IDN?"]


@pytest.mark.parametrize("digits", [1, 4, 9])
def test_block_with_any_digit_count(
    instrument: LoopbackInstrument, transport: VisaTransport, digits: int
) -> None:
    payload = BINARY[:9] if digits == 1 else BINARY
    instrument.replies[":WAV:DATA?"] = block(payload, digits)
    instrument.replies["*OPC?"] = b"1\n"
    assert transport.read_block(":WAV:DATA?") == payload
    assert transport.query("*OPC?") == "1"  # the terminator was consumed: no desync


def test_header_echo_before_hash_and_two_terminators(instrument: LoopbackInstrument) -> None:
    instrument.replies["C1:WF? DAT2"] = b"C1:WF DAT2," + block(BINARY, terminators=b"\n\n")
    instrument.replies["*OPC?"] = b"1\n"
    visa = VisaTransport.open(instrument.resource, role="siglent", timeout=0.5, block_terminators=2)
    try:
        assert visa.read_block("C1:WF? DAT2") == BINARY
        assert visa.query("*OPC?") == "1"
    finally:
        visa.close()


def test_missing_second_terminator_is_a_protocol_error(instrument: LoopbackInstrument) -> None:
    instrument.replies["DATA?"] = block(b"abc", terminators=b"\n")
    visa = VisaTransport.open(instrument.resource, timeout=0.3, block_terminators=2)
    try:
        with pytest.raises(ProtocolError, match="expected 2 LF"):
            visa.read_block("DATA?")
    finally:
        visa.close()


def test_truncated_block_is_a_protocol_error(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = b"#9000000100" + b"x" * 50
    with pytest.raises(ProtocolError, match="header announced 100 bytes, 50 arrived") as info:
        transport.read_block(":WAV:DATA?")
    assert info.value.command == ":WAV:DATA?" and info.value.role == "scope"


def test_lying_length_header_is_a_protocol_error(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = b"#9000000010" + b"y" * 20 + b"\n"
    instrument.replies["*OPC?"] = b"1\n"
    with pytest.raises(ProtocolError, match="longer than its header"):
        transport.read_block(":WAV:DATA?")
    assert transport.query("*OPC?") == "1"  # the rest of the bad block was discarded


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"garbage\n", "expected a '#'"),
        (b"#x123\n", "digit count is not a digit"),
        (b"#9abc000012\n", "byte count is not a number"),
        (b"#0abc\n", "indefinite-length block"),
    ],
)
def test_malformed_block_header(
    instrument: LoopbackInstrument, transport: VisaTransport, reply: bytes, words: str
) -> None:
    instrument.replies[":WAV:DATA?"] = reply
    with pytest.raises(ProtocolError, match=words) as info:
        transport.read_block(":WAV:DATA?")
    assert isinstance(info.value.received, bytes) and info.value.received[:2] == reply[:2]


def test_large_block_is_read_quickly(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    payload = BINARY * 4096  # 8 MiB
    instrument.replies[":WAV:DATA?"] = block(payload)
    started = time.perf_counter()
    assert transport.read_block(":WAV:DATA?") == payload
    assert time.perf_counter() - started < 2.0  # exact-count reads, no term-char scanning


def test_silence_is_a_timeout_naming_role_and_command(transport: VisaTransport) -> None:
    with pytest.raises(InstrumentTimeoutError, match=r"\[scope\].*:MEAS:ITEM\? VPP"):
        transport.query(":MEAS:ITEM? VPP,CHAN1")
    with pytest.raises(InstrumentTimeoutError):
        transport.read_block(":WAV:DATA?")


def test_connection_closed_by_instrument(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies["*IDN?"] = CLOSE
    with pytest.raises(ConnectionLostError, match="closed by the instrument"):
        transport.query("*IDN?")


def test_use_after_close_is_a_lost_connection(transport: VisaTransport) -> None:
    transport.close()
    with pytest.raises(ConnectionLostError, match="closed"):
        transport.write(":RUN")


def test_unreachable_resource() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionLostError, match="cannot open"):
        VisaTransport.open(f"TCPIP::127.0.0.1::{port}::SOCKET", role="smu", timeout=0.5)


def test_check_errors_drains_the_queue(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":SYSTem:ERRor?"] = [
        b'-222,"Data out of range"\n',
        b'-113,"Undefined header"\n',
        b'+0,"No error"\n',
    ]
    with pytest.raises(InstrumentReportedError, match="Undefined header") as info:
        transport.check_errors(after=":CHAN1:SCAL 99")
    assert info.value.code == -222 and info.value.command == ":CHAN1:SCAL 99"
    assert instrument.received.count(":SYSTem:ERRor?") == 3
    transport.check_errors()  # now empty: no error


def test_error_queue_that_never_empties(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":SYSTem:ERRor?"] = b'-350,"Queue overflow"\n'
    with pytest.raises(ProtocolError, match="not empty after 64 reads"):
        transport.check_errors()


@pytest.mark.parametrize(
    ("reply", "code", "message"),
    [
        ('-222,"Data out of range"', -222, "Data out of range"),
        ('+0,"No error"', 0, "No error"),
        ('-221,"Settings conflict;1;2026/01/02 10:00:00.000"', -221, "Settings conflict"),
        ('0,"No error;0;0 0"', 0, "No error"),
        ("-100 Command error", -100, "Command error"),
        ('-109,"Missing parameter;1,1367794863,384492889"', -109, "Missing parameter"),
        ("-113", -113, ""),
    ],
)
def test_error_reply_formats(reply: str, code: int, message: str) -> None:
    assert parse_error_reply(reply) == (code, message)


@pytest.mark.parametrize("reply", ["", "No error", "abc,def"])
def test_garbled_error_reply(reply: str) -> None:
    with pytest.raises(ValueError, match="not an error-queue reply"):
        parse_error_reply(reply)
