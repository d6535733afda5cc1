"""BT-MCU-L0 energy per operation: stop current, and charge and energy per periodic wake-up.

A current profiler in the VDD path (a Joulescope, PPK2 or Otii, or an SMU's fast buffer: any
`CurrentProfiler`) records the firmware's periodic wake-ups. The trace is split into stop,
active and radio-burst states at thresholds read from the profile's limits, and the stop current
and each wake-up's charge and energy above it are judged against the datasheet. The trace is
stored as it streams (kept up to the break if the profiler fails), with its segmentation and
per-event values, and a battery life on a CR2032 is derived from the measured duty profile.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from benchtest import DutProfile, Measure
from benchtest.analysis import EnergyProfile, battery_life, energy_profile
from instruments.capabilities import CurrentProfile, CurrentProfiler

# At 25 degC (the conditions of the limits), held by the chamber when the bench has one.
pytestmark = [pytest.mark.dut_kind("mcu"), pytest.mark.usefixtures("junction_temperature")]

SAMPLE_RATE = 1e6  # S/s: resolves the 5 us wake-up and the 0.3 us current edges
WAKEUPS = 5  # captured per measurement
SETTLE = 50e-6  # s left out at each segment's edges: range switching and current edges
MIN_DURATION = 10e-6  # s: a shorter excursion (a range-switch glitch) is no state change
CR2032 = 225e-3 * 3600  # C: 225 mAh


def wakeup_thresholds(dut: DutProfile) -> tuple[float, float]:
    """Stop | active | burst: ten times the stop-current limit, twice the run-current limit."""
    return 10 * (dut.parameter("iq_sleep").max or 0.0), 2 * (dut.parameter("idd_active").max or 0)


def wakeups(dut: DutProfile) -> Callable[[CurrentProfile], EnergyProfile]:
    """The analysis of a capture of the wake-ups: stop, active and burst, with the supply."""

    def analyse(capture: CurrentProfile) -> EnergyProfile:
        return energy_profile(
            capture.current,
            voltage=capture.voltage,
            thresholds=wakeup_thresholds(dut),
            min_duration=MIN_DURATION,
            settle=SETTLE,
        )

    return analyse


@pytest.mark.requires("profiler")
def test_sleep_current_and_energy_per_event(
    profiler: CurrentProfiler, dut: DutProfile, measure: Measure
) -> None:
    """Stop current between wake-ups, and the charge and energy of each wake-up above it."""
    period = float(dut.model["wake_period"])
    _, analysis = measure.capture(
        "idd_wakeups",
        profiler,
        WAKEUPS * period,
        sample_rate=SAMPLE_RATE,
        analyse=wakeups(dut),
        description="IDD over the periodic wake-ups",
    )
    assert analysis is not None
    assert len(analysis.events) >= WAKEUPS - 1, f"{len(analysis.events)} wake-ups captured"
    measure("iq_sleep", analysis.state_currents["sleep"])
    measure("charge_per_wakeup", analysis.event_charge())
    measure("energy_per_wakeup", analysis.event_energy())
    life = battery_life(
        CR2032,
        {"sleep": analysis.state_currents["sleep"]},
        {"sleep": 1.0},
        event_charge=analysis.event_charge(),
        event_rate=1.0 / period,
    )
    measure("battery_life_cr2032", life, unit="s", low=0.0)  # a figure, not a datasheet limit
