"""`measure.sweep(...)`: point-wise limits, unit rules, storage as NXdata, reader and report."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from silx.io.nxdata import is_valid_nxdata

from benchtest import DutProfile, Measure, MeasurementError, Outcome
from benchtest.report.html import render_report
from benchtest.results import open_run
from benchtest.run.measuring import LimitFailure, MarginalWarning
from benchtest.run.recorder import RunRecorder
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import Event, RunFinished, SweepRecorded
from benchtest.values.events import TestFinished as Finished
from benchtest.values.events import TestStarted as Started
from benchtest.values.sweep import SweepResult

TEST = "plan.py::test_line[iout=1mA]"
VIN = np.linspace(3.6, 5.5, 20)


@pytest.fixture
def measure(ldo_dut: DutProfile, events: list[Event]) -> Measure:
    return Measure(TEST, ldo_dut, events.append, {"iout": 1e-3})


def vout(bad_at: int | None = None, value: float = 3.4) -> np.ndarray:
    y = 3.3 + 1e-3 * (VIN - 3.6)
    if bad_at is not None:
        y[bad_at] = value
    return y


def test_sweep_takes_unit_and_limits_from_the_profile(
    measure: Measure, events: list[Event]
) -> None:
    worst = measure.sweep("vout", VIN, vout(), x_name="vin", x_unit="V")
    assert (worst.unit, worst.limits.low, worst.limits.high) == ("V", 3.234, 3.366)
    assert worst.outcome is Outcome.PASS and measure.failures == []
    assert worst.value == pytest.approx(vout().max())  # the point closest to a limit
    (event,) = events
    assert isinstance(event, SweepRecorded)
    assert (event.x_name, event.x_unit, event.y_unit, event.outcome) == ("vin", "V", "V", "pass")
    np.testing.assert_array_equal(event.x, VIN)


def test_one_point_out_of_limits_fails_the_sweep_and_names_the_worst_point(
    measure: Measure,
) -> None:
    y = vout(bad_at=7, value=3.40)
    y[3] = 3.37  # out of limits too, but less
    worst = measure.sweep("vout", VIN, y, x_name="vin", x_unit="V")
    assert worst.outcome is Outcome.FAIL and measure.failures == [worst]
    text = str(LimitFailure(measure.failures))
    assert "vout = 3.4 V is above the high limit 3.366 V" in text
    assert f"at vin = {VIN[7]:.6g} V" in text


def test_a_worst_point_in_the_marginal_band_warns(measure: Measure) -> None:
    with pytest.warns(MarginalWarning, match=r"sweep vout = 3.36 V passes within .*vin = 5.5 V"):
        worst = measure.sweep(
            "vout", VIN, vout(bad_at=19, value=3.36), x_name="vin", x_unit="V", margin=0.01
        )
    assert worst.outcome is Outcome.MARGINAL and measure.failures == []


def test_a_nan_point_is_the_worst_and_fails(measure: Measure) -> None:
    worst = measure.sweep("vout", VIN, vout(bad_at=2, value=np.nan), x_name="vin", x_unit="V")
    assert worst.outcome is Outcome.FAIL and np.isnan(worst.value)


def test_inline_limits_for_a_parameter_the_profile_does_not_list(measure: Measure) -> None:
    worst = measure.sweep(
        "iin", VIN, np.full(20, 2e-3), x_name="vin", x_unit="V", y_unit="A", high=1e-3
    )
    assert (worst.outcome, worst.unit, worst.limits.high) == (Outcome.FAIL, "A", 1e-3)


def test_a_unit_that_disagrees_with_the_profile_is_refused(
    measure: Measure, events: list[Event]
) -> None:
    with pytest.raises(MeasurementError, match="given in 'mV'"):
        measure.sweep("vout", VIN, vout() * 1e3, x_name="vin", x_unit="V", y_unit="mV")
    assert events == [] and measure.recorded == []


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (VIN, vout()[:5], "must be of one length"),
        ([], [], "at least 1"),
        (VIN, "abc", "must be numbers"),
    ],
)
def test_bad_arrays_are_refused(measure: Measure, x: object, y: object, match: str) -> None:
    with pytest.raises(MeasurementError, match=match):
        measure.sweep("vout", x, y, x_name="vin", x_unit="V")


def test_a_sweep_result_brings_its_own_units(measure: Measure, events: list[Event]) -> None:
    result = SweepResult(VIN, vout(), "V", "V")
    measure.sweep("vout", result, x_name="vin")
    assert isinstance(events[0], SweepRecorded) and events[0].x_unit == "V"
    with pytest.raises(MeasurementError, match="unit 'A' given"):
        measure.sweep("vout", result, x_name="vin", x_unit="A")


def write_run(path: Path, dut: DutProfile) -> None:
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    recorder.emit(Started(TEST, "2026-11-28T15:43:01+00:00", {"iout": 1e-3}))
    measure = Measure(TEST, dut, recorder.emit, {"iout": 1e-3})
    measure.sweep("vout", VIN, vout(bad_at=7), x_name="vin", x_unit="V", description="VOUT(VIN)")
    recorder.emit(Finished(TEST, "failed", "2026-11-28T15:43:02+00:00", 1.0))
    recorder.emit(RunFinished("2026-11-28T15:43:03+00:00", "failed"))


@pytest.fixture
def run_file(tmp_path: Path, ldo_dut: DutProfile) -> Path:
    path = tmp_path / "run.h5"
    write_run(path, ldo_dut)
    return path


def test_stored_as_valid_nxdata_with_units_limits_and_a_table_row(run_file: Path) -> None:
    with h5py.File(run_file, "r") as f:
        entry = f["t0001_test_line_iout_1mA_"]
        group = entry["vout"]
        assert is_valid_nxdata(group)
        assert entry.attrs["default"] == "vout" and f.attrs["default"] == entry.name[1:]
        a = group.attrs
        assert (a["NX_class"], a["signal"], list(a["axes"])) == ("NXdata", "vout", ["vin"])
        assert (a["outcome"], a["low"], a["high"], a["benchtest_kind"]) == (
            "fail", 3.234, 3.366, "sweep",
        )  # fmt: skip
        assert group["vout"].attrs["units"] == "V" and group["vin"].attrs["units"] == "V"
        assert group["vin"].attrs["long_name"] == "vin (V)"
        np.testing.assert_array_equal(group["vin"][()], VIN)
        np.testing.assert_array_equal(group["vout"][()], vout(bad_at=7))
        for table in (f["summary/measurements"], entry["measurements"]):
            (row,) = table[()]
            assert (row["name"].decode(), row["value"], row["outcome"].decode()) == (
                "vout", 3.4, "fail",
            )  # fmt: skip


def test_reader_and_report_show_the_sweep(run_file: Path) -> None:
    with open_run(run_file) as run:
        (test,) = run.tests
        assert test.waveforms == {}
        sweep = test.sweeps["vout"]
        assert (sweep.x.name, sweep.x.unit, sweep.y.unit) == ("vin", "V", "V")
        assert (sweep.low, sweep.high, sweep.outcome) == (3.234, 3.366, "fail")
        np.testing.assert_array_equal(sweep.y.values[5:8], vout(bad_at=7)[5:8])
        assert len(sweep) == 20
        html = render_report(run)
    assert html.count("<svg") == 1
    assert ">vin (V)<" in html and ">vout (V)<" in html
    assert html.count('<line class="limit"') == 2
    assert "high limit 3.366 V" in html
