"""The report's plots: the min/max envelope keeps every peak of a long record, a waveform's first
edge is marked where `benchtest.analysis` puts it, and sweeps show their limits and the points
outside them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import report_runs

from benchtest.analysis import fall_time, rise_time, settling_time, undershoot
from benchtest.report import plot
from benchtest.report.markers import ANALYSED_POINTS, Recorded, edge_marks
from benchtest.report.plot import Frame, envelope, sweep_plot, waveform_plot
from benchtest.results import StoredWaveform, open_run
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import RunFinished, TestFinished, TestStarted, WaveformRecorded
from benchtest.values.waveform import Waveform

TEST = "p.py::test_wave"


def _stored(tmp_path: Path, wf: Waveform) -> Iterator[StoredWaveform]:
    path = tmp_path / "wave.h5"
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        writer(TestStarted(TEST, "t"))
        writer(WaveformRecorded(TEST, "vout", wf))
        writer(TestFinished(TEST, "passed", "t", 1.0))
        writer(RunFinished("t", "passed"))
    with open_run(path) as run:
        yield run.tests[0].waveforms["vout"]


@pytest.fixture
def stored(tmp_path: Path) -> Iterator[StoredWaveform]:
    yield from _stored(tmp_path, report_runs.step_waveform())


def _points(points: str) -> np.ndarray:
    return np.array([[float(v) for v in p.split(",")] for p in points.split()])


@pytest.mark.parametrize("sign", [1, -1])
def test_a_single_sample_spike_in_a_million_points_shows(tmp_path: Path, sign: int) -> None:
    n = 1_000_000
    codes = np.random.default_rng(3).integers(-50, 50, n).astype(np.int16)
    spike = 612_345
    codes[spike] = sign * 20_000
    for wf in _stored(tmp_path, Waveform(codes, dt=1e-9, scale=1e-4, unit="V")):
        drawn = waveform_plot(wf)
        assert drawn.decimated and drawn.samples == n
        xy = _points(drawn.points)
        assert len(xy) <= 2 * (plot.WIDTH - plot.LEFT - plot.RIGHT)
        frame = Frame.around(0.0, (n - 1) * 1e-9, np.array([-0.005, 0.005, sign * 2.0]))
        extreme = xy[:, 1].min() if sign > 0 else xy[:, 1].max()
        assert extreme == pytest.approx(frame.y_pixel(sign * 2.0), abs=0.05)
        at = xy[np.argmin(xy[:, 1]) if sign > 0 else np.argmax(xy[:, 1]), 0]
        assert at == pytest.approx(frame.x_pixel(spike * 1e-9), abs=1.0)  # in its own column


def test_envelope_is_exact_across_read_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plot, "BLOCK_POINTS", 1000)  # many blocks, edges inside columns
    data = np.random.default_rng(5).normal(size=10_007)

    class Lazy:
        def __len__(self) -> int:
            return len(data)

        def __getitem__(self, index: slice) -> np.ndarray:
            return data[index]

    starts, low, high = envelope(Lazy(), 37)  # type: ignore[arg-type]
    edges = np.append(starts, len(data))
    for k in range(37):
        column = data[edges[k] : edges[k + 1]]
        assert (low[k], high[k]) == (column.min(), column.max())


def test_first_edge_marks_agree_with_the_analysis(stored: StoredWaveform) -> None:
    wf = stored.to_waveform()
    recorded = [Recorded("t_rise", rise_time(wf), "s", 0.0, 30e-6),
                Recorded("t_settle", settling_time(wf), "s", None, 1e-3),
                Recorded("vout", 3.3, "V", 3.2, 3.4)]  # fmt: skip
    marks = edge_marks(stored, recorded)
    assert marks is not None and marks.rising and marks.block == 1
    assert marks.duration == pytest.approx(rise_time(wf), rel=1e-9)
    assert marks.duration_recorded is recorded[0] and marks.settling_recorded is recorded[1]
    assert marks.aberration is not None and 6.0 < marks.aberration.percent < 7.5
    assert marks.settled is not None and marks.settled - marks.middle == pytest.approx(
        settling_time(wf), rel=1e-9
    )
    drawn = waveform_plot(stored, marks)
    kinds = [m.kind for m in drawn.marks]
    assert kinds.count("edge") == 2 and kinds.count("settling") == 1 and kinds.count("band") == 2
    (limit,) = [m for m in drawn.marks if m.kind == "limit"]
    assert limit.label == "t_rise max 30 µs" and limit.value == pytest.approx(marks.start + 30e-6)
    assert any("t_settle max 1 ms" in n and "outside the record" in n for n in drawn.notes)


def test_a_falling_edge_is_marked_with_its_fall_time(tmp_path: Path) -> None:
    rising = report_runs.step_waveform()
    falling = Waveform(3300 - rising.samples, dt=rising.dt, t0=rising.t0, scale=1e-3, unit="V")
    for stored in _stored(tmp_path, falling):
        marks = edge_marks(stored)
        assert marks is not None and not marks.rising
        assert marks.duration == pytest.approx(fall_time(falling), rel=1e-9)
        assert marks.aberration is not None
        assert marks.aberration.percent == pytest.approx(undershoot(falling), rel=1e-9)
        assert "fall time" in waveform_plot(stored, marks).notes[0]


@pytest.mark.parametrize(
    "samples",
    [np.full(2000, 100, np.int16), np.random.default_rng(1).integers(-5, 5, 2000).astype(np.int16)],
    ids=["flat", "noise"],
)
def test_no_edge_no_marks(tmp_path: Path, samples: np.ndarray) -> None:
    for stored in _stored(tmp_path, Waveform(samples, dt=1e-6, unit="V")):
        assert edge_marks(stored) is None
        assert waveform_plot(stored).marks == ()


def test_a_long_record_is_marked_from_block_means(tmp_path: Path) -> None:
    points = 4 * ANALYSED_POINTS + 10
    wf = report_runs.step_waveform(points)
    for stored in _stored(tmp_path, wf):
        marks = edge_marks(stored)
        assert marks is not None and marks.block == 5 and marks.step == pytest.approx(5 * wf.dt)
        assert marks.duration == pytest.approx(rise_time(wf), abs=2 * marks.step)
        assert "marks found in the means of 5 consecutive samples" in " ".join(
            waveform_plot(stored, marks).notes
        )


def test_sweep_limits_and_points_outside(tmp_path: Path) -> None:
    path = report_runs.write_run(tmp_path / "fail.h5", report_runs.failing_events())
    with open_run(path) as run:
        drawn = sweep_plot(run.tests[1].sweeps["line_reg"])
    assert [(t.value, t.label) for t in drawn.limit_lines] == [
        (3.25, "low limit 3.25 V"),
        (3.35, "high limit 3.35 V"),
    ]
    (dot,) = drawn.dots
    assert dot.label == "3.38 V at 4.982 V" and dot.y < drawn.limit_lines[1].position


def test_a_sweep_far_outside_its_limits_circles_a_bounded_number(tmp_path: Path) -> None:
    test_id = "p.py::test_sweep"
    events = [
        run_started(),
        *report_runs.sweep_events(test_id, 1, np.full(500, 3.5)),  # every point above 3.35 V
        TestFinished(test_id, "failed", "t", 1.0),
        RunFinished("t", "failed"),
    ]
    with open_run(report_runs.write_run(tmp_path / "s.h5", events)) as run:
        drawn = sweep_plot(run.tests[0].sweeps["line_reg"])
    assert len(drawn.dots) == plot.MAX_DOTS
    assert drawn.notes == ("500 points outside the limits; the first 200 circled",)


def test_a_long_record_is_reduced_piece_by_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("benchtest.report.markers.READ_POINTS", 1000)  # many pieces
    wf = report_runs.step_waveform(2 * ANALYSED_POINTS + 7)
    for stored in _stored(tmp_path, wf):
        marks = edge_marks(stored)
        whole = wf.values[: len(wf) // 3 * 3].reshape(-1, 3).mean(axis=1)
        assert marks is not None and marks.block == 3
        assert marks.duration == pytest.approx(rise_time((np.arange(len(whole)) * 3 * wf.dt,
                                                          whole)), rel=1e-9)  # fmt: skip
