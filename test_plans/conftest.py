"""What the characterisation plans share: the junction temperature and powering the DUT up.

A plan opts in to `junction_temperature` with `pytest.mark.usefixtures(...)`: a test
parametrised with `temperature` runs at that temperature, any other at 25 degC, held by the
bench's chamber when it has one (without one, tests run at room temperature, and
`requires("chamber")` skips those that need another). `power_on` switches the SMU on and waits
for the boot banner the profile's console prints (`boot_banner`), so no command races the boot;
`mode_current` reads the supply current in a power mode the console sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from benchtest import DutProfile, Measure

ROOM = 25.0  # degC, the datasheet's "TJ = 25 degC unless noted"
SETTLED = 0.2  # degC the chamber must hold the setpoint within
SETTLE_TIMEOUT = 120.0  # s
BOOT_TIMEOUT = 2.0  # s for the firmware to announce itself after power-on


def _role(request: pytest.FixtureRequest, role: str) -> Any:
    """The bench's instrument for `role` (opened now), or None when the bench has no such role."""
    try:
        return request.getfixturevalue(role)
    except pytest.FixtureLookupError:
        return None


@pytest.fixture
def junction_temperature(request: pytest.FixtureRequest, measure: Measure) -> float:
    """The test's temperature, degC, held by the chamber (if the bench has one) and recorded
    as the `temperature` condition of every measurement of the test."""
    callspec = getattr(request.node, "callspec", None)
    celsius = float(callspec.params.get("temperature", ROOM)) if callspec else ROOM
    chamber = _role(request, "chamber")
    if chamber is not None:
        chamber.set_temperature(celsius)
        chamber.wait_until_stable(tolerance=SETTLED, timeout=SETTLE_TIMEOUT)
    measure.condition(temperature=celsius, temperature_held_by="chamber" if chamber else "room")
    return celsius


@pytest.fixture
def boot_banner(dut: DutProfile) -> Callable[[str], str]:
    """`boot_banner(cause)`: the regular expression of the console's boot banner after a reset
    of that cause (its other fields, such as the firmware id, match anything)."""
    template = dut.debug_port.get("boot_banner", "")

    def pattern(cause: str) -> str:
        escaped = re.escape(template).replace(re.escape("{reset_cause}"), re.escape(cause))
        return re.sub(r"\\\{\w+\\\}", ".+", escaped)

    return pattern


@pytest.fixture
def power_on(
    request: pytest.FixtureRequest, dut: DutProfile, boot_banner: Callable[[str], str]
) -> Callable[[float, float], None]:
    """`power_on(volts, current_limit)`: the SMU sources the DUT's supply, then the console's
    power-on boot banner is awaited (when the profile names one)."""
    smu = request.getfixturevalue("smu")
    console = _role(request, "uart") if dut.debug_port.get("boot_banner") else None

    def switch_on(volts: float, current_limit: float) -> None:
        smu.source_voltage(volts, current_limit=current_limit)
        smu.output_on()
        if console is not None:
            console.expect(boot_banner("por"), timeout=BOOT_TIMEOUT)

    return switch_on


@pytest.fixture
def mode_current(
    request: pytest.FixtureRequest, dut: DutProfile, power_on: Callable[[float, float], None]
) -> Callable[[str, float, float], float]:
    """`mode_current(mode, volts, current_limit)`: power the DUT up, put it in `mode` through its
    console (the profile's command for that mode) and read the supply current, A."""

    def measure(mode: str, volts: float, current_limit: float) -> float:
        power_on(volts, current_limit)
        request.getfixturevalue("uart").command(dut.debug_port["commands"][mode])
        current: float = request.getfixturevalue("smu").measure_current(nplc=1)
        return current

    return measure
