"""`benchtest.results.open_run`: reading runs back lazily, and refusing damaged files clearly."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.errors import ResultFileError
from benchtest.results import open_run
from benchtest.storage.example import PLAN, startup_waveform, write_example_run
from benchtest.waveform import Waveform

POINTS = 300_000
DOCS = Path(__file__).resolve().parents[1] / "docs" / "results-format.md"


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    return write_example_run(tmp_path / "run.h5", points=POINTS)


def test_metadata_and_config_snapshots(run_file: Path) -> None:
    with open_run(run_file) as run:
        assert run.schema_version == 1
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


def test_truncated_file(run_file: Path, tmp_path: Path) -> None:
    half = tmp_path / "half.h5"
    data = run_file.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultFileError, match=r"half\.h5: cannot open, truncated or corrupt"):
        open_run(half)


def test_newer_schema_version_is_refused(run_file: Path) -> None:
    with h5py.File(run_file, "a") as f:
        f.attrs["benchtest_schema_version"] = np.int64(2)
    with pytest.raises(ResultFileError, match=r"schema version 2 is newer.*upgrade benchtest"):
        open_run(run_file)


def test_plain_hdf5_file_is_not_a_run(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(ResultFileError, match="no @benchtest_schema_version"):
        open_run(path)


def test_a_damaged_entry_is_reported_and_the_others_still_load(run_file: Path) -> None:
    with h5py.File(run_file, "r") as f:
        chunk = f["t0002_test_iq_active_/measurements"].id.get_chunk_info(0)
    with run_file.open("r+b") as raw:  # overwrite the compressed table chunk with garbage
        raw.seek(chunk.byte_offset)
        raw.write(b"\xff" * chunk.size)
    with open_run(run_file) as run:
        assert [t.entry for t in run.tests] == ["t0001_test_iq_sleep_", "t0003_test_psrr"]
        assert len(run.problems) == 1
        assert re.search(r"run\.h5: /t0002_test_iq_active_: unreadable", run.problems[0])
        assert run.tests[0].measurements["name"].tolist() == ["iq", "dropout"]


def test_killed_run_reads_as_incomplete(run_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "killed.h5"
    shutil.copy(run_file, copy)
    with h5py.File(copy, "a") as f:  # what a kill during the third test leaves
        del f.attrs["end_time"]
        f.attrs["outcome"] = "incomplete"
        entry = f["t0003_test_psrr"]
        for name in ("measurements", "end_time", "duration"):
            del entry[name]
        entry["outcome"][()] = "incomplete"
    with open_run(copy) as run:
        assert run.outcome == "incomplete"
        psrr = run.tests[2]
        assert psrr.outcome == "incomplete" and psrr.end == "" and np.isnan(psrr.duration)
        assert len(psrr.measurements) == 0
        assert psrr.measurements.dtype.names == (
            "name",
            "value",
            "unit",
            "low",
            "high",
            "outcome",
            "timestamp",
        )


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
    script = re.search(r"```python\n(import h5py.*?)```", DOCS.read_text(), re.S)
    assert script is not None
    namespace: dict[str, object] = {}
    exec(script.group(1), namespace)
    namespace["read_run"](run_file)  # type: ignore[operator]
    out = capsys.readouterr().out
    assert "LDO-3V3 SN0042 failed" in out
    assert f"{PLAN}::test_iq[active] failed" in out
    first = startup_waveform(POINTS).values[0]
    assert f"vout_startup 300000 points, first: {first} V at -0.0001 s" in out
