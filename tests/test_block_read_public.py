"""Block reads through PyVISA's public API only, the path every VISA library and session gets
but a pyvisa-py SOCKET one: exact-count reads with the termination character off, the header
in two reads, the payload straight into the caller's buffer. Every promise of the transport
holds on it too: a garbled, truncated, lying, late, silent or endless reply is reported and the
next exchange is in step. The servers are real loopback sockets, read with `direct_socket` off;
the same path also reads a block from pyvisa-sim, another VISA library altogether."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_transport import BINARY, CLOSE, LoopbackInstrument, block
from test_transport_resync import LateInstrument

from benchtest.driver.direct_read import DirectReader, pyvisa_py_socket
from benchtest.driver.transport import VisaTransport
from benchtest.sim.testing import wait_until
from benchtest.values.errors import ConnectionLostError, InstrumentTimeoutError, ProtocolError

TIMEOUT = 0.3  # s


@pytest.fixture(autouse=True)
def _no_direct_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The public path never takes the socket shortcut: a reader handed out fails the test."""
    offer = DirectReader.of

    def refuse(resource: Any) -> DirectReader | None:
        if offer(resource) is not None:
            raise AssertionError("the public path took the pyvisa-py socket reader")
        return None

    monkeypatch.setattr(DirectReader, "of", staticmethod(refuse))


@pytest.fixture
def instrument() -> Iterator[LoopbackInstrument]:
    server = LoopbackInstrument()
    yield server
    server.stop()


def public(resource: str, **options: Any) -> VisaTransport:
    return VisaTransport.open(
        resource, role="scope", timeout=TIMEOUT, direct_socket=False, **options
    )


@pytest.fixture
def transport(instrument: LoopbackInstrument) -> Iterator[VisaTransport]:
    visa = public(instrument.resource)
    yield visa
    visa.close()


class CountingReads:
    """Wraps a resource's `read_bytes` and `visalib.read`, counting the calls of each."""

    def __init__(self, transport: VisaTransport) -> None:
        resource = transport._resource
        self.read_bytes: list[int] = []
        self.visalib_reads: list[int] = []
        read_bytes, visalib_read = resource.read_bytes, resource.visalib.read

        def counted_read_bytes(count: int, *args: Any, **kwargs: Any) -> bytes:
            self.read_bytes.append(count)
            return bytes(read_bytes(count, *args, **kwargs))

        def counted_read(session: Any, count: int) -> tuple[bytes, Any]:
            self.visalib_reads.append(count)
            return visalib_read(session, count)  # type: ignore[no-any-return]

        resource.read_bytes = counted_read_bytes
        self._visalib = resource.visalib
        self._original = visalib_read
        resource.visalib.read = counted_read

    def restore(self) -> None:
        del self._visalib.read  # the library object is shared by every session of the process


@pytest.mark.parametrize("digits", [1, 4, 9])
def test_block_with_any_digit_count_and_the_session_stays_in_step(
    instrument: LoopbackInstrument, transport: VisaTransport, digits: int
) -> None:
    payload = BINARY[:9] if digits == 1 else BINARY
    instrument.replies[":WAV:DATA?"] = block(payload, digits)
    instrument.replies["*OPC?"] = b"1\n"
    assert transport.read_block(":WAV:DATA?") == payload
    assert transport.query("*OPC?") == "1"


def test_header_takes_two_reads_and_the_payload_lands_in_the_callers_array(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: several payload reads
    instrument.replies[":WAV:DATA?"] = block(payload)
    samples = np.zeros(len(payload), dtype=np.uint8)
    reads = CountingReads(transport)
    try:
        length = transport.read_block_into(":WAV:DATA?", samples.data.cast("B"))
    finally:
        reads.restore()
    assert length == len(payload)
    assert samples.tobytes() == payload
    assert reads.read_bytes == [2, 9, 1]  # '#9', the nine digits, the LF
    # read_bytes reads through visalib.read too; the rest is the payload, in exact counts
    # (never past its end), a few small ones first while its rate is not known yet
    payload_reads = reads.visalib_reads[2:-1]
    assert sum(payload_reads) == len(payload)
    assert max(payload_reads) <= max(transport._resource.chunk_size, 256 * 1024)
    assert len(payload_reads) <= 12


def test_header_echo_before_the_hash_and_two_terminators(instrument: LoopbackInstrument) -> None:
    instrument.replies["C1:WF? DAT2"] = b"C1:WF DAT2," + block(BINARY, terminators=b"\n\n")
    instrument.replies["*OPC?"] = b"1\n"
    visa = public(instrument.resource, block_terminators=2)
    try:
        assert visa.read_block("C1:WF? DAT2") == BINARY
        assert visa.query("*OPC?") == "1"
    finally:
        visa.close()


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"garbage\n", "expected a '#'"),
        (b"\n", "expected a '#'"),  # an empty reply: said at once, not after a timeout
        (b"0\n", "expected a '#'"),
        (b"#x123\n", "digit count is not a digit"),
        (b"#9abc000012\n", "byte count is not a number"),
        (b"#0abc\n", "indefinite-length block"),
        (b"#9000012", "block header truncated"),
    ],
)
def test_a_garbled_header_is_a_protocol_error_and_the_next_query_is_in_step(
    instrument: LoopbackInstrument, transport: VisaTransport, reply: bytes, words: str
) -> None:
    instrument.replies[":WAV:DATA?"] = reply
    instrument.replies["*OPC?"] = b"1\n"
    with pytest.raises(ProtocolError, match=words) as info:
        transport.read_block(":WAV:DATA?")
    assert isinstance(info.value.received, bytes) and info.value.received[:1] == reply[:1]
    assert not transport.in_step
    assert transport.query("*OPC?") == "1"


def test_truncated_and_lying_blocks(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = [
        b"#9000000100" + b"x" * 50,
        b"#9000000010" + b"y" * 20 + b"\n",
    ]
    instrument.replies["*OPC?"] = b"1\n"
    with pytest.raises(ProtocolError, match="header announced 100 bytes, 50 arrived") as info:
        transport.read_block(":WAV:DATA?")
    assert info.value.received == b"x" * 40
    assert transport.query("*OPC?") == "1"
    with pytest.raises(ProtocolError, match="longer than its header"):
        transport.read_block(":WAV:DATA?")
    assert transport.query("*OPC?") == "1"


def test_a_header_announcing_too_much_is_refused_before_reading_it(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = b"#9999999999"
    transport.max_block = 1_000_000
    with pytest.raises(ProtocolError, match="announces 999999999 bytes, more than the 1000000"):
        transport.read_block(":WAV:DATA?")


def test_silence_and_a_closed_connection(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    with pytest.raises(InstrumentTimeoutError, match=r"\[scope\].*:WAV:DATA\?"):
        transport.read_block(":WAV:DATA?")
    instrument.replies[":WAV:DATA?"] = CLOSE
    with pytest.raises(ConnectionLostError, match="closed by the instrument"):
        transport.read_block(":WAV:DATA?")


def test_a_late_block_is_not_taken_for_the_next_answer() -> None:
    server = LateInstrument()
    try:
        server.replies[":WAV:DATA?"] = (3 * TIMEOUT, block(BINARY))
        server.replies["*OPC?"] = (0.0, b"1\n")
        visa = public(server.resource)
        try:
            with pytest.raises(InstrumentTimeoutError):
                visa.read_block(":WAV:DATA?")
            wait_until(lambda: ":WAV:DATA?" in server.answered)  # the late block went out
            assert visa.query("*OPC?") == "1"
            assert server.connections == 2  # a raw socket is brought back in step anew
        finally:
            visa.close()
    finally:
        server.stop()


class Trickle:
    """A loopback instrument whose reply to any line never ends: `head`, then one byte of
    `fill` every `interval` s, until the client goes or the server stops."""

    def __init__(self, head: bytes, fill: bytes, interval: float) -> None:
        self.head, self.fill, self.interval = head, fill, interval
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.resource = f"TCPIP::127.0.0.1::{self._listener.getsockname()[1]}::SOCKET"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            socket.create_connection(self._listener.getsockname(), timeout=1).close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()
        self._listener.close()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        with connection:
            if self._stop.is_set() or not connection.recv(1024):
                return
            with contextlib.suppress(OSError):
                connection.sendall(self.head)
                while not self._stop.wait(self.interval):
                    connection.sendall(self.fill)


@pytest.mark.parametrize(
    ("head", "fill", "words"),
    [
        (b"#9000002000", b"x", "header announced 2000 bytes"),  # a payload that never ends
        (b"#9000000004abcd", b"y", "longer than its header"),  # bytes past the payload
    ],
)
def test_an_endless_trickle_ends_within_the_blocks_time(
    head: bytes, fill: bytes, words: str
) -> None:
    server = Trickle(head, fill, interval=0.02)
    try:
        visa = public(server.resource)
        try:
            started = time.monotonic()
            with pytest.raises(ProtocolError, match=words):
                visa.read_block(":WAV:DATA?")
            # a block may take a timeout plus its length at 100 kB/s, and one more read
            assert time.monotonic() - started < 3 * TIMEOUT + 0.2
        finally:
            visa.close()
    finally:
        server.stop()


def test_an_endless_text_reply_is_bounded_in_size(instrument: LoopbackInstrument) -> None:
    instrument.replies[":TRACe:DATA?"] = b"1," * 40_000  # 80 kB and no termination
    instrument.replies["*OPC?"] = b"1\n"
    visa = public(instrument.resource)
    visa.max_reply = 30_000
    try:
        with pytest.raises(ProtocolError, match="longer than 30000 bytes"):
            visa.query(":TRACe:DATA?")
        assert visa.query("*OPC?") == "1"
    finally:
        visa.close()


# -- other VISA libraries ----------------------------------------------------------------------

SIM_SCOPE = """\
spec: "1.1"
devices:
  scope:
    eom:
      TCPIP INSTR: {q: "\\n", r: "\\n"}
    error: '-113,"Undefined header"'
    dialogues:
      - q: "*OPC?"
        r: "1"
      - q: ":WAV:DATA?"
        r: "#216Sixteen bytes..."
      - q: ":WAV:DATA:SHORt?"
        r: "#216only eight"
resources:
  TCPIP::10.0.0.7::INSTR: {device: scope}
"""


def test_the_same_path_reads_a_block_from_pyvisa_sim(tmp_path: Path) -> None:
    (tmp_path / "scope.yaml").write_text(SIM_SCOPE, encoding="utf-8")
    library = f"{tmp_path / 'scope.yaml'}@sim"
    visa = VisaTransport.open("TCPIP::10.0.0.7::INSTR", timeout=TIMEOUT, visa_library=library)
    try:
        assert pyvisa_py_socket(visa._resource) is None  # no shortcut for this library
        assert visa.read_block(":WAV:DATA?") == b"Sixteen bytes..."
        assert visa.query("*OPC?") == "1"
        with pytest.raises(ProtocolError, match="header announced 16 bytes"):
            visa.read_block(":WAV:DATA:SHORt?")
        assert visa.query("*OPC?") == "1"  # pyvisa-sim has no device clear: opened anew
    finally:
        visa.close()


def test_the_socket_shortcut_is_only_for_pyvisa_py_sockets(
    instrument: LoopbackInstrument,
) -> None:
    direct = VisaTransport.open(instrument.resource, timeout=TIMEOUT)
    try:
        assert direct.direct_socket and pyvisa_py_socket(direct._resource) is not None
    finally:
        direct.close()


@pytest.mark.parametrize("protocol", ["hislip", "vxi11"])
def test_the_same_path_over_hislip_and_vxi11_with_a_device_clear(
    instrument: LoopbackInstrument, protocol: str
) -> None:
    """The simulated bench's LAN server in front of the loopback instrument: a session with a
    device clear, which brings it back in step after a broken block without a new connection."""
    if protocol == "hislip":
        from benchtest.sim.server.hislip import HislipServer as Server
    else:
        from benchtest.sim.server.vxi11 import Vxi11Server as Server
        from benchtest.sim.server.vxi11 import unavailable_reason

        if unavailable_reason():
            pytest.skip(str(unavailable_reason()))
    server = Server(lambda: ("127.0.0.1", instrument.port))
    server.start()
    try:
        instrument.replies[":WAV:DATA?"] = [block(BINARY), b"#9000000100" + b"x" * 50]
        instrument.replies["*OPC?"] = b"1\n"
        visa = public(server.address)
        try:
            assert visa.read_block(":WAV:DATA?") == BINARY
            assert visa.query("*OPC?") == "1"
            session = visa._resource
            # a read the timeout ends drops its bytes in these sessions: fewer than 50 count
            with pytest.raises(ProtocolError, match=r"header announced 100 bytes, \d+ arrived"):
                visa.read_block(":WAV:DATA?")
            assert visa.query("*OPC?") == "1"
            assert visa._resource is session  # cleared, not opened anew
        finally:
            visa.close()
    finally:
        server.stop()
