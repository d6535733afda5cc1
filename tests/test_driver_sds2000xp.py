"""Siglent SDS2000X Plus driver against scripted conversations in the `:WAVeform` command set.

The WAVEDESC descriptors are built here at the offsets the SDS guide documents, independently
of the driver's own table, with codes per division that differ from the legacy 25.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import Exchange, expected_protocol
from benchtest.values.errors import (
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)
from instruments.capabilities import Oscilloscope
from instruments.siglent.sds2000xp import SiglentSDS2000XPlus

ESR = "*ESR?"


def checked(*commands: str) -> list[Exchange]:
    """Configuration writes, each followed by an event status register without error bits."""
    return [step for command in commands for step in ((command, None), (ESR, "0"))]


def descriptor(*, points: int = 10_000, cpd: float = 30.0, bits: int = 8) -> bytes:
    """A WAVEDESC: 0.05 V/div and -0.15 V before a 10x probe, 50 us/div (index 16), 2e-4 s
    delay, 20 MSa/s."""
    data = bytearray(346)
    data[:8] = b"WAVEDESC"
    for offset, fmt, value in [
        (0x3C, "<i", points * (2 if bits > 8 else 1)),
        (0x74, "<i", points),
        (0x88, "<i", 1),
        (0x9C, "<f", 0.05),
        (0xA0, "<f", -0.15),
        (0xA4, "<f", cpd),
        (0xAC, "<h", bits),
        (0xB0, "<f", 5e-8),
        (0xB4, "<d", 2e-4),
        (0x144, "<h", 16),
        (0x148, "<f", 10.0),
    ]:
        struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def readout_setup(desc: bytes, record: int, max_points: int) -> list[Exchange]:
    return [
        *checked(":WAVeform:SOURce C1", ":WAVeform:STARt 0"),
        (":WAVeform:PREamble?", desc),
        (":ACQuire:POINts?", str(record)),
        (":WAVeform:MAXPoint?", str(max_points)),
    ]


def chunk(start: int, count: int, data: bytes) -> list[Exchange]:
    return [
        *checked(f":WAVeform:STARt {start}", f":WAVeform:POINt {count}"),
        (":WAVeform:DATA?", data),
    ]


def test_driver_provides_the_oscilloscope_capability() -> None:
    with expected_protocol(SiglentSDS2000XPlus, []) as scope:
        assert isinstance(scope, Oscilloscope)
    assert SiglentSDS2000XPlus.block_terminators == 2


def test_configure_channel_uses_the_probe_value_form() -> None:
    conversation = checked(
        ":CHANnel2:SWITch ON",
        ":CHANnel2:PROBe VALue,10",
        ":CHANnel2:SCALe 0.5",
        ":CHANnel2:OFFSet -1.0",
        ":CHANnel2:COUPling AC",
    )
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        scope.configure_channel(2, scale=0.5, offset=-1.0, coupling="AC", probe=10)


def test_channel_reads_back() -> None:
    conversation = [(":CHANnel1:SWITch?", "OFF"), (":CHANnel1:PROBe?", "1.00E+01")]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        assert scope.channel(1).enabled is False and scope.channel(1).probe == 10.0


def test_invalid_settings_are_refused_with_nothing_sent() -> None:
    with expected_protocol(SiglentSDS2000XPlus, [], role="scope") as scope:
        with pytest.raises(InvalidValueError, match=r"\[scope\]"):
            scope.configure_channel(1, scale=0.5, coupling="LF")
        with pytest.raises(InvalidValueError):
            scope.configure_timebase(scale=2000.0)
        with pytest.raises(InstrumentError, match="no channel 5"):
            scope.configure_channel(5, scale=1.0)


def test_configure_timebase_and_edge_trigger() -> None:
    conversation = checked(
        ":TIMebase:SCALe 5e-05",
        ":TIMebase:DELay 0.0002",
        ":TRIGger:TYPE EDGE",
        ":TRIGger:EDGE:SOURce C1",
        ":TRIGger:EDGE:SLOPe ALTernate",
        ":TRIGger:EDGE:LEVel 1.65",
        ":TRIGger:MODE NORMal",
    )
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        scope.configure_timebase(scale=50e-6, position=200e-6)
        scope.configure_edge_trigger(source=1, level=1.65, slope="either")


def test_run_stop_single_and_wait_for_the_stop() -> None:
    conversation = [
        *checked(":TRIGger:RUN", ":TRIGger:STOP", ":TRIGger:MODE SINGle"),
        (":TRIGger:STATus?", "Ready"),
        (":TRIGger:STATus?", "Trig'd"),
        (":TRIGger:STATus?", "Stop"),
    ]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        scope.poll_interval = 0.0
        scope.run()
        scope.stop()
        scope.single()
        scope.wait_for_trigger(timeout=5.0)


def test_a_stop_right_after_arming_is_the_previous_acquisition() -> None:
    conversation = [
        *checked(":TRIGger:MODE SINGle"),
        (":TRIGger:STATus?", "Stop"),
        (":TRIGger:STATus?", "Ready"),
        (":TRIGger:STATus?", "Stop"),
    ]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        scope.poll_interval, scope.arm_settle = 0.0, 60.0
        scope.single()
        scope.wait_for_trigger(timeout=5.0)


def test_a_stop_at_the_first_poll_counts_once_arming_saw_the_scope_armed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("benchtest.driver.scope.time.sleep", pauses.append)
    conversation = [
        *checked(":TRIGger:MODE SINGle"),
        (":TRIGger:STATus?", "Ready"),
        (":TRIGger:STATus?", "Stop"),
    ]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        scope.arm_settle = 60.0
        scope.single()
        scope.wait_for_trigger(timeout=1.0)
    assert pauses == []


def test_wait_for_trigger_timeout_names_the_last_status() -> None:
    with (
        expected_protocol(SiglentSDS2000XPlus, [(":TRIGger:STATus?", "Ready")]) as scope,
        pytest.raises(InstrumentTimeoutError, match="'Ready'"),
    ):
        scope.wait_for_trigger(timeout=0.0)


@pytest.mark.parametrize("cpd", [30.0, 25.0])
def test_screen_readout_scales_with_the_descriptors_codes_per_division(cpd: float) -> None:
    codes = np.zeros(1000, dtype=np.int8)
    codes[:3] = (90, -90, -128)
    conversation = [
        *readout_setup(descriptor(cpd=cpd), 10_000, 5_000_000),
        *checked(":WAVeform:WIDTh BYTE", ":WAVeform:INTerval 10"),
        *chunk(0, 1000, codes.tobytes()),
    ]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        wf = scope.fetch_waveform(1)
    assert wf.samples.dtype == np.int8 and len(wf) == 1000
    # vdiv = 0.05 x 10, offset = -0.15 x 10 (float32 in the descriptor): code / cpd x 0.5 + 1.5
    assert wf.values[0] == pytest.approx(90 / cpd * 0.5 + 1.5, abs=1e-6)
    assert wf.values[1] == pytest.approx(-90 / cpd * 0.5 + 1.5, abs=1e-6)
    assert wf.t0 == pytest.approx(-50e-6 * 10 / 2 + 2e-4)  # -tdiv x 10/2 + delay
    assert wf.dt == pytest.approx(10 * 5e-8)
    assert wf.settings["descriptor_codes_per_division"] == cpd and wf.settings["sparsing"] == 10


def test_max_readout_stops_and_reads_maxpoint_pieces() -> None:
    codes = np.random.default_rng(5).integers(-128, 128, size=10_000, dtype=np.int8)
    conversation = [
        *checked(":TRIGger:STOP"),
        *readout_setup(descriptor(), 10_000, 4000),
        *checked(":WAVeform:WIDTh BYTE", ":WAVeform:INTerval 1"),
    ]
    for start in (0, 4000, 8000):
        count = min(4000, 10_000 - start)
        conversation += chunk(start, count, codes[start : start + count].tobytes())
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        wf = scope.fetch_waveform(1, "max")
    assert np.array_equal(wf.samples, codes) and wf.dt == pytest.approx(5e-8)


def test_more_than_8_adc_bits_read_as_little_endian_words() -> None:
    codes = np.array([360, -360, 511, -512], dtype="<i2")
    conversation = [
        *checked(":TRIGger:STOP"),
        *readout_setup(descriptor(points=4, cpd=120.0, bits=10), 4, 5_000_000),
        *checked(":WAVeform:WIDTh WORD", ":WAVeform:INTerval 1"),
        *chunk(0, 4, codes.tobytes()),
    ]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        wf = scope.fetch_waveform(1, 4)
    assert wf.samples.dtype == np.int16 and list(wf.samples) == [360, -360, 511, -512]
    assert wf.values[0] == pytest.approx(3.0)  # 360 / 120 x 0.5 + 1.5


def test_a_short_data_block_is_a_protocol_error() -> None:
    conversation = [
        *checked(":TRIGger:STOP"),
        *readout_setup(descriptor(), 10_000, 5_000_000),
        *checked(":WAVeform:WIDTh BYTE", ":WAVeform:INTerval 1"),
        *chunk(0, 100, bytes(99)),
        (ESR, "0"),  # nothing queued for the short block: the protocol error stands
    ]
    with (
        expected_protocol(SiglentSDS2000XPlus, conversation, role="scope") as scope,
        pytest.raises(ProtocolError, match="holds 99 bytes") as info,
    ):
        scope.fetch_waveform(1, 100)
    assert info.value.command == ":WAVeform:DATA?"


@pytest.mark.parametrize("desc", [b"#garbage", descriptor()[:300], b"NOTADESC" + bytes(338)])
def test_a_garbled_descriptor_is_a_protocol_error(desc: bytes) -> None:
    conversation = [
        *checked(":WAVeform:SOURce C1", ":WAVeform:STARt 0"),
        (":WAVeform:PREamble?", desc),
    ]
    with (
        expected_protocol(SiglentSDS2000XPlus, conversation) as scope,
        pytest.raises(ProtocolError, match="unexpected preamble") as info,
    ):
        scope.fetch_waveform(1)
    assert info.value.command == ":WAVeform:PREamble?"


def test_more_points_than_the_record_holds_is_refused() -> None:
    conversation = [*checked(":TRIGger:STOP"), *readout_setup(descriptor(), 10_000, 1)[:-1]]
    with (
        expected_protocol(SiglentSDS2000XPlus, conversation) as scope,
        pytest.raises(InstrumentError, match="record holds 10000"),
    ):
        scope.fetch_waveform(1, 20_000)


def test_simple_measurements_with_no_value_as_nan() -> None:
    """Each item is shown (`:MEASure:SIMPle:ITEM <type>,ON`) before its value is read: the
    scope measures only the items on its simple measurement list."""
    setup = checked(":MEASure ON", ":MEASure:MODE SIMPle", ":MEASure:SIMPle:SOURce C2")
    conversation = [
        *setup,
        *checked(":MEASure:SIMPle:ITEM PKPK,ON"),
        (":MEASure:SIMPle:VALue? PKPK", "3.30E+00"),
        *setup,
        *checked(":MEASure:SIMPle:ITEM FREQ,ON"),
        (":MEASure:SIMPle:VALue? FREQ", "****"),
        *setup,
        *checked(":MEASure:SIMPle:ITEM RISE,ON"),
        (":MEASure:SIMPle:VALue? RISE", "9.9E37"),
    ]
    with expected_protocol(SiglentSDS2000XPlus, conversation) as scope:
        assert scope.measure_item("pkpk", 2) == pytest.approx(3.3)
        assert math.isnan(scope.measure_item("FREQ", 2))
        assert math.isnan(scope.measure_item("RISE", 2))


def test_unknown_measurement_sends_nothing() -> None:
    with (
        expected_protocol(SiglentSDS2000XPlus, []) as scope,
        pytest.raises(InstrumentError, match="unknown measurement item"),
    ):
        scope.measure_item("VPP", 1)


def test_error_bits_of_the_event_status_register_name_the_command() -> None:
    conversation = [(":TIMebase:DELay 99.0", None), (ESR, "16")]
    with (
        expected_protocol(SiglentSDS2000XPlus, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="execution error") as info,
    ):
        scope.timebase_offset = 99.0
    assert (info.value.command, info.value.role, info.value.received) == (
        ":TIMebase:DELay 99.0",
        "scope",
        "16",
    )


def test_a_silent_query_is_explained_by_the_event_status_register() -> None:
    silence = InstrumentTimeoutError("no reply", role="scope", command=":ACQuire:POINts?")
    conversation: list[Exchange] = [(":ACQuire:POINts?", silence), (ESR, "32")]
    with (
        expected_protocol(SiglentSDS2000XPlus, conversation) as scope,
        pytest.raises(InstrumentReportedError, match="command error") as info,
    ):
        _ = scope.record_points
    assert info.value.__cause__ is silence
