"""The viewer's data side, without Qt: envelopes of long waveforms read lazily by visible range,
finding, opening and filtering runs (also while a writer holds the file), margins, SI readouts,
CSV export, and `benchtest view` without the viewer extra."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchtest.cli import main
from benchtest.results import Catalog, open_run
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import events_of_test, run_started
from benchtest.values.events import RunFinished
from benchtest.viewer import INSTALL_HINT, display_problem, envelope
from benchtest.viewer.csvfile import ExportError, Series, write_csv
from benchtest.viewer.envelope import CHUNK, Envelope
from benchtest.viewer.measurements import margin, rows_of
from benchtest.viewer.runs import Filter, RunFile, find_runs, open_unlocked
from benchtest.viewer.units import si


class Recorded:
    """A record whose samples count what was read, and refuse whole-record reads."""

    def __init__(self, codes: np.ndarray, scale: float = 1e-3, offset: float = 0.0) -> None:
        self._codes = codes
        self.reads: list[int] = []
        self.scale, self.offset, self.t0, self.dt = scale, offset, -1e-3, 1e-6

    @property
    def codes(self) -> Recorded:
        return self

    def __len__(self) -> int:
        return len(self._codes)

    def __getitem__(self, index: Any) -> np.ndarray:
        assert isinstance(index, slice), index
        part = self._codes[index]
        self.reads.append(len(part))
        return part


def spiky(points: int) -> np.ndarray:
    codes = (np.arange(points) % 100).astype(np.int16)
    codes[1_234_567] = 30_000  # one sample: a peak the envelope must keep
    codes[2_345_678] = -30_000
    return codes


def test_a_full_view_keeps_every_peak_with_two_points_per_pixel() -> None:
    record = Recorded(spiky(3_000_000))
    env = Envelope(record)
    trace = env.view(*env.duration, pixels=800)
    assert not trace.exact and len(trace) <= 2 * 800
    assert trace.values.max() == pytest.approx(30.0) and trace.values.min() == pytest.approx(-30.0)
    assert max(record.reads) <= CHUNK  # never the whole record at a time
    assert env.samples_read == 3_000_000
    env.view(*env.duration, pixels=800)
    assert env.samples_read == 3_000_000  # read once: the envelope is kept


def test_a_zoomed_view_reads_only_the_samples_in_view_and_draws_them_exactly() -> None:
    codes = spiky(3_000_000)
    record = Recorded(codes)
    env = Envelope(record)
    start = env.t0 + 1_234_500 * env.dt
    trace = env.view(start, start + 200 * env.dt, pixels=800)
    assert trace.exact
    assert sum(record.reads) == len(trace) <= 202
    index = (trace.time - env.t0) / env.dt
    np.testing.assert_array_equal(trace.values, codes[index.round().astype(int)] * 1e-3)
    assert 30.0 in trace.values


def test_a_middle_zoom_reduces_the_visible_samples_in_memory() -> None:
    record = Recorded(spiky(3_000_000))
    env = Envelope(record)
    start = env.t0 + 1_200_000 * env.dt
    trace = env.view(start, start + 50_000 * env.dt, pixels=500)
    assert not trace.exact and 2 * 450 <= len(trace) <= 2 * 500
    assert sum(record.reads) <= 50_002
    assert trace.values.max() == pytest.approx(30.0)
    assert trace.time[0] >= start - env.dt and trace.time[-1] <= start + 50_001 * env.dt


def test_a_negative_scale_swaps_minimum_and_maximum() -> None:
    env = Envelope(Recorded(spiky(3_000_000), scale=-1.0))
    trace = env.view(*env.duration, pixels=300)
    assert trace.values.min() == -30_000 and trace.values.max() == 30_000
    assert np.all(trace.values[0::2] <= trace.values[1::2])


def test_a_view_outside_the_record_is_empty_and_a_bad_time_base_is_refused() -> None:
    env = Envelope(Recorded(spiky(3_000_000)))
    assert len(env.view(10.0, 11.0, 100)) == 0
    record = Recorded(spiky(3_000_000))
    record.dt = 0.0
    with pytest.raises(ValueError, match=r"sample interval 0\.0"):
        Envelope(record)


def test_a_stored_waveform_is_read_by_visible_range(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        for event in events_of_test("plan.py::test_a", points=2_000_000):
            writer(event)
        writer(RunFinished("2026-11-28T15:44:00+00:00", "passed"))
    with open_run(path) as run:
        wf = run.tests[0].waveforms["vout_startup"]
        env = Envelope(wf)
        first = env.view(*env.duration, pixels=1000)
        assert first.values.max() == pytest.approx(float(np.max(wf.values())), abs=1e-12)
        assert first.values.min() == pytest.approx(float(np.min(wf.values())), abs=1e-12)
        zoom = Envelope(wf)
        zoom.view(wf.t0 + 1000 * wf.dt, wf.t0 + 1500 * wf.dt, pixels=1000)
        assert zoom.samples_read <= 503  # one more on each side


def test_margin_is_the_distance_to_the_nearer_limit_negative_outside() -> None:
    assert margin(1.0, 0.0, 3.0) == 1.0
    assert margin(np.float32(4.0), np.float64(0.0), 3.0) == -1.0
    assert margin(5.0, float("nan"), 3.0) == -2.0
    assert margin(5.0, 4.5, float("nan")) == 0.5
    assert np.isnan(margin(5.0, float("nan"), float("nan")))


def test_si_readouts() -> None:
    assert si(1.25e-6, "s") == "1.25 µs"
    assert si(np.float32(-0.0034), "V") == "-3.4 mV"
    assert si(999.99e-6, "s", 3) == "1 ms"
    assert si(6.78, "%") == "6.78 %"
    assert si(0.0, "V") == "0 V"
    assert si(float("nan"), "V") == "nan V"


def write_unit(path: Path, serial: str, outcome: str = "passed", day: int = 28) -> Path:
    with Hdf5RunWriter(path) as writer:
        start = run_started(f"2026-11-{day}-{serial}")
        when = f"2026-11-{day}T15:43:00.000000+00:00"
        writer(dataclasses.replace(start, serial_number=serial, started=when))
        for event in events_of_test("plan.py::test_ldo", outcome, points=5000):
            writer(event)
        writer(RunFinished(f"2026-11-{day}T15:44:00+00:00", outcome))
    return path


def test_runs_are_found_in_files_and_folders_and_missing_paths_named(tmp_path: Path) -> None:
    a = write_unit(tmp_path / "a.h5", "U1")
    (tmp_path / "sub").mkdir()
    b = write_unit(tmp_path / "sub" / "b.h5", "U2")
    (tmp_path / ".c.h5.creating").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    found, problems = find_runs([a, tmp_path, tmp_path / "empty", tmp_path / "nope"])
    assert found == [a.resolve(), b.resolve()]
    assert problems == [
        f"{tmp_path / 'empty'}: no run files (*.h5) in this folder",
        f"{tmp_path / 'nope'}: no such file or folder",
    ]


def test_a_catalog_folder_lists_its_indexed_runs_and_what_it_skipped(tmp_path: Path) -> None:
    a = write_unit(tmp_path / "a.h5", "U1")
    b = write_unit(tmp_path / "b.h5", "U2", day=27)
    (tmp_path / "junk.h5").write_bytes(b"not a run")
    Catalog(tmp_path).close()  # the folder now has an index
    found, problems = find_runs([tmp_path])
    assert found == [b.resolve(), a.resolve()]  # in start order, junk.h5 left out
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'junk.h5'}: ")


def test_filter_by_outcome_parameter_serial_and_date(tmp_path: Path) -> None:
    good = RunFile.open(write_unit(tmp_path / "a.h5", "U0001", "passed", 27))
    bad = RunFile.open(write_unit(tmp_path / "b.h5", "U0002", "failed", 28))
    try:
        assert [len(Filter().tests(e)) for e in (good, bad)] == [1, 1]
        assert [len(Filter(failed_only=True).tests(e)) for e in (good, bad)] == [0, 1]
        assert [len(Filter(parameter="IQ").tests(e)) for e in (good, bad)] == [1, 1]
        assert [len(Filter(parameter="vdd_ripple").tests(e)) for e in (good, bad)] == [0, 0]
        assert [Filter(serial="0002").run_matches(e) for e in (good, bad)] == [False, True]
        late = Filter(since=date(2026, 11, 28))
        assert [late.run_matches(e) for e in (good, bad)] == [False, True]
        early = Filter(until=date(2026, 11, 27))
        assert [early.run_matches(e) for e in (good, bad)] == [True, False]
        rows = rows_of(bad.tests)
        assert [(r.name, r.outcome) for r in rows] == [("iq", "fail"), ("dropout", "pass")]
        assert rows[0].margin < 0 < rows[1].margin
    finally:
        good.close()
        bad.close()


def test_a_damaged_file_opens_what_is_readable_and_says_what_is_not(tmp_path: Path) -> None:
    path = write_unit(tmp_path / "a.h5", "U1")
    data = bytearray(path.read_bytes())
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) - 3000])
    entry = RunFile.open(cut)
    try:
        assert entry.run is not None and entry.outcome == "damaged"
        assert any("truncated" in p for p in entry.problems), entry.problems
    finally:
        entry.close()
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    entry = RunFile.open(junk)
    assert entry.run is None and entry.outcome == "damaged"
    assert entry.problems and str(junk) in entry.problems[0]


HOLDER = """
import sys, time, h5py
f = h5py.File(sys.argv[1], "r+")  # what a writer does: the file open for writing, locked
print("holding", flush=True)
sys.stdin.readline()
f.attrs["touched"] = 1
f.close()
print("closed", flush=True)
"""


def test_a_file_held_by_a_writer_opens_without_blocking_it(tmp_path: Path) -> None:
    path = write_unit(tmp_path / "a.h5", "U1")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(OSError, match="lock"):
            h5py.File(path, "r")  # the default way is refused while the writer holds it
        with open_unlocked(path, verify=False) as run:
            assert [t.outcome for t in run.tests] == ["passed"]
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "closed\n"  # the writer went on while we read
    finally:
        holder.kill()
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
    assert holder.returncode in (0, -9)
    with h5py.File(path, "r") as file:
        assert file.attrs["touched"] == 1


def test_csv_export_is_whole_or_nothing(tmp_path: Path) -> None:
    x = np.array([0.0, 1e-6]), np.array([1.5, np.float32(2.5)], dtype=np.float64)
    done = write_csv(tmp_path / "a.csv", [Series("U1 vout", x[0], x[1], "s", "V")])
    assert done.read_text().splitlines() == [
        "series,x (s),y (V),y unit", "U1 vout,0.0,1.5,V", "U1 vout,1e-06,2.5,V",
    ]  # fmt: skip
    with pytest.raises(ExportError, match="nothing is shown"):
        write_csv(tmp_path / "b.csv", [])
    with pytest.raises(ExportError, match="cannot write"):
        write_csv(tmp_path / "missing" / "c.csv", [Series("a", x[0], x[1], "s", "V")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_view_without_the_viewer_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyqtgraph" else real(name)
    )
    assert main(["view", "somewhere.h5"]) == 2
    err = capsys.readouterr().err
    assert err == INSTALL_HINT + "\n"
    assert "pip install 'benchtest[viewer]'" in INSTALL_HINT


def test_view_without_a_display_says_so_instead_of_letting_qt_abort(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr("benchtest.cli.view.missing", list)  # as if the extra were installed
    assert main(["view", "somewhere.h5"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [display_problem()] and "DISPLAY" in err[0] and "offscreen" in err[0]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert display_problem() == ""
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert display_problem() == ""


def test_the_plugin_and_the_command_line_never_import_qt() -> None:
    code = textwrap.dedent(
        """
        import sys
        import benchtest.plugin, benchtest.cli.commands, benchtest.viewer.runs
        import benchtest.viewer.envelope, benchtest.viewer.marks, benchtest.viewer.csvfile
        from benchtest.cli.commands import _parser
        _parser()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph")))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert envelope.__doc__ and "Nothing here needs Qt" in envelope.__doc__
