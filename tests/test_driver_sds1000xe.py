"""Siglent SDS1000X-E driver against scripted conversations in the legacy command set.

Replies are scripted as the guide prints them, with header and units (`C1:VDIV 5.00E-01V`,
`SARA 1.00GSa/s`); a byte-level conversation shows the `C1:WF DAT2,` echo and the two LF.
"""

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
)
from instruments.capabilities import Oscilloscope
from instruments.siglent.sds1000xe import SiglentSDS1000XE, parse_quantity

CMR, CLEAN = "CMR?", "CMR 0"


def checked(*commands: str) -> list[Exchange]:
    """Configuration writes, each followed by an empty command error register."""
    return [step for command in commands for step in ((command, None), (CMR, CLEAN))]


# The guide's worked example: 0.5 V/div, -0.5 V offset, 5 ns/div, TRDL -5 ns, 1 GSa/s.
SETUP = (
    ("C1:VDIV?", "C1:VDIV 5.00E-01V"),
    ("C1:OFST?", "C1:OFST -5.00E-01V"),
    ("C1:ATTN?", "C1:ATTN 1"),
    ("TDIV?", "TDIV 5.00E-09S"),
    ("TRDL?", "TRDL -5.000000ns"),
    ("SARA?", "SARA 1.00GSa/s"),
)


def setup_queries(points: str = "SANU 70pts") -> list[Exchange]:
    """The settings a readout queries first, then the memory size `points`."""
    return [*SETUP, ("SANU? C1", points)]


def test_driver_provides_the_oscilloscope_capability() -> None:
    with expected_protocol(SiglentSDS1000XE, []) as scope:
        assert isinstance(scope, Oscilloscope)
    assert (SiglentSDS1000XE.block_terminators, SiglentSDS1000XE.error_query) == (2, "CMR?")


def test_connect_clears_status_and_pins_the_short_header_format() -> None:
    with expected_protocol(SiglentSDS1000XE, [("*CLS", None), *checked("CHDR SHORT")]) as scope:
        scope.on_connect()


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("C1:VDIV 5.00E-01V", 0.5),
        ("C1:OFST -5.00E-01V", -0.5),
        ("TDIV 5.00E-09S", 5e-9),
        ("TRDL -5.000000ns", -5e-9),
        ("SARA 1.00GSa/s", 1e9),
        ("SARA 500.00MSa/s", 5e8),
        ("SANU 14Mpts", 14e6),
        ("SANU 7.00Kpts", 7e3),
        ("C1:VDIV 200E-3 V", 0.2),  # long/short header with a spaced unit
        ("200E-3", 0.2),  # CHDR OFF: neither header nor unit
        ("99.80us", 99.8e-6),
        ("10.02KHz", 10020.0),
    ],
)
def test_replies_with_header_prefix_and_unit(reply: str, value: float) -> None:
    assert parse_quantity(reply) == pytest.approx(value)


@pytest.mark.parametrize("reply", ["", "C1:VDIV", "C1:VDIV 5.00E-01Q", "CMR ten"])
def test_garbled_quantities_are_refused(reply: str) -> None:
    with pytest.raises(ValueError, match=r"not a number|unknown unit"):
        parse_quantity(reply)


def test_configure_channel_sets_probe_before_scale() -> None:
    conversation = checked("C2:TRA ON", "C2:ATTN 10", "C2:VDIV 0.5", "C2:OFST -1.0", "C2:CPL A1M")
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        scope.configure_channel(2, scale=0.5, offset=-1.0, coupling="AC", probe=10)


def test_channel_settings_read_back_through_headers() -> None:
    conversation = [
        ("C3:TRA?", "C3:TRA OFF"),
        ("C3:CPL?", "C3:CPL D50"),
        ("C3:ATTN?", "C3:ATTN 10"),
        ("SANU? C3", "SANU 1.4Mpts"),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        channel = scope.channel(3)
        assert channel.enabled is False and channel.coupling == "DC"
        assert channel.probe == 10.0 and channel.memory_points == 1_400_000


@pytest.mark.parametrize("kwargs", [{"probe": 3.0}, {"coupling": "LF"}, {"scale": -1.0}])
def test_invalid_channel_setting_is_refused_with_nothing_sent(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"scale": 0.5, **kwargs}
    with (
        expected_protocol(SiglentSDS1000XE, [], role="scope") as scope,
        pytest.raises(InvalidValueError, match=r"\[scope\]"),
    ):
        scope.configure_channel(1, **settings)  # type: ignore[arg-type]


def test_configure_timebase() -> None:
    with expected_protocol(SiglentSDS1000XE, checked("TDIV 5e-05", "TRDL 0.0002")) as scope:
        scope.configure_timebase(scale=50e-6, position=200e-6)


def test_edge_trigger_level_and_slope_belong_to_the_source_channel() -> None:
    conversation = checked("TRSE EDGE,SR,C2,HT,OFF", "C2:TRSL NEG", "C2:TRLV 1.65", "TRMD NORM")
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        scope.configure_edge_trigger(source=2, level=1.65, slope="falling", sweep="normal")


def test_single_sweep_trigger_clears_the_state_register_first() -> None:
    conversation = [
        *checked("TRSE EDGE,SR,C1,HT,OFF", "C1:TRSL POS", "C1:TRLV 0.1"),
        ("INR?", "INR 1"),
        *checked("TRMD SINGLE"),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        scope.configure_edge_trigger(source=1, level=0.1, sweep="single")


def test_either_slope_is_not_offered_and_nothing_is_sent() -> None:
    with (
        expected_protocol(SiglentSDS1000XE, []) as scope,
        pytest.raises(InvalidValueError, match="'either'"),
    ):
        scope.configure_edge_trigger(source=1, level=0.0, slope="either")


def test_trigger_source_reads_back_from_trse() -> None:
    conversation = [("TRSE?", "TRSE EDGE,SR,C3,HT,OFF"), ("TRMD?", "TRMD STOP")]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        assert scope.trigger_source == 3 and scope.trigger_mode == "stop"


def test_run_returns_to_the_configured_sweep_stop_and_single() -> None:
    conversation = [
        *checked("TRSE EDGE,SR,C1,HT,OFF", "C1:TRSL POS", "C1:TRLV 0.5", "TRMD NORM"),
        *checked("STOP", "TRMD NORM"),
        ("INR?", "INR 0"),
        *checked("ARM"),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        scope.configure_edge_trigger(source=1, level=0.5)
        scope.stop()
        scope.run()
        scope.single()


def test_wait_for_trigger_polls_the_new_signal_bit() -> None:
    conversation = [("INR?", "INR 8192"), ("INR?", "INR 0"), ("INR?", "INR 8193")]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        scope.poll_interval = 0.0
        scope.wait_for_trigger(timeout=5.0)


def test_wait_for_trigger_timeout_names_the_last_state() -> None:
    with (
        expected_protocol(SiglentSDS1000XE, [("INR?", "INR 8192")], role="scope") as scope,
        pytest.raises(InstrumentTimeoutError, match="8192") as info,
    ):
        scope.wait_for_trigger(timeout=0.0)
    assert info.value.command == "INR?"


def test_fetch_screen_converts_the_guides_worked_example() -> None:
    codes = np.array([2, 0, -1, 127, -128] + [0] * 65, dtype=np.int8)
    conversation = [
        *setup_queries(),
        *checked("WFSU SP,1,NP,70,FP,0"),
        ("C1:WF? DAT2", codes.tobytes()),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        wf = scope.fetch_waveform(1)
    assert wf.samples.dtype == np.int8 and np.array_equal(wf.samples, codes)
    assert wf.values[0] == pytest.approx(0.54)  # code 2, VDIV 0.5 V, OFST -0.5 V
    assert wf.values[2] == pytest.approx(-0.02 + 0.5)  # signed: 0xFF is -1
    assert wf.t0 == pytest.approx(-40e-9) and wf.time[1] == pytest.approx(-39e-9)
    assert wf.dt == pytest.approx(1e-9) and (wf.unit, wf.channel) == ("V", "CH1")
    assert wf.settings["memory_points"] == 70 and wf.settings["horizontal_divisions"] == 14


def test_fetch_screen_decimates_a_deep_record_with_sparsing() -> None:
    conversation = [
        *setup_queries("SANU 14Kpts"),
        *checked("WFSU SP,10,NP,1400,FP,0"),
        ("C1:WF? DAT2", bytes(1400)),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        wf = scope.fetch_waveform(1, "screen")
    assert len(wf) == 1400 and wf.dt == pytest.approx(10e-9)
    assert wf.settings["sparsing"] == 10


def test_fetch_max_stops_and_reads_in_chunks_with_wfsu() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(-128, 128, size=2500, dtype=np.int8)
    conversation = [*checked("STOP"), *setup_queries("SANU 2.5Kpts")]
    for first in (0, 1000, 2000):
        count = min(1000, 2500 - first)
        conversation += checked(f"WFSU SP,1,NP,{count},FP,{first}")
        conversation.append(("C1:WF? DAT2", codes[first : first + count].tobytes()))
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        scope.max_points_per_read = 1000
        wf = scope.fetch_waveform(1, "max")
    assert np.array_equal(wf.samples, codes)


def test_first_n_points_and_a_record_too_short() -> None:
    conversation = [
        *checked("STOP"),
        *setup_queries(),
        *checked("WFSU SP,1,NP,20,FP,0"),
        ("C1:WF? DAT2", bytes(20)),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        assert len(scope.fetch_waveform(1, 20)) == 20
    with (
        expected_protocol(SiglentSDS1000XE, [*checked("STOP"), *setup_queries()]) as scope,
        pytest.raises(InstrumentError, match="record holds 70"),
    ):
        scope.fetch_waveform(1, 100)


def test_measurements_parse_the_parameter_reply() -> None:
    conversation = [
        ("C1:PAVA? PKPK", "C1:PAVA PKPK,1.04E+00V"),
        ("C2:PAVA? RISE", "C2:PAVA RISE,3.60E-09S"),
        ("C3:PAVA? FREQ", "C3:PAVA FREQ,****"),
    ]
    with expected_protocol(SiglentSDS1000XE, conversation) as scope:
        assert scope.measure_item("pkpk", 1) == pytest.approx(1.04)
        assert scope.measure_item("RISE", 2) == pytest.approx(3.6e-9)
        assert math.isnan(scope.measure_item("FREQ", 3))


def test_unknown_parameter_sends_nothing() -> None:
    with (
        expected_protocol(SiglentSDS1000XE, []) as scope,
        pytest.raises(InstrumentError, match="unknown measurement item"),
    ):
        scope.measure_item("VPP", 1)


def test_command_error_register_names_the_command() -> None:
    conversation = [("TDIV 0.0001", None), (CMR, "CMR 11")]
    with (
        expected_protocol(SiglentSDS1000XE, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Invalid parameter") as info,
    ):
        scope.timebase_scale = 1e-4
    assert (info.value.command, info.value.code, info.value.received) == (
        "TDIV 0.0001",
        11,
        "CMR 11",
    )


def test_a_silent_query_is_explained_by_the_command_error_register() -> None:
    silence = InstrumentTimeoutError("no reply", role="scope", command="C1:PAVA? PKPK")
    conversation: list[Exchange] = [("C1:PAVA? PKPK", silence), (CMR, "CMR 1")]
    with (
        expected_protocol(SiglentSDS1000XE, conversation, role="scope") as scope,
        pytest.raises(InstrumentReportedError, match="Unrecognized command") as info,
    ):
        scope.measure_item("PKPK", 1)
    assert info.value.__cause__ is silence
