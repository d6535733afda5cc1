"""What the characterisation plans share: the junction temperature each test runs at.

A plan opts in with `pytest.mark.usefixtures("junction_temperature")`. A test parametrised with
`temperature` runs at that temperature, any other at 25 degC, held by the bench's chamber when
it has one (a bench without a chamber tests at room temperature, and `requires("chamber")`
skips the tests that need another).
"""

from __future__ import annotations

import pytest

ROOM = 25.0  # degC, the datasheet's "TJ = 25 degC unless noted"
SETTLED = 0.2  # degC the chamber must hold the setpoint within
SETTLE_TIMEOUT = 120.0  # s


@pytest.fixture
def junction_temperature(request: pytest.FixtureRequest) -> float:
    """The test's temperature, degC, held by the chamber (if the bench has one)."""
    callspec = getattr(request.node, "callspec", None)
    celsius = float(callspec.params.get("temperature", ROOM)) if callspec else ROOM
    try:
        chamber = request.getfixturevalue("chamber")
    except pytest.FixtureLookupError:
        return celsius
    chamber.set_temperature(celsius)
    chamber.wait_until_stable(tolerance=SETTLED, timeout=SETTLE_TIMEOUT)
    return celsius
