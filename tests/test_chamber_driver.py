"""ThermoStream ATS-545 driver against scripted conversations in its remote command set."""

from __future__ import annotations

import pytest

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import (
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
    SafetyError,
)
from benchtest.values.ratings import Rating, SourceGuard
from instruments.capabilities import conformance_problems
from instruments.temptronic.ats545 import ThermoStreamATS545

ESR = "*ESR?"
GUARD = SourceGuard(
    ratings=(Rating("tj", "temperature", "degC", min=-40.0, max=125.0, part="BT-LDO33"),),
    role="chamber",
)


def checked(command: str) -> list[tuple[str, str | None]]:
    """A setting followed by a clean standard event status register."""
    return [(command, None), (ESR, "0")]


def test_driver_provides_the_chamber_capability() -> None:
    assert conformance_problems(ThermoStreamATS545) == []
    assert ThermoStreamATS545.driver_name == "temptronic.ats545"
    assert ThermoStreamATS545.capabilities == ("Chamber",)


@pytest.mark.parametrize(
    ("celsius", "setpoint"), [(-40.0, "2"), (20.0, "2"), (25.0, "1"), (30.0, "0"), (125.0, "0")]
)
def test_set_temperature_selects_the_setpoint_sets_it_and_starts_the_flow(
    celsius: float, setpoint: str
) -> None:
    script = [
        *checked(f"SETN {setpoint}"),
        *checked(f"SETP {celsius!r}"),
        *checked("SOAK 0.5"),
        *checked("FLOW 1"),
    ]
    with expected_protocol(ThermoStreamATS545, script, guard=GUARD, soak_time=0.5) as chamber:
        chamber.set_temperature(celsius)


@pytest.mark.parametrize(("celsius", "rating"), [(130.0, "tj <= 125 degC"), (-45.0, "tj >= -40")])
def test_a_temperature_beyond_the_ratings_is_refused_before_anything_is_sent(
    celsius: float, rating: str
) -> None:
    with (
        expected_protocol(ThermoStreamATS545, [], guard=GUARD) as chamber,
        pytest.raises(SafetyError, match=rf"\[chamber\] refused .*{rating}.*nothing was sent"),
    ):
        chamber.set_temperature(celsius)


def test_an_execution_error_names_the_command() -> None:
    script = [("SETN 0", None), (ESR, "0"), ("SETP 200.0", None), (ESR, "16")]
    with (
        expected_protocol(ThermoStreamATS545, script, role="chamber") as chamber,
        pytest.raises(InstrumentReportedError, match=r"execution error.*SETP 200\.0") as info,
    ):
        chamber.set_temperature(200.0)
    assert info.value.role == "chamber"


def test_wait_until_stable_polls_the_condition_register() -> None:
    script = [
        *checked("WNDW 0.5"),
        ("TECR?", "2"),
        ("TECR?", "2"),
        ("TECR?", "1"),
        ("TEMP?", "-39.9"),
    ]
    with expected_protocol(ThermoStreamATS545, script, poll_interval=0.0) as chamber:
        assert chamber.wait_until_stable(tolerance=0.5, timeout=5.0) == -39.9


def test_wait_until_stable_gives_up_naming_temperature_and_setpoint() -> None:
    script = [*checked("WNDW 0.2"), ("TECR?", "2"), ("TEMP?", "12.3"), ("SETP?", "-40.0")]
    with (
        expected_protocol(ThermoStreamATS545, script, role="chamber", poll_interval=0.0) as c,
        pytest.raises(InstrumentTimeoutError, match=r"12\.3 degC, setpoint -40 degC \+/- 0\.2"),
    ):
        c.wait_until_stable(tolerance=0.2, timeout=0.0)


def test_a_window_the_instrument_cannot_take_is_refused_unsent() -> None:
    with (
        expected_protocol(ThermoStreamATS545, []) as chamber,
        pytest.raises(InvalidValueError, match=r"outside 0\.1 \.\. 9\.9"),
    ):
        chamber.wait_until_stable(tolerance=0.01, timeout=1.0)


def test_no_valid_reading_is_a_protocol_error() -> None:
    with (
        expected_protocol(ThermoStreamATS545, [("TEMP?", "999.9"), (ESR, "0")]) as chamber,
        pytest.raises(ProtocolError, match="no valid reading"),
    ):
        _ = chamber.temperature


def test_safe_state_returns_to_ambient_and_stops_the_flow() -> None:
    script = [("SETN 1", None), ("FLOW 0", None), (ESR, "0")]
    with expected_protocol(ThermoStreamATS545, script, guard=GUARD) as chamber:
        chamber.safe_state()


def test_identity_and_readings() -> None:
    script = [
        ("*IDN?", "INTEST THERMAL SOLUTIONS,ATS-545,TS0000001,6.12"),
        ("TMPA?", "-41.5"),
        ("TMPD?", "-40.1"),
        ("EROR?", "0"),
        ("DUTM?", "1"),
    ]
    with expected_protocol(ThermoStreamATS545, script) as chamber:
        assert chamber.identify().model == "ATS-545"
        assert (chamber.air_temperature, chamber.dut_temperature) == (-41.5, -40.1)
        assert chamber.device_errors == 0
        assert chamber.dut_mode is True
