"""Siglent SPD3303X driver: strict keywords, output state from status bits, paced commands."""

from __future__ import annotations

import pytest

from benchtest.driver.pacing import PacedTransport, Pacer
from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import Exchange, ScriptedTransport, expected_protocol
from benchtest.values.errors import InstrumentError, InstrumentReportedError, SafetyError
from benchtest.values.ratings import Rating, SourceGuard
from instruments.siglent.spd3303x import SiglentSPD3303X, SpdStatus

OK = "0 No error"
ERR = "SYSTem:ERRor?"
GUARD = SourceGuard(
    ratings=(Rating("vin", "voltage", "V", max=6.0), Rating("iin", "current", "A", max=5.0)),
    role="psu",
)


def checked(command: str) -> list[Exchange]:
    return [(command, None), (ERR, OK)]


class FakeClock:
    """Time that only moves when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        self.now += seconds


class TimedScript(ScriptedTransport):
    """A scripted conversation that notes the (fake) time each command was sent."""

    def __init__(self, conversation: list[Exchange], clock: FakeClock) -> None:
        super().__init__(conversation, role="psu")
        self.clock = clock
        self.sent: list[tuple[float, str]] = []

    def write(self, command: str) -> None:
        self.sent.append((self.clock.now, command))
        super().write(command)

    def query(self, command: str) -> str:
        self.sent.append((self.clock.now, command))
        return super().query(command)


def paced(conversation: list[Exchange]) -> tuple[SiglentSPD3303X, TimedScript, FakeClock]:
    clock = FakeClock()
    script = TimedScript(conversation, clock)
    pacer = Pacer(SiglentSPD3303X.command_interval, clock=clock.time, sleep=clock.sleep)
    return SiglentSPD3303X(PacedTransport(script, pacer), role="psu"), script, clock


@pytest.mark.parametrize(
    ("word", "ch1", "ch2", "cc1", "mode"),
    [
        ("0x0224", False, True, False, "independent"),
        ("0x0014", True, False, False, "independent"),
        ("0x003D", True, True, True, "series"),
        ("0x0008", False, False, False, "parallel"),
        ("30", True, True, False, "unknown"),
    ],
)
def test_status_word_decoding(word: str, ch1: bool, ch2: bool, cc1: bool, mode: str) -> None:
    status = SpdStatus.parse(word)
    assert (status.output_on(1), status.output_on(2)) == (ch1, ch2)
    assert status.constant_current(1) is cc1 and status.mode == mode


def test_output_state_of_ch1_and_ch2_comes_from_the_status_bits() -> None:
    conversation = [("SYSTem:STATus?", "0x0224"), ("SYSTem:STATus?", "0x0224")]
    with expected_protocol(SiglentSPD3303X, conversation) as psu:
        assert psu.output_enabled(1) is False
        assert psu.output_enabled(2) is True


def test_ch3_output_state_is_unknown_and_says_so() -> None:
    with (
        expected_protocol(SiglentSPD3303X, [], role="psu") as psu,
        pytest.raises(InstrumentError, match="no output state for CH3"),
    ):
        psu.output_enabled(3)


def test_settings_use_the_documented_keyword_spelling() -> None:
    conversation = [
        *checked("CH1:VOLTage 3.3"),
        *checked("CH1:CURRent 0.5"),
        *checked("OUTPut CH1,ON"),
        *checked("OUTPut CH3,OFF"),
        ("MEASure:VOLTage? CH1", "3.300"),
        ("MEASure:CURRent? CH1", "0.000"),
    ]
    with expected_protocol(SiglentSPD3303X, conversation, guard=GUARD) as psu:
        psu.set_voltage(1, 3.3)
        psu.set_current_limit(1, 0.5)
        psu.output_on(1)
        psu.output_off(3)
        assert psu.measure_voltage(1) == 3.3 and psu.measure_current(1) == 0.0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda psu: psu.set_voltage(1, 6.5), SafetyError),
        (lambda psu: psu.set_voltage(3, 3.3), InvalidValueError),
        (lambda psu: psu.measure_voltage(3), InvalidValueError),
        (lambda psu: psu.set_current_limit(2, 4.0), InvalidValueError),
    ],
)
def test_refused_requests_send_nothing(call: object, error: type[Exception]) -> None:
    with (
        expected_protocol(SiglentSPD3303X, [], guard=GUARD) as psu,
        pytest.raises(error, match="nothing was sent"),
    ):
        call(psu)  # type: ignore[operator]


def test_connect_reads_stale_errors_off_instead_of_cls() -> None:
    conversation = [(ERR, "-113 Undefined header"), (ERR, OK)]
    with expected_protocol(SiglentSPD3303X, conversation) as psu:
        psu.on_connect()


def test_an_error_reply_separated_by_a_space_is_reported() -> None:
    conversation = [("CH2:VOLTage 5.0", None), (ERR, "-222 Data out of range"), (ERR, OK)]
    with (
        expected_protocol(SiglentSPD3303X, conversation, role="psu") as psu,
        pytest.raises(InstrumentReportedError, match="Data out of range") as info,
    ):
        psu.set_voltage(2, 5.0)
    assert info.value.code == -222 and info.value.command == "CH2:VOLTage 5.0"


def test_every_command_waits_the_interval_after_the_previous_exchange() -> None:
    psu, script, clock = paced([("SYSTem:STATus?", "0x0010"), *checked("CH1:VOLTage 5.0")])
    assert psu.output_enabled(1) is True
    psu.set_voltage(1, 5.0)
    assert script.unused == []
    assert [t for t, _ in script.sent] == pytest.approx([0.0, 0.05, 0.10])
    assert clock.sleeps == [0.05, 0.05]


def test_no_wait_once_the_interval_has_passed() -> None:
    psu, _, clock = paced([*checked("OUTPut CH2,ON"), *checked("OUTPut CH2,OFF")])
    psu.output_on(2)
    clock.now += 1.0  # the plan did something else for a second
    psu.output_off(2)
    assert clock.sleeps == [0.05, 0.05]  # only before each error query


def test_safe_state_switches_all_three_off_and_zeroes_ch1_ch2() -> None:
    conversation = [
        ("OUTPut CH1,OFF", None),
        ("OUTPut CH2,OFF", None),
        ("OUTPut CH3,OFF", None),
        ("CH1:VOLTage 0", None),
        ("CH2:VOLTage 0", None),
        (ERR, OK),
    ]
    with expected_protocol(SiglentSPD3303X, conversation) as psu:
        psu.safe_state()
