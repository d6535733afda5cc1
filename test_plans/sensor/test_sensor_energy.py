"""BT-TEMP-S1 energy per conversion, and the standby current between conversions.

A current profiler in the VDD path (any `CurrentProfiler`) records the sensor converting every
`conversion_period`. The trace is split into standby and converting at ten times the standby
limit, and the standby current and each conversion's energy above it are judged against the
datasheet. The trace is stored with its segmentation and per-conversion values.
"""

from __future__ import annotations

import pytest

from benchtest import DutProfile, Measure
from benchtest.analysis import energy_profile
from instruments.capabilities import CurrentProfiler

# At 25 degC (the conditions of the limits), held by the chamber when the bench has one.
pytestmark = [pytest.mark.dut_kind("sensor"), pytest.mark.usefixtures("junction_temperature")]

SAMPLE_RATE = 1e5  # S/s: 1550 samples per 15.5 ms conversion
CONVERSIONS = 5
SETTLE = 0.5e-3  # s left out at each segment's edges (the current's 20 us edges, ranging)
MIN_DURATION = 50e-6  # s: a shorter excursion is no conversion


@pytest.mark.requires("profiler")
def test_standby_current_and_energy_per_conversion(
    profiler: CurrentProfiler, dut: DutProfile, measure: Measure
) -> None:
    period = float(dut.model["conversion_period"])
    threshold = 10 * (dut.parameter("iq_sleep").max or 0.0)
    _, analysis = measure.capture(
        "idd_conversions",
        profiler,
        CONVERSIONS * period,
        sample_rate=SAMPLE_RATE,
        analyse=lambda capture: energy_profile(
            capture.current,
            voltage=capture.voltage,
            states=("standby", "converting"),
            thresholds=(threshold,),
            min_duration=MIN_DURATION,
            settle=SETTLE,
        ),
        description="IDD over the conversions",
    )
    assert analysis is not None
    assert len(analysis.events) >= CONVERSIONS - 1, f"{len(analysis.events)} conversions seen"
    measure("iq_sleep", analysis.state_currents["standby"])
    measure("energy_per_conversion", analysis.event_energy())
