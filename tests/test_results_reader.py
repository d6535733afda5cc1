"""`benchtest.results.open_run`: reading runs back lazily, and refusing damaged files clearly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.report.html import render_report
from benchtest.results import open_run
from benchtest.runfile.seal import seal_file
from benchtest.runfile.tables import read_table
from benchtest.storage.example import PLAN, startup_waveform, write_example_run
from benchtest.values.errors import ResultFileError
from benchtest.values.waveform import Waveform

POINTS = 300_000
DOCS = Path(__file__).resolve().parents[1] / "docs" / "results-format.md"
V1_FILE = Path(__file__).resolve().parent / "data" / "run_schema_v1.h5"  # written by schema 1
V2_FILE = Path(__file__).resolve().parent / "data" / "run_schema_v2.h5"  # written by schema 2


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    return write_example_run(tmp_path / "run.h5", points=POINTS)


def test_metadata_and_config_snapshots(run_file: Path) -> None:
    with open_run(run_file) as run:
        assert run.schema_version == 3
        assert run.metadata["part"] == "LDO-3V3"
        assert run.metadata["plans_dirty"] is True
        assert run.outcome == "failed"
        assert run.problems == []
        assert run.dut_profile is not None and "LDO-3V3" in run.dut_profile.text
        assert run.bench_file is not None and run.bench_file.path == "benches/sim.yaml"
        assert run.instruments["driver"].tolist() == ["keithley.k2450", "rigol.ds1000z"]
        assert run.safe_state_log["ok"].tolist() == [True, False]


def test_tests_come_back_in_order_with_decoded_structured_measurements(run_file: Path) -> None:
    with open_run(run_file) as run:
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
        active = run.test(f"{PLAN}::test_iq[active]")
        assert active.entry == "t0002_test_iq_active_"
        assert "above the high limit" in active.message
        assert active.conditions == {"vin": 3.6, "load": "1 mA"}
        m = active.measurements
        assert m.dtype["name"].kind == "U" and m.dtype["value"] == np.float64
        assert m["name"].tolist() == ["iq", "dropout"]
        assert m["outcome"].tolist() == ["fail", "pass"]
        assert json.loads(m["conditions"][0]) == {"vin": 3.6, "load": "1 mA"}
        assert m[m["name"] == "iq"]["value"][0] == pytest.approx(71.3e-6)
        assert np.isnan(m["low"][1])
        assert run.measurements["test_id"].tolist()[2] == f"{PLAN}::test_iq[active]"
        assert len(run.measurements) == 4
        assert run.tests[2].waveforms == {} and len(run.tests[2].measurements) == 0


def test_waveform_slices_read_lazily_in_physical_units(run_file: Path) -> None:
    expected = startup_waveform(POINTS)
    with open_run(run_file) as run:
        wf = run.tests[0].waveforms["vout_startup"]
        assert (len(wf), wf.unit, wf.channel) == (POINTS, "V", "CH1")
        window = slice(150_000, 150_100)
        codes = wf.codes[window]
        assert codes.dtype == np.int16
        np.testing.assert_array_equal(codes, expected.samples[window])
        np.testing.assert_array_equal(wf.values(window), codes * wf.scale + wf.offset)
        np.testing.assert_array_equal(wf.time(window), expected.time[window])
        assert wf.settings["volts_per_div"] == 0.5


def test_to_waveform_round_trips(run_file: Path) -> None:
    expected = startup_waveform(POINTS)
    with open_run(run_file) as run:
        wf = run.tests[0].waveforms["vout_startup"].to_waveform()
    assert isinstance(wf, Waveform)
    np.testing.assert_array_equal(wf.samples, expected.samples)
    assert (wf.dt, wf.t0, wf.scale, wf.offset, wf.unit) == (
        expected.dt,
        expected.t0,
        expected.scale,
        expected.offset,
        "V",
    )
    assert dict(wf.settings) == dict(expected.settings)


def test_reading_a_closed_run_raises_result_file_error(run_file: Path) -> None:
    with open_run(run_file) as run:
        wf = run.tests[0].waveforms["vout_startup"]
    with pytest.raises(ResultFileError, match="cannot read"):
        wf.codes[:10]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match=r"nope\.h5: no such file"):
        open_run(tmp_path / "nope.h5")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="not a regular file"):
        open_run(tmp_path)


def test_text_file_renamed_h5(tmp_path: Path) -> None:
    path = tmp_path / "notes.h5"
    path.write_text("vout = 3.3 V\n")
    with pytest.raises(ResultFileError, match=r"notes\.h5: not an HDF5 file"):
        open_run(path)


def test_truncated_file_reads_what_is_left_or_says_why_not(run_file: Path, tmp_path: Path) -> None:
    half = tmp_path / "half.h5"
    data = run_file.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    try:
        run = open_run(half)
    except ResultFileError as exc:
        assert re.search(r"half\.h5: damaged: .*truncated to", str(exc))
        return
    with run:
        assert re.search(r"half\.h5: damaged: truncated to \d+ of the \d+ bytes", run.problems[0])
        assert run.damaged and run.outcome == "damaged"


def test_newer_schema_version_is_refused(run_file: Path) -> None:
    with h5py.File(run_file, "a") as f:
        f.attrs["benchtest_schema_version"] = np.int64(4)
        seal = f["summary/seal"].id.get_offset()
    seal_file(run_file, seal)  # as the newer writer would have sealed it
    with pytest.raises(ResultFileError, match=r"schema version 4 is newer.*upgrade benchtest"):
        open_run(run_file)


def test_a_changed_schema_version_in_a_sealed_file_is_damage(run_file: Path) -> None:
    with h5py.File(run_file, "a") as f:
        f.attrs["benchtest_schema_version"] = np.int64(4)
    with pytest.raises(ResultFileError, match=r"damaged: its @benchtest_schema_version reads 4"):
        open_run(run_file)


def test_plain_hdf5_file_is_not_a_run(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(ResultFileError, match="no @benchtest_schema_version"):
        open_run(path)


def test_a_damaged_waveform_fails_when_read_and_the_rest_still_loads(run_file: Path) -> None:
    with h5py.File(run_file, "r") as f:
        chunk = f["t0002_test_iq_active_/vout_startup/codes"].id.get_chunk_info(0)
    with run_file.open("r+b") as raw:  # overwrite the compressed chunk with garbage
        raw.seek(chunk.byte_offset)
        raw.write(b"\xff" * chunk.size)
    with open_run(run_file) as run:
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
        with pytest.raises(ResultFileError, match=r"run\.h5:/t0002_test_iq_active_/.*cannot read"):
            run.tests[1].waveforms["vout_startup"].codes[:10]
        assert len(run.tests[0].waveforms["vout_startup"].codes[:10]) == 10


def test_rows_without_their_commit_mark_do_not_count(run_file: Path) -> None:
    with h5py.File(run_file, "a") as f:
        tests = f["summary/tests"]
        row = tests[2]
        row["commit"] = 0  # as if the kill came before this row was completely written
        tests[2] = row
        rows = f["summary/measurements"]
        row = rows[3]
        row["commit"] = 7  # a measurement row of test 2 that is not what it should be
        rows[3] = row
    with open_run(run_file, verify=False) as run:  # the seal would say: changed since closed
        assert [t.id for t in run.tests] == [f"{PLAN}::test_iq[sleep]"]
        assert len(run.measurements) == 2
        assert re.search(r"test_iq\[active\] was not completely written", run.problems[0])


def test_readable_prefix_of_a_table_that_fails_past_a_row() -> None:
    class Failing:
        dtype = np.dtype([("x", np.int64)])
        shape = (10,)

        def __getitem__(self, index: object) -> np.ndarray:
            if not isinstance(index, slice) or index.stop > 7:
                raise OSError("bad global heap collection signature")
            return np.arange(index.start, index.stop).astype(self.dtype)

    assert read_table(Failing())["x"].tolist() == list(range(7))


KILLED = """
import sys, time
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.events import MeasurementRecorded, TestStarted
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import events_of_test, run_started

writer = Hdf5RunWriter(sys.argv[1])
writer(run_started())
for event in events_of_test("plan.py::test_done", "passed", points=2000):
    writer(event)
writer(TestStarted("plan.py::test_cut[3.3]", "2026-11-28T15:43:05+00:00", {"vdd": 3.3}))
writer(MeasurementRecorded("plan.py::test_cut[3.3]", Measurement.judge("x", 1, "V", Limits())))
print("ready", flush=True)
time.sleep(60)
"""


def test_killed_run_shows_its_cut_short_test_as_incomplete(tmp_path: Path) -> None:
    path, script = tmp_path / "killed.h5", tmp_path / "child.py"
    script.write_text(KILLED)
    child = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    child.kill()
    child.wait()
    with open_run(path) as run:
        assert run.outcome == "incomplete"
        assert [(t.id, t.outcome) for t in run.tests] == [
            ("plan.py::test_done", "passed"),
            ("plan.py::test_cut[3.3]", "incomplete"),
        ]
        cut = run.tests[1]
        assert cut.entry == "t0002_test_cut_3_3_" and cut.conditions == {"vdd": 3.3}
        assert "stopped while this test was running" in cut.message
        assert len(cut.measurements) == 0  # recorded but never committed
        assert "INCOMPLETE" in render_report(run)


def test_a_schema_1_file_still_reads() -> None:
    with open_run(V1_FILE) as run:
        assert run.schema_version == 1
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
        active = run.test(f"{PLAN}::test_iq[active]")
        assert active.index == 2 and active.conditions == {"vin": 3.6, "load": "1 mA"}
        assert active.measurements["name"].tolist() == ["iq", "dropout"]
        assert active.measurements["conditions"].tolist() == ["", ""]
        assert run.measurements["test_id"].tolist()[2] == f"{PLAN}::test_iq[active]"
        wf = run.tests[0].waveforms["vout_startup"]
        np.testing.assert_array_equal(wf.codes[...], startup_waveform(2000).samples)
        np.testing.assert_array_equal(wf.time(slice(0, 3)), startup_waveform(2000).time[:3])
        assert run.test_table["outcome"].tolist() == ["passed", "failed", "skipped"]


def test_a_schema_2_file_still_reads() -> None:
    with open_run(V2_FILE) as run:
        assert run.schema_version == 2 and run.problems == []
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
        active = run.test(f"{PLAN}::test_iq[active]")
        assert active.index == 2 and active.conditions == {"vin": 3.6, "load": "1 mA"}
        assert active.measurements["name"].tolist() == ["iq", "dropout"]
        assert run.measurements["test_id"].tolist()[2] == f"{PLAN}::test_iq[active]"
        wf = run.tests[0].waveforms["vout_startup"]
        np.testing.assert_array_equal(wf.codes[...], startup_waveform(2000).samples)
        assert run.test_table["outcome"].tolist() == ["passed", "failed", "skipped"]


def test_tables_convert_to_pandas_only_when_it_is_installed(
    run_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_run(run_file) as run:
        monkeypatch.setitem(sys.modules, "pandas", None)
        with pytest.raises(ImportError, match=r"to_pandas\(\) needs pandas"):
            run.measurements.to_pandas()
        monkeypatch.undo()
        pandas = pytest.importorskip("pandas")
        frame = run.measurements.to_pandas()
        assert isinstance(frame, pandas.DataFrame) and list(frame["name"])[:2] == ["iq", "dropout"]


def test_reader_imports_neither_plugin_nor_drivers_nor_jinja() -> None:
    code = (
        "import sys, benchtest.results\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('pyvisa', 'serial', 'instruments', 'jinja2', 'silx', 'pytest', '_pytest')"
        " or m.startswith(('benchtest.plugin', 'benchtest.sim', 'benchtest.cli'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_plain_h5py_script_in_the_docs_works(
    run_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = r"```python\n(import json\s+import zlib\s+import h5py.*?)```"
    script = re.search(pattern, DOCS.read_text(), re.S)
    assert script is not None
    namespace: dict[str, object] = {}
    exec(script.group(1), namespace)
    namespace["read_run"](run_file)  # type: ignore[operator]
    out = capsys.readouterr().out
    assert "LDO-3V3 SN0042 failed" in out
    assert f"{PLAN}::test_iq[active] failed" in out
    first = startup_waveform(POINTS).values[0]
    assert f"vout_startup 300000 points, first: {first} V at -0.0001 s" in out
