"""`measure(...)`: units and limits from the profile, judged values, clear refusals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchtest import DutProfile, Limits, Measure, MeasurementError, Outcome, Waveform
from benchtest.recorder import Event, MeasurementRecorded, WaveformRecorded


@pytest.fixture
def dut(ldo_profile_text: str, tmp_path: Path) -> DutProfile:
    path = tmp_path / "ldo.yaml"
    path.write_text(ldo_profile_text, encoding="utf-8")
    return DutProfile.load(path)


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def measure(dut: DutProfile, events: list[Event]) -> Measure:
    return Measure("plan.py::test_x[sleep]", dut, events.append, {"mode": "sleep"})


def test_limits_and_unit_come_from_the_profile(measure: Measure, events: list[Event]) -> None:
    m = measure("iq_sleep", 1.1e-6)
    assert (m.unit, m.limits.high, m.outcome) == ("A", 2.0e-6, Outcome.PASS)
    assert m.conditions == {"mode": "sleep"}
    assert m.description.startswith("Quiescent current")
    assert events == [MeasurementRecorded("plan.py::test_x[sleep]", m)]


def test_out_of_limit_value_is_recorded_and_explained(measure: Measure) -> None:
    m = measure("iq_sleep", 3.5e-6)
    assert m.outcome is Outcome.FAIL
    assert measure.failures == [m]
    assert m.explain() == "iq_sleep = 3.5e-06 A is above the high limit 2e-06 A"
    low = measure("vout", 3.1)
    assert low.explain() == "vout = 3.1 V is below the low limit 3.234 V"


def test_nan_fails(measure: Measure) -> None:
    m = measure("vout", math.nan)
    assert m.outcome is Outcome.FAIL
    assert "no valid value" in m.explain()


def test_unknown_parameter_is_refused_before_recording(
    measure: Measure, events: list[Event]
) -> None:
    with pytest.raises(MeasurementError, match="'iq_deep' is not in DUT profile"):
        measure("iq_deep", 1e-6)
    assert events == []


def test_unit_that_disagrees_with_profile_is_refused(measure: Measure, events: list[Event]) -> None:
    with pytest.raises(MeasurementError, match=r"given in 'V'.*gives iq_sleep in 'A'"):
        measure("iq_sleep", 1e-6, unit="V")
    assert events == []


def test_inline_limits_need_a_unit(measure: Measure) -> None:
    m = measure("ripple", 4e-3, unit="V", high=5e-3)
    assert (m.unit, m.outcome) == ("V", Outcome.PASS)
    with pytest.raises(MeasurementError, match="inline limits but no unit"):
        measure("ripple", 4e-3, high=5e-3)


def test_non_numeric_value_is_refused(measure: Measure) -> None:
    with pytest.raises(MeasurementError, match="must be a number, got 'high'"):
        measure("vout", "high")  # type: ignore[arg-type]


def test_waveform_is_emitted(measure: Measure, events: list[Event]) -> None:
    wf = Waveform(np.arange(10, dtype=np.uint8), dt=1e-6, scale=0.1, offset=-1.0, channel="CH1")
    measure.waveform("vout_startup", wf)
    assert events == [WaveformRecorded("plan.py::test_x[sleep]", "vout_startup", wf, "")]
    with pytest.raises(MeasurementError, match="needs a Waveform, got list"):
        measure.waveform("bad", [1, 2, 3])  # type: ignore[arg-type]


def test_limits_describe_and_open() -> None:
    assert Limits(1.0, 2.0, "V").describe() == "[1, 2] V"
    assert Limits(None, 2.0, "A").describe() == "<= 2 A"
    assert Limits().check(5.0) is Outcome.INFO
    with pytest.raises(ValueError, match="low limit 2 is above high limit 1"):
        Limits(2.0, 1.0, "V")
