"""`measure.waveform_family(...)`: a sweep of waveforms as one 2-D NXdata drawn as curves."""

from __future__ import annotations

import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from silx.io.nxdata import is_valid_nxdata

from benchtest import DutProfile, Measure, MeasurementError, Waveform
from benchtest.report.html import render_report
from benchtest.results import open_run
from benchtest.run.recorder import RunRecorder
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import Event, RunFinished, WaveformFamilyRecorded
from benchtest.values.events import TestFinished as Finished
from benchtest.values.events import TestStarted as Started

TEST = "plan.py::test_startup_family"
VIN = [4.0, 4.5, 5.0]


@pytest.fixture
def measure(ldo_dut: DutProfile, events: list[Event]) -> Measure:
    return Measure(TEST, ldo_dut, events.append)


def ramp(top: float, points: int = 500, dt: float = 1e-6, t0: float = -50e-6) -> Waveform:
    """A scope record as codes: int8 with scale and offset."""
    volts = np.clip(np.arange(points) / (points / 2), 0, 1) * top
    return Waveform((volts / 0.04).round().astype(np.int8), dt=dt, t0=t0, scale=0.04, unit="V")


def test_records_one_event_with_the_members_and_axis(measure: Measure, events: list[Event]) -> None:
    members = [ramp(3.3), ramp(3.2), ramp(3.1)]
    measure.waveform_family("startup", members, VIN, axis_name="vin", axis_unit="V")
    (event,) = events
    assert isinstance(event, WaveformFamilyRecorded)
    assert event.waveforms == tuple(members) and (event.axis_name, event.axis_unit) == ("vin", "V")
    np.testing.assert_array_equal(event.axis_values, VIN)


@pytest.mark.parametrize(
    ("members", "values", "match"),
    [
        ([ramp(3.3), ramp(3.3, points=400)], VIN[:2], "member 1 has 400 points"),
        ([ramp(3.3), ramp(3.3, dt=2e-6)], VIN[:2], "dt=2e-06 s"),
        ([ramp(3.3), ramp(3.3)], VIN, "2 waveforms but 3 axis values"),
        ([], [], "at least one waveform"),
        ([ramp(3.3), np.zeros(500)], VIN[:2], "must be a Waveform"),
    ],
)
def test_members_that_cannot_share_axes_are_refused(
    measure: Measure, events: list[Event], members: list[Waveform], values: list[float], match: str
) -> None:
    with pytest.raises(MeasurementError, match=match):
        measure.waveform_family("startup", members, values, axis_name="vin", axis_unit="V")
    assert events == []


@pytest.fixture
def run_file(tmp_path: Path, ldo_dut: DutProfile) -> Path:
    path = tmp_path / "run.h5"
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    recorder.emit(Started(TEST, "2026-11-28T15:43:01+00:00"))
    members = [ramp(3.3), ramp(3.2), ramp(3.1)]
    Measure(TEST, ldo_dut, recorder.emit).waveform_family(
        "startup", members, VIN, axis_name="vin", axis_unit="V"
    )
    recorder.emit(Finished(TEST, "passed", "2026-11-28T15:43:02+00:00", 1.0))
    recorder.emit(RunFinished("2026-11-28T15:43:03+00:00", "passed"))
    return path


def test_stored_as_2d_nxdata_drawn_as_curves(run_file: Path) -> None:
    with h5py.File(run_file, "r") as f:
        group = f["t0001_test_startup_family/startup"]
        assert is_valid_nxdata(group)
        assert f.attrs["default"] == "t0001_test_startup_family"
        assert list(group.attrs["axes"]) == ["vin", "time"]
        signal = group[group.attrs["signal"]]
        assert signal.shape == (3, 500) and signal.dtype == np.float32
        assert signal.attrs["interpretation"] == "spectrum" and signal.attrs["units"] == "V"
        np.testing.assert_allclose(signal[1], ramp(3.2).values, atol=1e-6)
        np.testing.assert_array_equal(group["vin"][()], VIN)
        assert group["vin"].attrs["units"] == "V" and group["time"].attrs["units"] == "s"
        np.testing.assert_allclose(group["time"][()], ramp(3.3).time)
        assert len(f["summary/waveforms"]) == 0  # not a single waveform


def test_reader_and_report_show_the_family(run_file: Path) -> None:
    with open_run(run_file) as run:
        (test,) = run.tests
        family = test.families["startup"]
        assert (family.axis.name, family.axis.unit, family.unit) == ("vin", "V", "V")
        assert family.values.shape == (3, 500) and len(family) == 3
        assert family.time.unit == "s" and family.time.values[0] == pytest.approx(-50e-6)
        html = render_report(run)
    assert html.count("<svg") == 1 and html.count('<polyline class="trace curve') == 3
    for label in ("vin = 4 V", "vin = 4.5 V", "vin = 5 V"):
        assert f">{label}<" in html


PLAN = textwrap.dedent(
    """
    import numpy as np
    from benchtest import Measure, Waveform

    VIN = np.linspace(3.6, 5.5, 8)

    def test_line_sweep(measure: Measure) -> None:
        vout = 3.3 + 1e-3 * (VIN - 3.6)
        vout[5] = 3.5
        measure.sweep("vout", VIN, vout, x_name="vin", x_unit="V")

    def test_startup_family(measure: Measure) -> None:
        ramps = [Waveform(np.linspace(0, v, 200), dt=1e-6) for v in (3.2, 3.3)]
        measure.waveform_family("startup", ramps, [4.0, 5.0], axis_name="vin", axis_unit="V")
    """
)


def test_a_plan_records_a_sweep_and_a_family(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile(test_curves=PLAN)
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        "--sim", "--dut", "ldo.yaml", "--results-dir", str(results), "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*sweep vout = 3.5 V is above the high limit 3.366 V (worst point, at vin = 4.957* V)"]
    )
    (path,) = results.glob("*.h5")
    with open_run(path) as run:
        line, startup = run.tests
        assert line.sweeps["vout"].outcome == "fail" and line.outcome == "failed"
        assert startup.families["startup"].values.shape == (2, 200)
