"""The HTML report shows a current profile with its states and events in words, and says when a
capture broke off."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profiler_stream import TEST, UNIT, finish, started

from benchtest.analysis import energy_profile
from benchtest.report.html import write_report
from benchtest.run.profiles import record_profile, stream_profile
from benchtest.sim.simulators.profiler import SimulatedProfiler
from benchtest.values.errors import ConnectionLostError


def report_of(path: Path) -> str:
    return write_report(path).read_text(encoding="utf-8")


def test_the_report_shows_the_states_and_the_events_of_a_profile(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    recorder = started(path)
    capture = SimulatedProfiler(UNIT, vdd=3.0).capture(0.06, sample_rate=1e6)
    analysis = energy_profile(
        capture.current, voltage=capture.voltage, thresholds=(20e-6, 5e-3), min_duration=1e-5
    )
    record_profile(recorder.emit, TEST, "wakeups", capture, analysis=analysis)
    finish(recorder, "passed")
    html = report_of(path)
    charge = analysis.event_charge() * 1e6
    assert f"3 events above the rest current: mean {charge:.4g} µC" in html
    assert "sleep: 9" in html and "% of the time, mean" in html
    assert "10 % to 90 %" not in html  # no first-edge marks on a profile


def test_the_report_says_a_capture_broke_off_and_why(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    recorder = started(path)
    profiler = SimulatedProfiler(UNIT, vdd=3.0, unplug_after=20_000)
    with pytest.raises(ConnectionLostError):
        stream_profile(
            recorder.emit,
            TEST,
            "idd",
            profiler.stream(0.05, sample_rate=1e6, chunk_points=5000),
            sample_rate=1e6,
            voltage=True,
        )
    finish(recorder, "error")
    html = report_of(path)
    assert "capture incomplete (20000 samples): ConnectionLostError" in html
    assert "unplugged after 20000 samples" in html
