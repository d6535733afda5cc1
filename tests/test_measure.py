"""`measure(...)`: units and limits from the profile, judged values, clear refusals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchtest import DutProfile, Limits, Measure, MeasurementError, Outcome, Waveform
from benchtest.run.measuring import MarginalWarning
from benchtest.values.events import Event, MeasurementRecorded, WaveformRecorded


@pytest.fixture
def dut(ldo_dut: DutProfile) -> DutProfile:
    return ldo_dut


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


def test_nominal_with_absolute_or_percent_tolerance(measure: Measure) -> None:
    m = measure("vref", 1.21, unit="V", nominal=1.2, tolerance=0.02)
    assert (m.limits.low, m.limits.high, m.outcome) == (
        pytest.approx(1.18),
        pytest.approx(1.22),
        Outcome.PASS,
    )
    m = measure("vref", 1.25, unit="V", nominal=1.2, tolerance_percent=2.0)
    assert m.outcome is Outcome.FAIL
    assert m.explain() == "vref = 1.25 V is above the high limit 1.224 V"


def test_one_sided_and_equality(measure: Measure) -> None:
    assert measure("leak", 2e-9, unit="A", high=1e-8).outcome is Outcome.PASS
    assert measure("psrr", 55.0, unit="dB", low=60.0).outcome is Outcome.FAIL
    chip_id = measure("chip_id", 0x5A, unit="1", expected=0x5A)
    assert (chip_id.outcome, chip_id.limits.describe()) == (Outcome.PASS, "== 90 1")
    wrong = measure("chip_id", 0x5B, unit="1", expected=0x5A)
    assert wrong.explain() == "chip_id = 91 1 is not the expected 90 1"


def test_marginal_band_passes_with_a_warning(measure: Measure) -> None:
    with pytest.warns(MarginalWarning, match=r"iq_sleep = 1\.95e-06 A passes within 1e-07 A"):
        m = measure("iq_sleep", 1.95e-6, margin=0.1e-6)
    assert m.outcome is Outcome.MARGINAL and not m.failed
    assert measure.failures == []
    assert measure("iq_sleep", 1.5e-6, margin=0.1e-6).outcome is Outcome.PASS


def test_inline_limits_for_a_profile_parameter_keep_its_unit(measure: Measure) -> None:
    m = measure("vout", 3.31, nominal=3.3, tolerance_percent=1.0)
    assert m.unit == "V"
    with pytest.raises(MeasurementError, match=r"given in 'A'.*gives vout in 'V'"):
        measure("vout", 3.31, unit="A", nominal=3.3, tolerance=0.1)
    with pytest.raises(MeasurementError, match=r"given in 'A'.*gives vout in 'V'"):
        measure("vout", 3.31, limits=Limits(3.2, 3.4, "A"))


def test_ambiguous_or_incomplete_inline_limits_are_refused(
    measure: Measure, events: list[Event]
) -> None:
    with pytest.raises(MeasurementError, match="one kind of inline limit"):
        measure("x", 1.0, unit="V", low=0.0, expected=1.0)
    with pytest.raises(MeasurementError, match="a tolerance needs a nominal"):
        measure("vout", 3.3, tolerance=0.1)
    with pytest.raises(MeasurementError, match="exactly one of an absolute or a percent"):
        measure("x", 1.0, unit="V", nominal=1.0)
    assert events == []


def test_profile_margin_applies(ldo_profile_text: str, tmp_path: Path, events: list[Event]) -> None:
    path = tmp_path / "ldo.yaml"
    path.write_text(
        ldo_profile_text.replace("    max: 2.0e-6\n", "    max: 2.0e-6\n    margin: 0.2e-6\n")
    )
    dut = DutProfile.load(path)
    with pytest.warns(MarginalWarning):
        m = Measure("t", dut, events.append)("iq_sleep", 1.9e-6)
    assert m.outcome is Outcome.MARGINAL


def test_a_condition_set_up_by_the_test_goes_with_later_measurements(
    measure: Measure, events: list[Event]
) -> None:
    measure("vout", 3.3)
    measure.condition(temperature=85.0)
    measure("vout", 3.31)
    recorded = [e.measurement.conditions for e in events if isinstance(e, MeasurementRecorded)]
    assert recorded[0].get("temperature") is None
    assert recorded[1]["temperature"] == 85.0


LIMIT_KINDS = {
    "two-sided": Limits(1.0, 2.0, "V"),
    "low only": Limits(1.0, None, "V"),
    "high only": Limits(None, 2.0, "V"),
    "equal": Limits(1.5, 1.5, "V"),
    "open": Limits(None, None, "V"),
    "two-sided with a margin": Limits(1.0, 2.0, "V", 0.1),
    "high only with a margin": Limits(None, 2.0, "V", 0.1),
}
VALUES = [math.nan, math.inf, -math.inf, 0.5, 1.0, 1.05, 1.5, 1.95, 2.0, 2.5, np.float64(math.nan)]


@pytest.mark.filterwarnings("ignore::benchtest.run.measuring.MarginalWarning")
@pytest.mark.parametrize("kind", LIMIT_KINDS)
def test_the_judgement_of_measure_is_that_of_the_limits(kind: str, measure: Measure) -> None:
    limits = LIMIT_KINDS[kind]
    for value in VALUES:
        judged = measure("vin", value, limits=limits).outcome
        assert judged is limits.check(float(value)), (kind, value)
        if math.isnan(value):
            assert judged is (Outcome.INFO if limits.is_open else Outcome.FAIL)
