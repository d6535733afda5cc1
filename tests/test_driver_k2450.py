"""Keithley 2450 driver against scripted conversations in its native SCPI command set."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import (
    InstrumentError,
    InstrumentReportedError,
    ProtocolError,
    SafetyError,
)
from benchtest.values.ratings import Rating, SourceGuard
from instruments.capabilities import SourceMeter
from instruments.keithley.k2450 import Keithley2450

OK = '0,"No error;0;0 0"'
ERR = ":SYSTem:ERRor?"
LDO_GUARD = SourceGuard(
    ratings=(
        Rating("vin", "voltage", "V", min=-0.3, max=6.0, part="BT-LDO33"),
        Rating("iin", "current", "A", max=0.5, part="BT-LDO33"),
    ),
    role="smu",
)


def checked(command: str) -> list[tuple[str, str | None]]:
    """A configuration write followed by an empty error queue."""
    return [(command, None), (ERR, OK)]


def test_driver_provides_the_source_meter_capability() -> None:
    # Checked on the class: on Python 3.11 isinstance() would read output_enabled (a query).
    members = {n for n in vars(SourceMeter) if not n.startswith("_")} | {"identify", "close"}
    missing = {n for n in members if not hasattr(Keithley2450, n)}
    assert "output_enabled" in members and not missing
    assert Keithley2450.driver_name == "keithley.k2450"


def test_connect_accepts_native_scpi_and_clears_status() -> None:
    with expected_protocol(Keithley2450, [("*LANG?", "SCPI"), ("*CLS", None)]) as smu:
        smu.on_connect()


def test_connect_refuses_tsp_mode_and_explains_the_power_cycle() -> None:
    with (
        expected_protocol(Keithley2450, [("*LANG?", "TSP")], role="smu") as smu,
        pytest.raises(InstrumentError, match="power-cycle") as info,
    ):
        smu.on_connect()
    assert "*LANG SCPI" in str(info.value)
    assert info.value.role == "smu"


def test_identify_parses_idn() -> None:
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 2450,04096331,1.7.3b"
    with expected_protocol(Keithley2450, [("*IDN?", idn)]) as smu:
        identity = smu.identify()
    assert (identity.model, identity.serial, identity.firmware) == (
        "MODEL 2450",
        "04096331",
        "1.7.3b",
    )


def test_source_voltage_sets_function_limit_then_level() -> None:
    conversation = [
        *checked(":SOURce:FUNCtion VOLTage"),
        *checked(":SOURce:VOLTage:ILIMit 0.1"),
        *checked(":SOURce:VOLTage 5.0"),
    ]
    with expected_protocol(Keithley2450, conversation, guard=LDO_GUARD) as smu:
        smu.source_voltage(5.0, current_limit=0.1)


def test_source_current_sets_function_limit_then_level() -> None:
    conversation = [
        *checked(":SOURce:FUNCtion CURRent"),
        *checked(":SOURce:CURRent:VLIMit 5.5"),
        *checked(":SOURce:CURRent 0.001"),
    ]
    with expected_protocol(Keithley2450, conversation, guard=LDO_GUARD) as smu:
        smu.source_current(1e-3, voltage_limit=5.5)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda smu: smu.source_voltage(10.0, current_limit=0.1), "vin <= 6"),
        (lambda smu: smu.source_voltage(-1.0, current_limit=0.1), "vin >= -0.3"),
        (lambda smu: smu.source_voltage(5.0, current_limit=0.8), "iin <= 0.5"),
        (lambda smu: smu.source_current(0.6, voltage_limit=5.0), "iin <= 0.5"),
        (lambda smu: smu.source_current(0.01, voltage_limit=7.0), "vin <= 6"),
    ],
)
def test_guard_refuses_beyond_absolute_maximum_with_nothing_sent(
    call: Callable[[Keithley2450], None], words: str
) -> None:
    with (
        expected_protocol(Keithley2450, [], guard=LDO_GUARD) as smu,
        pytest.raises(SafetyError, match="nothing was sent") as info,
    ):
        call(smu)
    assert words in str(info.value)
    assert "[smu]" in str(info.value)


def test_guard_also_covers_the_declared_setpoint_property() -> None:
    with (
        expected_protocol(Keithley2450, [], guard=LDO_GUARD) as smu,
        pytest.raises(SafetyError, match="voltage_setpoint"),
    ):
        smu.voltage_setpoint = 6.5


def test_out_of_range_limit_is_refused_before_sending() -> None:
    with (
        expected_protocol(Keithley2450, [], role="smu") as smu,
        pytest.raises(InvalidValueError, match="current_limit") as info,
    ):
        smu.source_voltage(1.0, current_limit=2.0)
    assert info.value.command == ":SOURce:VOLTage:ILIMit 2.0"
    assert "[smu]" in str(info.value)


def test_rejected_value_is_reported_from_the_error_queue() -> None:
    conversation = [
        *checked(":SOURce:FUNCtion VOLTage"),
        *checked(":SOURce:VOLTage:ILIMit 0.1"),
        (":SOURce:VOLTage 5.0", None),
        (ERR, '-221,"Settings conflict;1;2026/01/02 10:00:00.000"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(InstrumentReportedError, match="Settings conflict") as info,
    ):
        smu.source_voltage(5.0, current_limit=0.1)
    assert info.value.code == -221
    assert info.value.command == ":SOURce:VOLTage 5.0"
    assert "2026/01/02" not in str(info.value).split("received")[0]


def test_output_on_off_and_state() -> None:
    conversation = [
        *checked(":OUTPut:STATe ON"),
        (":OUTPut:STATe?", "1"),
        *checked(":OUTPut:STATe OFF"),
        (":OUTPut:STATe?", "0"),
    ]
    with expected_protocol(Keithley2450, conversation) as smu:
        smu.output_on()
        assert smu.output_enabled is True
        smu.output_off()
        assert smu.output_enabled is False


def test_measure_current_autorange() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),  # a reading needs the output on
        *checked(':SENSe:FUNCtion "CURRent"'),
        *checked(":SENSe:CURRent:RANGe:AUTO ON"),
        (":READ?", "-1.375422E-06"),
    ]
    with expected_protocol(Keithley2450, conversation) as smu:
        assert smu.measure_current() == pytest.approx(-1.375422e-6)


def test_measure_voltage_fixed_range_and_nplc() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),  # a reading needs the output on
        *checked(':SENSe:FUNCtion "VOLTage"'),
        *checked(":SENSe:VOLTage:RANGe 2"),
        *checked(":SENSe:VOLTage:NPLCycles 1"),
        (":READ?", "+3.300012E+00"),
    ]
    with expected_protocol(Keithley2450, conversation) as smu:
        assert smu.measure_voltage(range=2, nplc=1) == pytest.approx(3.300012)


@pytest.mark.parametrize("reply", ["9.9E37", "+9.91000E+37", "-9.9E37"])
def test_no_value_reply_reads_as_nan(reply: str) -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),
        *checked(':SENSe:FUNCtion "CURRent"'),
        *checked(":SENSe:CURRent:RANGe:AUTO ON"),
        (":READ?", reply),
        (ERR, OK),  # no value: did the reading queue an error?
    ]
    with expected_protocol(Keithley2450, conversation) as smu:
        assert math.isnan(smu.measure_current())


def test_garbled_reading_is_a_protocol_error_naming_what_arrived() -> None:
    conversation = [
        (":OUTPut:STATe?", "1"),
        *checked(':SENSe:FUNCtion "CURRent"'),
        *checked(":SENSe:CURRent:RANGe:AUTO ON"),
        (":READ?", "1.2E-0\x153"),
        (ERR, OK),  # after the session is back in step: nothing queued for the reading
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(ProtocolError) as info,
    ):
        smu.measure_current()
    assert info.value.command == ":READ?"
    assert info.value.received == "1.2E-0\x153"
    assert smu.transport.resyncs == 1  # type: ignore[attr-defined]


def test_bad_nplc_is_refused_before_the_function_changes() -> None:
    with expected_protocol(Keithley2450, []) as smu, pytest.raises(InvalidValueError, match="nplc"):
        smu.measure_current(nplc=50)


def test_safe_state_turns_output_off_then_zeroes_the_present_source() -> None:
    once = [
        (":OUTPut:STATe OFF", None),
        (":SOURce:FUNCtion?", "CURR"),
        (":SOURce:CURRent 0", None),
        (ERR, OK),
    ]
    twice = [
        *once,
        (":OUTPut:STATe OFF", None),
        (":SOURce:FUNCtion?", "VOLT"),
        (":SOURce:VOLTage 0", None),
        (ERR, OK),
    ]
    with expected_protocol(Keithley2450, twice) as smu:
        smu.safe_state()
        smu.safe_state()


def test_safe_state_finishes_zeroing_before_reporting_a_stale_error() -> None:
    conversation = [
        (":OUTPut:STATe OFF", None),
        (":SOURce:FUNCtion?", "VOLT"),
        (":SOURce:VOLTage 0", None),
        (ERR, '-222,"Data out of range;1;2026/01/02 10:00:00.000"'),
        (ERR, OK),
    ]
    with (
        expected_protocol(Keithley2450, conversation) as smu,
        pytest.raises(InstrumentReportedError) as info,
    ):
        smu.safe_state()
    assert info.value.code == -222


def test_open_rejects_unknown_options_before_connecting() -> None:
    with pytest.raises(InstrumentError, match="unknown option"):
        Keithley2450.open("TCPIP::127.0.0.1::1::SOCKET", role="smu", baud=9600)


# -- buffered sweeps -------------------------------------------------------------------------

SWEEP_SETUP = [
    *checked(":SOURce:FUNCtion VOLTage"),
    *checked(":SOURce:VOLTage:ILIMit 0.01"),
    *checked(':SENSe:FUNCtion "CURRent"'),
]
PRESENT_NPLC = [(":SENSe:CURRent:NPLCycles?", "1")]  # how long the sweep takes
BUFFER_HOLDS = [(':TRACe:POINts? "defbuffer1"', "10000")]  # the capacity after a reset


def run_and_read(points: int, reply: str) -> list[tuple[str, str | None]]:
    return [
        (":INITiate", None),
        ("*WAI", None),
        (':TRACe:ACTual? "defbuffer1"', str(points)),
        (f':TRACe:DATA? 1,{points},"defbuffer1",SOUR,READ', reply),
        (ERR, OK),
    ]


def test_equally_spaced_levels_run_as_one_linear_sweep_read_in_one_transfer() -> None:
    conversation = [
        *SWEEP_SETUP,
        *PRESENT_NPLC,
        *BUFFER_HOLDS,
        *checked(':SOURce:SWEep:VOLTage:LINear 0.0,5.0,3,-1,1,BEST,OFF,OFF,"defbuffer1"'),
        *run_and_read(3, "0.000000E+00,0.000000E+00,2.5E+00,4.5E-05,5.0E+00,9.91E+37"),
    ]
    with expected_protocol(Keithley2450, conversation, guard=LDO_GUARD) as smu:
        result = smu.sweep_voltage([0.0, 2.5, 5.0], current_limit=0.01)
    assert list(result.source) == [0.0, 2.5, 5.0]
    assert result.measured[1] == pytest.approx(45e-6) and math.isnan(result.measured[2])
    assert (result.source_unit, result.measured_unit) == ("V", "A")


def test_other_levels_are_split_into_list_commands_of_100_values() -> None:
    levels = [round(0.01 * ((i * 37) % 250), 2) for i in range(250)]  # not equally spaced
    chunks = [levels[:100], levels[100:200], levels[200:]]
    text = [",".join(repr(v) for v in chunk) for chunk in chunks]
    reply = ",".join(f"{v},1e-06" for v in levels)
    conversation = [
        *SWEEP_SETUP,
        *checked(":SENSe:CURRent:NPLCycles 0.1"),
        *BUFFER_HOLDS,
        *checked(f":SOURce:LIST:VOLTage {text[0]}"),
        *checked(f":SOURce:LIST:VOLTage:APPend {text[1]}"),
        *checked(f":SOURce:LIST:VOLTage:APPend {text[2]}"),
        *checked(':SOURce:SWEep:VOLTage:LIST 1,0.002,1,OFF,"defbuffer1"'),
        *run_and_read(250, reply),
    ]
    with expected_protocol(Keithley2450, conversation, guard=LDO_GUARD) as smu:
        result = smu.sweep_voltage(levels, current_limit=0.01, delay=0.002, nplc=0.1)
    assert len(result) == 250 and list(result.source) == levels


def test_a_sweep_longer_than_the_buffer_grows_it_first() -> None:
    """defbuffer1 fills continuously: a sweep longer than its capacity (here what a capture
    left it at) would overwrite its own first readings, so the buffer is grown first."""
    conversation = [
        *SWEEP_SETUP,
        *PRESENT_NPLC,
        (':TRACe:POINts? "defbuffer1"', "2"),
        *checked(':TRACe:POINts 3,"defbuffer1"'),
        *checked(':SOURce:SWEep:VOLTage:LINear 0.0,1.0,3,-1,1,BEST,OFF,OFF,"defbuffer1"'),
        *run_and_read(3, "0,1e-6,0.5,2e-6,1.0,3e-6"),
    ]
    with expected_protocol(Keithley2450, conversation, guard=LDO_GUARD) as smu:
        result = smu.sweep_voltage([0.0, 0.5, 1.0], current_limit=0.01)
    assert list(result.measured) == [1e-6, 2e-6, 3e-6]


def test_current_sweep_limits_the_voltage_and_reads_it() -> None:
    conversation = [
        *checked(":SOURce:FUNCtion CURRent"),
        *checked(":SOURce:CURRent:VLIMit 5.5"),
        *checked(':SENSe:FUNCtion "VOLTage"'),
        (":SENSe:VOLTage:NPLCycles?", "1"),
        *BUFFER_HOLDS,
        *checked(':SOURce:SWEep:CURRent:LINear 0.0,0.001,2,0.01,1,BEST,OFF,OFF,"defbuffer1"'),
        *run_and_read(2, "0,0,1E-03,5.5"),
    ]
    with expected_protocol(Keithley2450, conversation, guard=LDO_GUARD) as smu:
        result = smu.sweep_current([0.0, 1e-3], voltage_limit=5.5, delay=0.01)
    assert list(result.measured) == [0.0, 5.5] and result.measured_unit == "V"


@pytest.mark.parametrize(
    ("levels", "limit", "words"),
    [
        ([0.0, 3.0, 6.5], 0.01, "vin <= 6"),
        ([0.0, -1.0], 0.01, "vin >= -0.3"),
        ([0.0, 5.0], 0.8, "iin <= 0.5"),
    ],
)
def test_sweep_guard_checks_every_level_and_the_limit_before_sending(
    levels: list[float], limit: float, words: str
) -> None:
    with (
        expected_protocol(Keithley2450, [], guard=LDO_GUARD) as smu,
        pytest.raises(SafetyError, match="nothing was sent") as info,
    ):
        smu.sweep_voltage(levels, current_limit=limit)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"levels": []}, {"levels": [0.0, float("nan")]}, {"levels": [1.0], "delay": -1.0},
     {"levels": [1.0], "nplc": 50.0}, {"levels": [300.0]},
     # the sweep commands take a delay of 0 or 50 us .. 10 000 s (-1 is the auto delay)
     {"levels": [0.0, 1.0], "delay": 1e-5}, {"levels": [0.0, 0.3, 1.0], "delay": 2e4}],
)  # fmt: skip
def test_bad_sweep_requests_send_nothing(kwargs: dict[str, object]) -> None:
    with expected_protocol(Keithley2450, []) as smu, pytest.raises(InvalidValueError):
        smu.sweep_voltage(current_limit=0.01, **kwargs)  # type: ignore[arg-type]


def test_a_sweep_that_stored_fewer_points_names_what_arrived() -> None:
    conversation = [
        *SWEEP_SETUP,
        *PRESENT_NPLC,
        *BUFFER_HOLDS,
        *checked(':SOURce:SWEep:VOLTage:LINear 0.0,1.0,2,-1,1,BEST,OFF,OFF,"defbuffer1"'),
        (":INITiate", None),
        ("*WAI", None),
        (':TRACe:ACTual? "defbuffer1"', "1"),
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(InstrumentError, match="stored 1 of 2") as info,
    ):
        smu.sweep_voltage([0.0, 1.0], current_limit=0.01)
    assert info.value.received == "1"


def test_garbled_sweep_data_is_a_protocol_error() -> None:
    conversation = [
        *SWEEP_SETUP,
        *PRESENT_NPLC,
        *BUFFER_HOLDS,
        *checked(':SOURce:SWEep:VOLTage:LINear 0.0,1.0,2,-1,1,BEST,OFF,OFF,"defbuffer1"'),
        *run_and_read(2, "0,1e-6,1.0")[:-1],
        (ERR, OK),
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(ProtocolError, match="points of 2") as info,
    ):
        smu.sweep_voltage([0.0, 1.0], current_limit=0.01)
    assert info.value.command == ':TRACe:DATA? 1,2,"defbuffer1",SOUR,READ'
    assert info.value.received == "0,1e-6,1.0"
