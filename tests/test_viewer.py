"""The desktop viewer, offscreen (pytest-qt): what the browser, tables and plots show, live
follow of a run written by another process, exports, damaged files, a run of the simulated
bench and a 2 GB run file. Screenshots go to the test output folder (see tests/browser.py)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pg = pytest.importorskip("pyqtgraph", reason="the viewer tests need the viewer extra (pyqtgraph)")
pytest.importorskip("pytestqt", reason="the viewer tests need pytest-qt")

import report_runs  # noqa: E402
from browser import output_folder  # noqa: E402
from PySide6 import QtCore  # noqa: E402

from benchtest.analysis import rise_time  # noqa: E402
from benchtest.storage import Hdf5RunWriter  # noqa: E402
from benchtest.storage.example import events_of_test, run_started  # noqa: E402
from benchtest.values.events import (  # noqa: E402
    RunFinished,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.waveform import Waveform  # noqa: E402
from benchtest.viewer.window import ViewerWindow  # noqa: E402

RED, GREEN = "#c62828", "#2e7d32"
RECURSIVE = QtCore.Qt.MatchFlag.MatchExactly | QtCore.Qt.MatchFlag.MatchRecursive


@pytest.fixture
def viewer(qtbot: object) -> Iterator[ViewerWindow]:
    window = ViewerWindow(follow_interval_ms=3_600_000)  # the tests call follow() themselves
    window.resize(1300, 800)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    window.show()
    yield window
    window.close()


def unit(path: Path, serial: str, outcome: str = "passed", seed: int = 1) -> Path:
    with Hdf5RunWriter(path) as writer:
        writer(dataclasses.replace(run_started(serial), serial_number=serial))
        for event in events_of_test("test_plans/ldo/test_ldo.py::test_iq", outcome, 5000):
            if isinstance(event, WaveformRecorded):
                wf = event.waveform
                codes = np.asarray(wf.samples) + np.int16(seed * 40)
                event = dataclasses.replace(event, waveform=dataclasses.replace(wf, samples=codes))
            writer(event)
        writer(RunFinished("2026-11-28T15:44:00+00:00", outcome))
    return path


def shot(widget: object, name: str) -> Path:
    path = output_folder() / f"viewer-{name}.png"
    assert widget.grab().save(str(path))  # type: ignore[attr-defined]
    return path


def test_the_browser_shows_runs_tests_and_records_in_outcome_colours(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    passed = report_runs.write_run(tmp_path / "pass.h5", report_runs.passing_events())
    failed = report_runs.write_run(tmp_path / "fail.h5", report_runs.failing_events())
    viewer.open_paths([tmp_path])
    viewer.browser.expandAll()
    rows = viewer.browser.rows()
    tops = [r for r in rows if r[0] == 0]
    assert [(r[2], r[3]) for r in tops] == [("failed", RED), ("passed", GREEN)]
    assert (1, "test_startup", "failed", RED) in rows
    assert (2, "sweep line_reg", "fail", RED) in rows
    assert (2, "sweep line_reg", "pass", GREEN) in rows
    assert sum(r[1] == "waveform vout_startup" for r in rows) == 2
    shot(viewer, "browser")
    viewer.filter_bar.failed_only.setChecked(True)
    rows = viewer.browser.rows()
    assert [r[2] for r in rows if r[0] == 0] == ["failed"]
    assert {r[2] for r in rows if r[0] == 1} == {"failed"}
    viewer.filter_bar.failed_only.setChecked(False)
    viewer.filter_bar.parameter.setText("line_reg")
    assert [r[1] for r in viewer.browser.rows() if r[0] == 1] == ["test_line_regulation"] * 2
    viewer.filter_bar.since.setText("2026-13-01")
    assert "not YYYY-MM-DD" in viewer.status.text()
    viewer.filter_bar.since.setText("2026-11-29")
    assert viewer.browser.rows() == []
    assert passed.exists() and failed.exists()


def test_a_failing_measurement_table_shows_limits_margin_and_outcome(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    viewer.open_paths([report_runs.write_run(tmp_path / "f.h5", report_runs.failing_events())])
    viewer.browser.row("test_startup").setSelected(True)
    table = viewer.table
    assert viewer.tabs.currentWidget() is table
    assert table.column_texts("name") == ["t_rise", "startup_overshoot", "t_settle"]
    assert table.column_texts("outcome") == ["fail", "pass", "pass"]
    assert table.column_texts("high")[0] == "5 µs"
    assert table.item(0, 7).foreground().color().name() == RED
    assert table.item(1, 7).foreground().color().name() == GREEN
    assert table.column_texts("margin")[0].startswith("-")
    table.sortItems(6, QtCore.Qt.SortOrder.AscendingOrder)  # by margin
    assert table.column_texts("name")[0] == "t_rise"
    assert table.rows[0].margin == pytest.approx(5e-6 - table.rows[0].value)
    shot(viewer, "failing-measurements")


def test_a_waveform_plots_with_cursors_readout_and_analysis_marks(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    viewer.open_paths([report_runs.write_run(tmp_path / "p.h5", report_runs.passing_events())])
    viewer.browser.row("waveform vout_startup").setSelected(True)
    plot = viewer.waveforms
    assert viewer.tabs.currentWidget() is plot and len(plot.curves) == 1
    wf = report_runs.step_waveform()
    t = wf.t0 + np.arange(len(wf)) * wf.dt
    start, stop = plot.view.viewRange()[0]
    assert start == pytest.approx(t[0]) and stop == pytest.approx(t[-1])
    assert plot.marks is not None
    assert plot.marks.rise_time == pytest.approx(rise_time(wf), rel=1e-9)
    plot.cursors[0].setValue(t[100])
    plot.cursors[1].setValue(t[2100])
    volts = np.asarray(wf.samples) * wf.scale
    text = plot.readout.text()
    assert "Δt 100 µs" in text
    assert f"V1 {volts[100] * 1e3:.4g} mV" in text
    dv = volts[2100] - volts[100]
    assert f"ΔV {dv:.4g} V" in text
    assert "rise 7.88" in text and "overshoot" in text
    shot(viewer, "waveform-cursors")
    plot.set_time_range(t[1000], t[1049])
    shown = plot.curves[0].shown
    assert shown is not None and shown.exact
    assert shown.first in (999, 1000) and shown.stop in (1050, 1051)  # in view, one more a side
    np.testing.assert_allclose(shown.values, volts[shown.first : shown.stop])


def test_five_units_overlay_on_one_plot_and_a_run_against_its_baseline(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    paths = [unit(tmp_path / f"u{k}.h5", f"U000{k}", seed=k) for k in range(1, 6)]
    viewer.open_paths(paths)
    viewer.browser.expandAll()
    for item in viewer.browser.findItems(
        "waveform vout_startup",
        QtCore.Qt.MatchFlag.MatchExactly | QtCore.Qt.MatchFlag.MatchRecursive,
    ):
        item.setSelected(True)
    curves = viewer.waveforms.curves
    assert [c.label for c in curves] == [f"U000{k} vout_startup" for k in range(1, 6)]
    tops = [float(np.max(c.shown.values)) for c in curves if c.shown is not None]
    assert np.all(np.diff(tops) > 0.03)  # each unit 40 mV higher than the one before
    shot(viewer, "overlay-5-units")
    csv = viewer.export(tmp_path / "shown.csv")
    assert csv is not None
    lines = csv.read_text().splitlines()
    assert len(lines) == 1 + sum(len(c.shown) for c in curves if c.shown is not None)
    viewer.set_baseline(paths[0])
    viewer.with_baseline.setChecked(True)
    viewer.browser.clearSelection()
    viewer.browser.findItems(
        "waveform vout_startup",
        QtCore.Qt.MatchFlag.MatchExactly | QtCore.Qt.MatchFlag.MatchRecursive,
    )[4].setSelected(True)
    labels = [c.label for c in viewer.waveforms.curves]
    assert labels == ["vout_startup", "baseline U0001"]
    pen = viewer.waveforms.curves[1].item.opts["pen"]
    assert pen.style() == QtCore.Qt.PenStyle.DashLine


def test_a_sweep_is_plotted_with_its_limit_lines_and_plots_export(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    viewer.open_paths([report_runs.write_run(tmp_path / "f.h5", report_runs.failing_events())])
    viewer.browser.row("sweep line_reg").setSelected(True)
    assert viewer.tabs.currentWidget() is viewer.sweeps
    assert viewer.sweeps.limits == list(report_runs.SWEEP_LIMITS)
    assert len(viewer.sweeps.shown[0].y) == 12 and viewer.sweeps.shown[0].y.max() == 3.38
    png = viewer.export(tmp_path / "sweep.png")
    svg = viewer.export(tmp_path / "sweep.svg")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg is not None and "<svg" in svg.read_text()
    assert viewer.export(tmp_path / "sweep.bmp") is None
    assert "export as .png or .svg" in viewer.status.text()
    passed = report_runs.write_run(tmp_path / "p.h5", report_runs.passing_events())
    viewer.open_paths([passed])
    viewer.browser.expandAll()
    for item in viewer.browser.findItems("sweep line_reg", RECURSIVE):
        item.setSelected(True)
    names = [s.name for s in viewer.sweeps.shown]
    assert names == ["SN0042 line_reg (f.h5)", "SN0042 line_reg (p.h5)"]  # same unit, two runs
    assert [float(s.y.max()) for s in viewer.sweeps.shown] == [3.38, 3.31]
    passed.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5", "sweep.png", "sweep.svg"]


def test_a_damaged_file_shows_what_is_readable_and_says_what_is_not(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    path = report_runs.write_killed_run(tmp_path / "killed.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 100)
    viewer.open_paths([path, junk])
    rows = viewer.browser.rows()
    assert (1, "test_startup", "passed", GREEN) in rows
    assert any(r[1].startswith("test_cut") and r[2] == "incomplete" for r in rows)
    text = viewer.problems.toPlainText()
    assert str(junk) in text and "killed.h5" in text
    assert "killed.h5: the run has not finished" in text


def test_a_waveform_with_a_damaged_chunk_says_so_where_it_is_drawn(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    path = report_runs.write_run(tmp_path / "p.h5", report_runs.passing_events())
    with h5py.File(path, "r") as file:
        codes = file["t0001_test_startup/vout_startup/codes"]
        chunk = codes.id.get_chunk_info(0)
    with path.open("r+b") as raw:  # garble the compressed samples, as a bad sector would
        raw.seek(chunk.byte_offset + 8)
        raw.write(b"\xff" * 64)
    viewer.open_paths([path])
    assert "damaged" in viewer.problems.toPlainText()  # the seal says where
    viewer.browser.row("waveform vout_startup").setSelected(True)
    plot = viewer.waveforms
    assert "cannot read" in plot.readout.text() and "codes" in plot.readout.text()
    assert plot.curves[0].shown is None  # nothing drawn from a part that cannot be read


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import events_of_test, run_started
from benchtest.values.events import RunFinished

with Hdf5RunWriter(sys.argv[1]) as writer:
    writer(run_started())
    for k in range(3):
        for event in events_of_test(f"plan.py::test_{{k}}", points=20000, second=2 * k + 1):
            writer(event)
        print(f"finished {{k}}", flush=True)
        sys.stdin.readline()  # the next test starts when the reader has looked
    writer(RunFinished("2026-11-28T15:44:00+00:00", "passed"))
print("closed", flush=True)
"""


def shown_tests(viewer: ViewerWindow) -> list[str]:
    return [r[1] for r in viewer.browser.rows() if r[0] == 1]


def test_live_follow_shows_tests_as_a_writer_in_another_process_finishes_them(
    viewer: ViewerWindow, tmp_path: Path, qtbot: Any
) -> None:
    path = tmp_path / "live.h5"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(tests=str(Path(__file__).parent)), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline() == "finished 0\n"
        viewer.open_paths([path])
        tests = [r[1] for r in viewer.browser.rows() if r[0] == 1]
        assert tests == ["test_0"]
        viewer.browser.row("waveform vout_startup").setSelected(True)
        for k in (1, 2):
            writer.stdin.write("next\n")
            writer.stdin.flush()
            assert writer.stdout.readline() == f"finished {k}\n"
            expected = [f"test_{j}" for j in range(k + 1)]
            if k == 1:
                assert viewer.follow() == [path.resolve()]
            else:  # the window's own timer looks again
                viewer.timer.setInterval(20)
                qtbot.waitUntil(lambda: shown_tests(viewer) == expected, timeout=20_000)  # noqa: B023
            assert shown_tests(viewer) == expected
            assert len(viewer.waveforms.curves) == 1  # still plotted, from the file opened again
        writer.stdin.write("next\n")
        writer.stdin.flush()
        assert writer.stdout.readline() == "closed\n"
        assert writer.wait(timeout=60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        writer.stdin.close()
        writer.stdout.close()
    viewer.follow()
    entry = viewer.entries[path.resolve()]
    assert entry.outcome == "passed" and entry.verified
    assert not entry.run.damage  # type: ignore[union-attr]
    assert viewer.follow() == []  # nothing changed since


def test_files_dropped_on_the_window_are_opened(viewer: ViewerWindow, tmp_path: Path) -> None:
    from PySide6 import QtGui

    path = unit(tmp_path / "drop.h5", "U0099")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    event = QtGui.QDropEvent(
        QtCore.QPointF(10, 10), QtCore.Qt.DropAction.CopyAction, mime,
        QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    viewer.dropEvent(event)
    assert next(r[1] for r in viewer.browser.rows() if r[0] == 0).startswith("U0099")


def test_a_run_of_the_plans_on_the_simulated_bench(
    viewer: ViewerWindow, demo_run: subprocess.CompletedProcess[str]
) -> None:
    done = demo_run  # `benchtest demo --results-dir RESULTS`, shared with tests/test_demo.py
    assert done.args[1:4] == ["-m", "benchtest.cli", "demo"]
    assert done.returncode == 0, done.stdout + done.stderr
    viewer.open_paths([Path(done.args[-1])])
    viewer.browser.expandAll()
    rows = viewer.browser.rows()
    assert rows[0][2] == "passed" and sum(r[0] == 1 for r in rows) >= 3
    waves = [r for r in rows if r[1].startswith("waveform ")]
    assert waves, rows
    viewer.browser.row(waves[0][1]).setSelected(True)
    curve = viewer.waveforms.curves[0]
    assert curve.shown is not None and len(curve.shown) > 10
    assert np.isfinite(curve.shown.values).all()
    assert viewer.problems.toPlainText() == "No problems: every file read whole."


GIB = 1 << 30


def big_run(path: Path, gigabytes: float) -> None:
    """A run of 16-bit incompressible records, `gigabytes` in all, with the fast codec."""
    rng = np.random.default_rng(3)
    points = 64 << 20  # 128 MiB a record
    codes = rng.integers(-(1 << 15), 1 << 15, points, dtype=np.int16)
    with Hdf5RunWriter(path, compression="fast", sync="never") as writer:
        writer(run_started())
        for k in range(round(gigabytes * GIB / codes.nbytes)):
            test = f"plan.py::test_record[{k}]"
            writer(TestStarted(test, "2026-11-28T15:43:00+00:00"))
            wf = Waveform(np.roll(codes, k), dt=1e-9, t0=0.0, scale=1e-3, unit="V")
            writer(WaveformRecorded(test, "ch1", wf, "CH1"))
            writer(TestFinished(test, "passed", "2026-11-28T15:43:01+00:00", 1.0))
        writer(RunFinished("2026-11-28T15:44:00+00:00", "passed"))


def test_a_2_gb_run_file_opens_and_plots_without_reading_it_whole(
    viewer: ViewerWindow, tmp_path: Path
) -> None:
    pytest.importorskip("hdf5plugin", reason="the 2 GB file is written with the fast codec")
    free = shutil.disk_usage(tmp_path).free
    if free < 3 * GIB:
        pytest.skip(f"the 2 GB run file needs 3 GiB free in {tmp_path}; {free / GIB:.1f} GiB free")
    path = tmp_path / "big.h5"
    try:  # 2 GB are not left in pytest's kept tmp folders, whatever happens
        big_run(path, 2.0)
        assert path.stat().st_size >= 2 * GIB
        viewer.open_paths([path])
        entry = viewer.entries[path.resolve()]
        assert not entry.verified and "seal not checked" in viewer.problems.toPlainText()
        viewer.browser.expandAll()
        assert sum(r[0] == 1 for r in viewer.browser.rows()) == 16
        viewer.browser.row("test_record[0]").child(0).setSelected(True)
        curve = viewer.waveforms.curves[0]
        assert curve.envelope.samples_read == 64 << 20  # this record, not the file
        assert curve.shown is not None and curve.shown.values.max() == pytest.approx(32.767)
    finally:
        viewer.close()  # closes the file before it goes
        path.unlink(missing_ok=True)


def test_benchtest_view_opens_a_run_and_saves_the_window(tmp_path: Path) -> None:
    run = report_runs.write_run(tmp_path / "p.h5", report_runs.passing_events())
    png = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "benchtest.cli", "view", str(run), "--screenshot", str(png)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    done = subprocess.run(
        [sys.executable, "-m", "benchtest.cli", "view", str(run), "--screenshot",
         str(tmp_path / "missing" / "w.png")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"benchtest view: {tmp_path / 'missing' / 'w.png'}: cannot write the screenshot"
    )


VOID_CALLS = """
import sys
{setup}
from PySide6 import QtCore
point = QtCore.QPointF()
for _ in range(300_000):
    point.setX(0.0)  # a Qt method that returns nothing
print("alive", flush=True)
"""


def test_long_sessions_survive_pyside6_taking_references_from_none() -> None:
    from benchtest.viewer.qtguard import none_loses_references

    if sys.version_info >= (3, 12) or not none_loses_references():
        pytest.skip("this Python and PySide6 do not take references from None")
    unguarded = subprocess.run(
        [sys.executable, "-c", VOID_CALLS.format(setup="")], capture_output=True, text=True
    )
    assert unguarded.returncode != 0 and "none_dealloc" in unguarded.stderr  # the bug
    guarded = subprocess.run(
        [sys.executable, "-c", VOID_CALLS.format(setup="import benchtest.viewer.plots")],
        capture_output=True, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert guarded.returncode == 0 and guarded.stdout == "alive\n", guarded.stderr


LIVE_PLAN = """
import os, pathlib, time
import pytest

GATE = pathlib.Path(os.environ["BENCHTEST_VIEWER_GATE"])


@pytest.mark.parametrize("step", range(3))
def test_step(step, measure):
    deadline = time.monotonic() + 120  # the reader lets each step go on by creating its gate
    while step and not GATE.with_suffix(f".{step}").exists():
        assert time.monotonic() < deadline, f"gate {step} never opened"
        time.sleep(0.02)
    measure("iq_active", 45e-6 + step * 1e-6)
"""


def test_live_follow_of_a_plan_writing_its_run_on_the_simulated_bench(
    viewer: ViewerWindow, tmp_path: Path, qtbot: Any
) -> None:
    plan = tmp_path / "test_live.py"
    plan.write_text(LIVE_PLAN)
    gate, results = tmp_path / "gate", tmp_path / "results"
    repo = Path(__file__).resolve().parent.parent
    command = [
        sys.executable, "-m", "benchtest.cli", "run", str(plan), "--sim",
        "--bench", str(repo / "benches" / "sim.yaml"),
        "--dut", str(repo / "dut_profiles" / "bt_ldo33.yaml"),
        "--results-dir", str(results), "--serial-number", "LIVE-1", "-p", "no:cacheprovider",
    ]  # fmt: skip
    env = {**os.environ, "BENCHTEST_VIEWER_GATE": str(gate)}
    plan_run = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        qtbot.waitUntil(lambda: any(results.glob("*.h5")), timeout=60_000)
        viewer.open_paths([next(results.glob("*.h5"))])
        viewer.timer.setInterval(20)

        def tests() -> list[tuple[str, str]]:
            return [(r[1], r[2]) for r in viewer.browser.rows() if r[0] == 1]

        qtbot.waitUntil(lambda: ("test_step[0]", "passed") in tests(), timeout=60_000)
        qtbot.waitUntil(lambda: ("test_step[1]", "incomplete") in tests(), timeout=60_000)
        assert ("test_step[2]", "passed") not in tests()  # it cannot start before its gate
        for step in (1, 2):
            gate.with_suffix(f".{step}").touch()
            qtbot.waitUntil(lambda: (f"test_step[{step}]", "passed") in tests(), timeout=60_000)  # noqa: B023
        assert plan_run.wait(timeout=120) == 0
        viewer.timer.setInterval(3_600_000)
        viewer.follow()
        entry = next(iter(viewer.entries.values()))
        assert entry.outcome == "passed" and entry.verified and not entry.problems
        assert tests() == [(f"test_step[{k}]", "passed") for k in range(3)]
    finally:
        if plan_run.poll() is None:
            plan_run.kill()
            plan_run.wait()
        assert plan_run.stdout is not None
        plan_run.stdout.close()


def test_a_large_run_opens_unverified_and_verifies_when_asked(
    viewer: ViewerWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("benchtest.viewer.runs.VERIFY_AT_OPEN_BYTES", 0)  # every file is large
    path = report_runs.write_run(tmp_path / "p.h5", report_runs.passing_events())
    viewer.open_paths([path])
    entry = viewer.entries[path.resolve()]
    assert not entry.verified and "seal not checked" in viewer.problems.toPlainText()
    viewer.browser.topLevelItem(0).setSelected(True)  # type: ignore[union-attr]
    viewer.verify_selected()
    assert entry.verified and entry.outcome == "passed"
    assert viewer.problems.toPlainText() == "No problems: every file read whole."
