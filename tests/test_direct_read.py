"""The exchange on a pyvisa-py SOCKET session, read straight from its socket (`DirectReader`):
what it asks of the line (the read timeout set only when it changes, a block's terminators
taken with the end of its payload) and that the shortcuts keep every promise: a changed timeout
holds at once, terminators or a header that arrive late are still read, and a session switched
to PyVISA's reads (or back) goes on in step."""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from test_transport import BINARY, LoopbackInstrument, block

from benchtest.driver.transport import VisaTransport
from benchtest.values.errors import InstrumentReportedError, InstrumentTimeoutError, ProtocolError

TIMEOUT = 1.5  # s: the 0.2 s timeouts below are told from it with room for a busy machine
PAUSE = 0.05  # s between the pieces of a reply that arrives in parts
SCATTER = hasattr(socket.socket, "recvmsg_into")


class CountingSocket(socket.socket):
    """A session's socket (the same file descriptor) that counts the calls made on it and
    keeps every read timeout (SO_RCVTIMEO, in s) set on it."""

    def __init__(self, original: socket.socket) -> None:
        family, kind, proto = original.family, original.type, original.proto
        super().__init__(family, kind, proto, fileno=original.detach())
        self.calls: Counter[str] = Counter()
        self.timeouts: list[float] = []

    def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
        if (level, option) == (socket.SOL_SOCKET, socket.SO_RCVTIMEO):
            seconds, micros = struct.unpack("@ll", value)
            self.timeouts.append(seconds + micros / 1e6)
        super().setsockopt(level, option, value, *rest)

    def sendall(self, *args: Any) -> None:
        self.calls["sendall"] += 1
        super().sendall(*args)

    def recv(self, *args: Any) -> bytes:
        self.calls["recv"] += 1
        return super().recv(*args)

    def recv_into(self, *args: Any) -> int:
        self.calls["recv_into"] += 1
        return super().recv_into(*args)

    def recvmsg_into(self, *args: Any) -> Any:
        self.calls["recvmsg_into"] += 1
        return super().recvmsg_into(*args)


def counted(transport: VisaTransport) -> CountingSocket:
    """Put a CountingSocket in place of the socket of `transport`'s pyvisa-py session."""
    resource = transport._resource
    session = resource.visalib.sessions[resource.session]
    session.interface = CountingSocket(session.interface)
    return session.interface  # type: ignore[no-any-return]


class PausingInstrument(LoopbackInstrument):
    """A LoopbackInstrument that can also send a reply in `pieces` (command -> the parts, each
    sent `pause` s after the one before, PAUSE unless set)."""

    def __init__(self) -> None:
        self.pieces: dict[str, list[bytes]] = {}
        self.pause = PAUSE
        super().__init__()

    def _answer(self, connection: socket.socket, command: str) -> bool:
        parts = self.pieces.get(command)
        if parts is None:
            return super()._answer(connection, command)
        self.received.append(command)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index, part in enumerate(parts):
            if index:
                time.sleep(self.pause)
            connection.sendall(part)
        return True


@pytest.fixture
def instrument() -> Iterator[PausingInstrument]:
    server = PausingInstrument()
    server.replies["*OPC?"] = b"1\n"
    yield server
    server.stop()


@pytest.fixture
def transport(instrument: PausingInstrument) -> Iterator[VisaTransport]:
    visa = VisaTransport.open(instrument.resource, role="scope", timeout=TIMEOUT)
    yield visa
    visa.close()


def test_the_read_timeout_is_set_on_the_socket_only_when_it_changes(
    instrument: PausingInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = block(BINARY)
    line = counted(transport)
    for _ in range(5):
        assert transport.query("*OPC?") == "1"
        assert transport.read_block(":WAV:DATA?") == BINARY
        transport.write(":RUN")
    assert line.timeouts == [TIMEOUT]
    transport.timeout = 0.2  # a shorter one holds at the next exchange
    started = time.monotonic()
    with pytest.raises(InstrumentTimeoutError, match=r"\[scope\] no reply within 0\.2 s"):
        transport.query(":MEAS:VPP?")
    assert 0.2 <= time.monotonic() - started < TIMEOUT  # the new timeout, not the old
    assert line.timeouts == [TIMEOUT, 0.2]


def test_a_longer_timeout_holds_at_the_next_exchange(
    instrument: PausingInstrument, transport: VisaTransport
) -> None:
    instrument.pieces[":MEAS:VPP?"] = [b"", b"1.5\n"]
    instrument.pause = TIMEOUT / 2  # the reply this late
    transport.timeout = TIMEOUT / 5
    assert transport.query("*OPC?") == "1"  # the socket now waits TIMEOUT / 5
    transport.timeout = TIMEOUT
    assert transport.query(":MEAS:VPP?") == "1.5"


@pytest.mark.skipif(not SCATTER, reason="no recvmsg_into on this platform")
@pytest.mark.parametrize("terminators", [1, 2])
def test_a_block_takes_one_read_for_its_header_and_one_for_the_rest(
    instrument: PausingInstrument, terminators: int
) -> None:
    instrument.replies[":WAV:DATA?"] = block(BINARY, terminators=b"\n" * terminators)
    visa = VisaTransport.open(
        instrument.resource, role="scope", timeout=TIMEOUT, block_terminators=terminators
    )
    try:
        line = counted(visa)
        for _ in range(3):
            out = np.zeros(len(BINARY), dtype=np.uint8)
            length = visa.read_block_into(":WAV:DATA?", out.data.cast("B"), after=[":WAV:STAR 1"])
            assert length == len(BINARY) and out.tobytes() == BINARY
        # per block: the write and the query in one send; the header, then the payload and
        # its terminators
        assert line.calls == {"sendall": 3, "recv": 3, "recvmsg_into": 3}
        assert visa.query("*OPC?") == "1"  # every terminator was read: in step
    finally:
        visa.close()


@pytest.mark.parametrize(
    ("terminators", "parts"),
    [
        (1, [b"#9000002048", BINARY + b"\n"]),  # the header on its own
        (1, [b"#9000002048" + BINARY, b"\n"]),  # the terminator late
        (2, [b"#9000002048" + BINARY + b"\n", b"\n"]),  # the second terminator late
        (1, [b"#900000", b"2048" + BINARY + b"\n"]),  # the header cut in two
        (1, [b"#9000002048" + BINARY[:1000], BINARY[1000:1500], BINARY[1500:] + b"\n"]),
    ],
    ids=["header-alone", "lf-late", "second-lf-late", "header-split", "payload-trickles"],
)
def test_a_block_that_arrives_in_parts_is_read_whole_and_in_step(
    instrument: PausingInstrument, terminators: int, parts: list[bytes]
) -> None:
    instrument.pieces[":WAV:DATA?"] = parts
    visa = VisaTransport.open(
        instrument.resource, role="scope", timeout=TIMEOUT, block_terminators=terminators
    )
    try:
        assert visa.read_block(":WAV:DATA?") == BINARY
        assert visa.query("*OPC?") == "1"
        assert visa.in_step
    finally:
        visa.close()


def test_a_byte_after_the_payload_that_is_not_its_terminator_is_refused(
    instrument: PausingInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = b"#9000000004abcdX\n"
    with pytest.raises(ProtocolError, match="longer than its header") as info:
        transport.read_block(":WAV:DATA?")
    assert (info.value.role, info.value.command, info.value.received) == (
        "scope",
        ":WAV:DATA?",
        b"X",
    )
    assert transport.query("*OPC?") == "1"  # back in step: the rest was not taken for it


def test_a_session_switched_to_pyvisa_reads_and_back_stays_in_step(
    instrument: PausingInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = block(BINARY)
    assert transport.query("*OPC?") == "1"  # read straight from the socket
    transport.direct_socket = False
    assert transport._direct_reader() is None
    assert transport.read_block(":WAV:DATA?") == BINARY  # through PyVISA's reads
    assert transport.query("*OPC?") == "1"
    transport.timeout = 0.2
    started = time.monotonic()
    with pytest.raises(InstrumentTimeoutError, match=r"no reply within 0\.2 s"):
        transport.query(":MEAS:VPP?")
    assert time.monotonic() - started < TIMEOUT
    transport.direct_socket = True
    assert transport.query("*OPC?") == "1"  # on a new connection, straight from its socket
    assert transport._direct_reader() is not None


@pytest.mark.parametrize("last", [b'0,"No error"\n', b'+0,"No error"\n', b"0\n"])
def test_the_error_queue_is_read_until_code_0_in_any_form(
    instrument: PausingInstrument, transport: VisaTransport, last: bytes
) -> None:
    instrument.replies[":SYSTem:ERRor?"] = [b'-113,"Undefined header"\n', last]
    with pytest.raises(InstrumentReportedError, match="Undefined header"):
        transport.check_errors(after=":RUN")
    transport.check_errors()  # the queue is empty: one read
    assert instrument.received.count(":SYSTem:ERRor?") == 3
