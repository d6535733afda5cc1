"""Block payloads read straight into the caller's array, and the Rigol readout's error queue read
once per readout and at once when a chunk fails."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from test_driver_ds1000z import ERR, OK, chunk, settings_queries, unchecked
from test_transport import BINARY, LoopbackInstrument, block

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.driver.transport import VisaTransport
from benchtest.values.errors import InstrumentReportedError, ProtocolError
from instruments.rigol.ds1000z import RigolDS1000Z
from instruments.rigol.mso5000 import RigolMSO5000

RAW_SETUP = (":STOP", ":WAVeform:SOURce CHANnel1", ":WAVeform:MODE RAW", ":WAVeform:FORMat BYTE")


@pytest.fixture
def instrument() -> Iterator[LoopbackInstrument]:
    server = LoopbackInstrument()
    yield server
    server.stop()


@pytest.fixture
def transport(instrument: LoopbackInstrument) -> Iterator[VisaTransport]:
    visa = VisaTransport.open(instrument.resource, role="scope", timeout=1.0)
    yield visa
    visa.close()


def test_payload_lands_in_the_callers_array(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    payload = BINARY * 512  # 1 MiB holding '#' and LF bytes
    instrument.replies[":WAV:DATA?"] = block(payload)
    instrument.replies["*OPC?"] = b"1\n"
    samples = np.zeros(len(payload), dtype=np.uint8)
    assert transport.read_block_into(":WAV:DATA?", samples.data.cast("B")) == len(payload)
    assert samples.tobytes() == payload
    assert transport.query("*OPC?") == "1"  # the terminator was consumed


def test_a_block_longer_than_the_buffer_is_read_to_its_end(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = block(BINARY)
    instrument.replies["*OPC?"] = b"1\n"
    out = bytearray(100)
    assert transport.read_block_into(":WAV:DATA?", memoryview(out)) == len(BINARY)
    assert bytes(out) == BINARY[:100]
    assert transport.query("*OPC?") == "1"  # in step: the rest was read and dropped


def test_a_truncated_block_into_a_buffer_is_a_protocol_error(
    instrument: LoopbackInstrument, transport: VisaTransport
) -> None:
    instrument.replies[":WAV:DATA?"] = b"#9000000100" + b"x" * 50
    transport.timeout = 0.3
    with pytest.raises(ProtocolError, match="header announced 100 bytes, 50 arrived") as info:
        transport.read_block_into(":WAV:DATA?", memoryview(bytearray(100)))
    assert info.value.received == b"x" * 40


def test_deep_readout_over_a_socket_reads_the_error_queue_once(
    instrument: LoopbackInstrument,
) -> None:
    """600 000 points in three chunks through pyvisa-py: one error-queue read for the whole
    readout, none per setup write or chunk."""
    codes = np.random.default_rng(3).integers(0, 256, size=600_000, dtype=np.uint8)
    instrument.replies.update(
        {
            ERR: b'0,"No error"\n',
            ":WAVeform:PREamble?": b"0,2,600000,1,1e-08,-3e-03,0,0.4,0,122\n",
            ":CHANnel1:SCALe?": b"0.5\n",
            ":CHANnel1:OFFSet?": b"0\n",
            ":CHANnel1:PROBe?": b"10\n",
            ":TIMebase:MAIN:SCALe?": b"1e-4\n",
            ":ACQuire:SRATe?": b"1e8\n",
            ":WAVeform:DATA?": [
                block(codes[a:b].tobytes()) for a, b in ((0, 250_000), (250_000, 500_000))
            ]
            + [block(codes[500_000:].tobytes())],
        }
    )
    scope = RigolDS1000Z.open(instrument.resource, role="scope", timeout=2.0)
    try:
        wf = scope.fetch_waveform(1, "max")
    finally:
        scope.close()
    assert np.array_equal(wf.samples, codes)
    readout = instrument.received[instrument.received.index(":ACQuire:SRATe?") + 1 :]
    assert readout == [
        ":WAVeform:STARt 1",
        ":WAVeform:STOP 250000",
        ":WAVeform:DATA?",
        ":WAVeform:STARt 250001",
        ":WAVeform:STOP 500000",
        ":WAVeform:DATA?",
        ":WAVeform:STARt 500001",
        ":WAVeform:STOP 600000",
        ":WAVeform:DATA?",
        ERR,
    ]
    assert instrument.received[: len(RAW_SETUP)] == ["*CLS", *RAW_SETUP[:-1]]
    assert instrument.received.count(ERR) == 1


def raw_readout_start(points: int) -> list[tuple[str, str | bytes | None]]:
    return [
        *unchecked(*RAW_SETUP),
        (":WAVeform:PREamble?", f"0,2,{points},1,1e-08,-3e-03,0,0.4,0,122"),
        *settings_queries(1),
    ]


@pytest.mark.parametrize("driver", [RigolDS1000Z, RigolMSO5000])
def test_an_error_queued_during_the_readout_is_reported_at_its_end(
    driver: type[RigolDS1000Z],
) -> None:
    conversation = raw_readout_start(300_000)
    conversation += chunk(1, 250_000, bytes(250_000))
    conversation += chunk(250_001, 300_000, bytes(50_000))
    conversation += [(ERR, '-222,"Data out of range"'), (ERR, OK)]
    with (
        expected_protocol(driver, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Data out of range") as info,
    ):
        scope.fetch_waveform(1, "max")
    assert info.value.code == -222 and info.value.role == "scope"
    assert info.value.command == ":WAVeform:DATA? (points 1..300000)"


@pytest.mark.parametrize("driver", [RigolDS1000Z, RigolMSO5000])
def test_a_truncated_chunk_is_reported_against_its_own_query_at_once(
    driver: type[RigolDS1000Z],
) -> None:
    """The queue is read as soon as the second chunk comes back short, and what it holds is
    reported against that chunk; the third chunk is never asked for."""
    conversation = raw_readout_start(600_000)
    conversation += chunk(1, 250_000, bytes(250_000))
    conversation += chunk(250_001, 500_000, bytes(1000))
    conversation += [(ERR, '-222,"Data out of range"'), (ERR, OK)]
    with (
        expected_protocol(driver, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Data out of range") as info,
    ):
        scope.fetch_waveform(1, "max")
    assert info.value.command == ":WAVeform:DATA?"
    cause = info.value.__cause__
    assert isinstance(cause, ProtocolError) and "points 250001..500000" in str(cause)
    assert "the block holds 1000 bytes" in str(cause)


def test_a_record_beyond_the_models_memory_is_refused_before_any_chunk_is_sent() -> None:
    """The chunk writes are not checked by the instrument one by one, but still by the
    driver: a DS1000Z memory ends at 24 Mpts, an MSO5000's does not."""
    conversation = [*raw_readout_start(30_000_000)[:5], (ERR, OK)]
    with (
        expected_protocol(RigolDS1000Z, conversation) as scope,
        pytest.raises(InvalidValueError, match="30000000"),
    ):
        scope.fetch_waveform(1, "max")


def test_an_error_the_setup_queued_is_reported_when_the_readout_is_refused() -> None:
    """The setup's writes are not checked one by one: when the driver then refuses the read,
    the queue is read first, so its error is not left to be blamed on a later command."""
    conversation = [
        *unchecked(*RAW_SETUP),
        (":WAVeform:PREamble?", "0,2,12000,1,1e-06,0,0,0.04,0,127"),
        (ERR, '-113,"Undefined header"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(RigolDS1000Z, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Undefined header") as info,
    ):
        scope.fetch_waveform(1, points=20_000)
    assert "record holds 12000" in str(info.value.__cause__)
