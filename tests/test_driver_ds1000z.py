"""Rigol DS1000Z driver against scripted conversations in the DS1000Z programming-guide dialect."""

from __future__ import annotations

import math

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
from instruments.rigol.ds1000z import RigolDS1000Z

OK = '0,"No error"'
ERR = ":SYSTem:ERRor?"
SCREEN_PREAMBLE = "0,0,1200,1,2.000000e-05,-1.456000e-02,0,4.000000e-02,-75,127"


def checked(*commands: str) -> list[Exchange]:
    """Configuration writes, each followed by an empty error queue."""
    return [step for command in commands for step in ((command, None), (ERR, OK))]


def unchecked(*commands: str) -> list[Exchange]:
    """A readout's setup writes: the error queue is read once, at the end of the readout."""
    return [(command, None) for command in commands]


def chunk(start: int, stop: int, payload: bytes) -> list[Exchange]:
    """One readout chunk as the guide sends it: points start..stop (1-based, inclusive), the
    writes not checked one by one (the error queue is read once, at the end of the readout)."""
    return [
        (f":WAVeform:STARt {start}", None),
        (f":WAVeform:STOP {stop}", None),
        (":WAVeform:DATA?", payload),
    ]


END_OF_READOUT = [(ERR, OK)]  # the readout's one error-queue read


def settings_queries(channel: int = 1) -> list[Exchange]:
    return [
        (f":CHANnel{channel}:SCALe?", "5.000000e-01"),
        (f":CHANnel{channel}:OFFSet?", "0.000000e+00"),
        (f":CHANnel{channel}:PROBe?", "1.000000e+01"),
        (":TIMebase:MAIN:SCALe?", "1.000000e-04"),
        (":ACQuire:SRATe?", "1.000000e+08"),
    ]


def test_driver_provides_the_oscilloscope_capability() -> None:
    with expected_protocol(RigolDS1000Z, []) as scope:
        assert isinstance(scope, Oscilloscope)  # every member is a method: no query is sent
    assert RigolDS1000Z.block_terminators == 1


def test_configure_channel_sets_probe_before_scale() -> None:
    conversation = checked(
        ":CHANnel2:DISPlay 1",
        ":CHANnel2:PROBe 10",
        ":CHANnel2:SCALe 0.5",
        ":CHANnel2:OFFSet -1.0",
        ":CHANnel2:COUPling AC",
    )
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.configure_channel(2, scale=0.5, offset=-1.0, coupling="AC", probe=10)


def test_disabling_a_channel() -> None:
    conversation = checked(
        ":CHANnel4:DISPlay 0",
        ":CHANnel4:PROBe 1.0",
        ":CHANnel4:SCALe 1.0",
        ":CHANnel4:OFFSet 0.0",
        ":CHANnel4:COUPling DC",
    )
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.configure_channel(4, scale=1.0, enabled=False)


@pytest.mark.parametrize(
    "kwargs", [{"probe": 3.0}, {"coupling": "LF"}, {"scale": -0.1}], ids=["probe", "cpl", "scale"]
)
def test_invalid_channel_setting_is_refused_with_nothing_sent(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"scale": 0.5, **kwargs}
    with (
        expected_protocol(RigolDS1000Z, [], role="scope") as scope,
        pytest.raises(InvalidValueError, match=r"\[scope\]"),
    ):
        scope.configure_channel(1, **settings)  # type: ignore[arg-type]


def test_unknown_channel_is_refused() -> None:
    with (
        expected_protocol(RigolDS1000Z, []) as scope,
        pytest.raises(InstrumentError, match="no channel 5"),
    ):
        scope.configure_channel(5, scale=1.0)


def test_configure_timebase() -> None:
    conversation = checked(":TIMebase:MAIN:SCALe 0.0001", ":TIMebase:MAIN:OFFSet 0.0002")
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.configure_timebase(scale=1e-4, position=2e-4)


def test_configure_edge_trigger() -> None:
    conversation = checked(
        ":TRIGger:MODE EDGE",
        ":TRIGger:EDGe:SOURce CHANnel1",
        ":TRIGger:EDGe:SLOPe NEGative",
        ":TRIGger:EDGe:LEVel 1.65",
        ":TRIGger:SWEep SINGle",
    )
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.configure_edge_trigger(source=1, level=1.65, slope="falling", sweep="single")


def test_trigger_settings_read_back_from_short_forms() -> None:
    conversation = [
        (":TRIGger:EDGe:SLOPe?", "RFAL"),
        (":TRIGger:EDGe:SOURce?", "CHAN2"),
        (":TRIGger:SWEep?", "NORM"),
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        assert scope.trigger_slope == "either"
        assert scope.trigger_source == 2
        assert scope.trigger_sweep == "normal"


def test_run_stop_single() -> None:
    conversation = [*checked(":RUN", ":STOP", ":SINGle"), (":TRIGger:STATus?", "WAIT")]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.run()
        scope.stop()
        scope.single()


def test_wait_for_trigger_returns_on_stop_after_single() -> None:
    conversation = [
        *checked(":SINGle"),
        (":TRIGger:STATus?", "WAIT"),
        (":TRIGger:STATus?", "TD"),
        (":TRIGger:STATus?", "STOP"),
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.poll_interval = 0.0
        scope.single()
        scope.wait_for_trigger(timeout=5.0)


def test_status_polls_start_fast_and_back_off_to_the_poll_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("benchtest.driver.scope.time.sleep", pauses.append)
    running = [(":TRIGger:STATus?", "WAIT")] * 7
    with expected_protocol(RigolDS1000Z, [*running, (":TRIGger:STATus?", "STOP")]) as scope:
        scope._armed_at = None  # not armed by this driver: any STOP counts
        scope.wait_for_trigger(timeout=5.0)
    assert pauses == [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032]


def test_wait_for_trigger_ignores_the_stale_stop_right_after_single() -> None:
    conversation = [
        *checked(":SINGle"),
        (":TRIGger:STATus?", "STOP"),
        (":TRIGger:STATus?", "WAIT"),
        (":TRIGger:STATus?", "STOP"),
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.poll_interval, scope.arm_settle = 0.0, 60.0
        scope.single()
        scope.wait_for_trigger(timeout=5.0)


def test_a_stop_at_the_first_poll_counts_once_single_saw_the_scope_armed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The acquisition was over before the first poll (a trigger at once, a busy computer): the
    # state asked right after `:SINGle` says that STOP is this acquisition's, so the first
    # poll ends the wait, without waiting out `arm_settle` (60 s here, past the timeout).
    pauses: list[float] = []
    monkeypatch.setattr("benchtest.driver.scope.time.sleep", pauses.append)
    conversation = [*checked(":SINGle"), (":TRIGger:STATus?", "WAIT"), (":TRIGger:STATus?", "STOP")]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.arm_settle = 60.0
        scope.single()
        scope.wait_for_trigger(timeout=1.0)
    assert pauses == []


def test_a_running_state_seen_for_one_acquisition_does_not_count_for_the_next() -> None:
    conversation = [
        *checked(":SINGle"),
        (":TRIGger:STATus?", "WAIT"),
        (":TRIGger:STATus?", "STOP"),
        *checked(":SINGle"),
        (":TRIGger:STATus?", "STOP"),  # the stop of before, or already this one's: unknown
        (":TRIGger:STATus?", "WAIT"),
        (":TRIGger:STATus?", "STOP"),
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        scope.poll_interval, scope.arm_settle = 0.0, 60.0
        scope.single()
        scope.wait_for_trigger(timeout=1.0)
        scope.single()
        scope.wait_for_trigger(timeout=1.0)


def test_wait_for_trigger_timeout_names_the_last_status() -> None:
    with (
        expected_protocol(RigolDS1000Z, [(":TRIGger:STATus?", "WAIT")], role="scope") as scope,
        pytest.raises(InstrumentTimeoutError, match="'WAIT'") as info,
    ):
        scope.wait_for_trigger(timeout=0.0)
    assert info.value.command == ":TRIGger:STATus?"


def test_fetch_screen_waveform() -> None:
    codes = (np.arange(1200) % 256).astype(np.uint8)
    conversation = [
        *unchecked(":WAVeform:SOURce CHANnel1", ":WAVeform:MODE NORMal", ":WAVeform:FORMat BYTE"),
        (":WAVeform:PREamble?", SCREEN_PREAMBLE),
        *settings_queries(),
        *chunk(1, 1200, codes.tobytes()),
        *END_OF_READOUT,
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        wf = scope.fetch_waveform(1)
    assert wf.samples.dtype == np.uint8 and np.array_equal(wf.samples, codes)
    assert (wf.channel, wf.unit, wf.dt) == ("CH1", "V", 2e-5)
    assert wf.t0 == pytest.approx(-1.456e-2)
    # volts = (code - yorigin - yreference) * yincrement; code 52 is 0 V here
    assert wf.values[52] == pytest.approx(0.0, abs=1e-12)
    assert wf.values[177] == pytest.approx((177 + 75 - 127) * 0.04)
    assert wf.settings["vertical_scale"] == 0.5 and wf.settings["probe_ratio"] == 10.0
    assert wf.settings["waveform_mode"] == "NORMal" and wf.settings["preamble_points"] == 1200


def test_fetch_max_reads_600000_points_in_three_chunks() -> None:
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=600_000, dtype=np.uint8)
    chunks = [(1, 250_000), (250_001, 500_000), (500_001, 600_000)]
    conversation = [
        *unchecked(
            ":STOP", ":WAVeform:SOURce CHANnel3", ":WAVeform:MODE RAW", ":WAVeform:FORMat BYTE"
        ),
        (":WAVeform:PREamble?", "0,2,600000,1,1.000000e-08,-3.000000e-03,0,4.132813e-01,0,122"),
        *settings_queries(3),
    ]
    for start, stop in chunks:
        conversation += chunk(start, stop, codes[start - 1 : stop].tobytes())
    conversation += END_OF_READOUT
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        wf = scope.fetch_waveform(3, points="max")
    assert len(wf) == 600_000 and np.array_equal(wf.samples, codes)
    assert (wf.dt, wf.t0, wf.channel) == (1e-8, -3e-3, "CH3")
    assert wf.offset == pytest.approx(-122 * 0.4132813)
    assert wf.settings["waveform_mode"] == "RAW"


def test_fetch_first_n_points_of_memory() -> None:
    conversation = [
        *unchecked(
            ":STOP", ":WAVeform:SOURce CHANnel1", ":WAVeform:MODE RAW", ":WAVeform:FORMat BYTE"
        ),
        (":WAVeform:PREamble?", "0,2,6000000,1,1.000000e-09,-3.000000e-03,0,4.132813e-01,0,122"),
        *settings_queries(),
        *chunk(1, 1000, bytes(1000)),
        *END_OF_READOUT,
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        assert len(scope.fetch_waveform(1, points=1000)) == 1000


def test_more_points_than_the_record_holds_is_refused() -> None:
    conversation = [
        *unchecked(
            ":STOP", ":WAVeform:SOURce CHANnel1", ":WAVeform:MODE RAW", ":WAVeform:FORMat BYTE"
        ),
        (":WAVeform:PREamble?", "0,2,12000,1,1e-06,0,0,0.04,0,127"),
        (ERR, OK),  # the setup's writes are checked before the refusal
    ]
    with (
        expected_protocol(RigolDS1000Z, conversation) as scope,
        pytest.raises(InstrumentError, match="record holds 12000"),
    ):
        scope.fetch_waveform(1, points=20_000)


def test_short_block_is_a_protocol_error() -> None:
    conversation = [
        *unchecked(":WAVeform:SOURce CHANnel1", ":WAVeform:MODE NORMal", ":WAVeform:FORMat BYTE"),
        (":WAVeform:PREamble?", SCREEN_PREAMBLE),
        *settings_queries(),
        *chunk(1, 1200, bytes(1199)),
        (ERR, OK),  # nothing queued for the short block: the protocol error stands
    ]
    with (
        expected_protocol(RigolDS1000Z, conversation, role="scope") as scope,
        pytest.raises(ProtocolError, match="holds 1199 bytes") as info,
    ):
        scope.fetch_waveform(1)
    assert info.value.command == ":WAVeform:DATA?"


def test_garbled_preamble_is_a_protocol_error() -> None:
    conversation = [
        *unchecked(":WAVeform:SOURce CHANnel1", ":WAVeform:MODE NORMal", ":WAVeform:FORMat BYTE"),
        (":WAVeform:PREamble?", "0,0,1200,1,2.0e-05,-1.4e-02,0,4.0e-02,-75"),
        (ERR, OK),
    ]
    with (
        expected_protocol(RigolDS1000Z, conversation) as scope,
        pytest.raises(ProtocolError, match="10 fields") as info,
    ):
        scope.fetch_waveform(1)
    assert info.value.received == "0,0,1200,1,2.0e-05,-1.4e-02,0,4.0e-02,-75"


@pytest.mark.parametrize("points", [0, -5, "all", True])
def test_bad_points_argument_sends_nothing(points: object) -> None:
    with (
        expected_protocol(RigolDS1000Z, []) as scope,
        pytest.raises(InstrumentError, match="points must be"),
    ):
        scope.fetch_waveform(1, points=points)  # type: ignore[arg-type]


def test_measure_item() -> None:
    conversation = [
        (":MEASure:ITEM? VPP,CHANnel1", "3.312000e+00"),
        (":MEASure:ITEM? FREQuency,CHANnel2", "9.9E37"),
    ]
    with expected_protocol(RigolDS1000Z, conversation) as scope:
        assert scope.measure_item("VPP", 1) == pytest.approx(3.312)
        assert math.isnan(scope.measure_item("freq", 2))


def test_a_rejected_query_is_explained_from_the_error_queue() -> None:
    silence = InstrumentTimeoutError(
        "no reply within 10 s", role="scope", command=":MEASure:ITEM? PSLEWrate,CHANnel1"
    )
    conversation: list[Exchange] = [
        (":MEASure:ITEM? PSLEWrate,CHANnel1", silence),
        (ERR, '-113,"Undefined header"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(RigolDS1000Z, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Undefined header") as info,
    ):
        scope.measure_item("PSLEWrate", 1)
    assert info.value.command == ":MEASure:ITEM? PSLEWrate,CHANnel1"
    assert info.value.__cause__ is silence


def test_a_silent_instrument_with_an_empty_queue_stays_a_timeout() -> None:
    silence = InstrumentTimeoutError("no reply within 10 s", role="scope", command="*IDN?")
    conversation: list[Exchange] = [("*IDN?", silence), (ERR, OK)]
    with (
        expected_protocol(RigolDS1000Z, conversation) as scope,
        pytest.raises(InstrumentTimeoutError),
    ):
        scope.identify()


def test_unknown_measure_item_sends_nothing() -> None:
    with (
        expected_protocol(RigolDS1000Z, []) as scope,
        pytest.raises(InstrumentError, match="unknown measurement item"),
    ):
        scope.measure_item("RDELay", 1)


def test_safe_state_leaves_the_scope_alone() -> None:
    with expected_protocol(RigolDS1000Z, []) as scope:
        scope.safe_state()
        scope.safe_state()


def test_identify() -> None:
    idn = "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP3"
    with expected_protocol(RigolDS1000Z, [("*IDN?", idn)]) as scope:
        identity = scope.identify()
    assert (identity.manufacturer, identity.model) == ("RIGOL TECHNOLOGIES", "DS1104Z")
