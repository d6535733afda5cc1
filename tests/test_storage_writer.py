"""The HDF5 run writer, checked with plain h5py and silx: layout, dtypes, filters, NeXus chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from silx.io.nxdata import get_default, is_valid_nxdata

from benchtest import __version__
from benchtest.results import open_run
from benchtest.run.recorder import RunRecorder
from benchtest.storage import SCHEMA_VERSION, Hdf5RunWriter
from benchtest.storage.example import PLAN, example_events, run_started, startup_waveform
from benchtest.storage.header import running_json
from benchtest.values.errors import ResultFileError
from benchtest.values.events import (
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    WaveformRecorded,
)
from benchtest.values.events import TestFinished as Finished  # renamed: pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform

SLEEP = f"{PLAN}::test_iq[sleep]"
ACTIVE = f"{PLAN}::test_iq[active]"
PSRR = f"{PLAN}::test_psrr"


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    """The example run, emitted event by event through a RunRecorder into the writer."""
    path = tmp_path / "run.h5"
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    for event in example_events(points=300_000):
        recorder.emit(event)
    return path


@pytest.fixture
def h5(run_file: Path) -> Iterator[h5py.File]:
    with h5py.File(run_file, "r") as f:
        yield f


def text(dataset: h5py.Dataset) -> str:
    return str(dataset.asstr()[()])


def test_root_attributes_carry_run_metadata(h5: h5py.File) -> None:
    a = h5.attrs
    assert a["NX_class"] == "NXroot"
    assert a["creator"] == "benchtest"
    assert a["creator_version"] == __version__
    assert a["benchtest_schema_version"] == SCHEMA_VERSION == 3
    assert a["compression"] == "gzip"
    assert a["site"] == ""
    assert a["run_id"] == "20261128T154300Z-SN0042"
    assert (a["part"], a["serial_number"], a["lot"]) == ("LDO-3V3", "SN0042", "L7")
    assert (a["operator"], a["station"], a["host"]) == ("ada", "bench-3", "lab-pc-3")
    assert a["plans_commit"] == "0123abcd"
    assert bool(a["plans_dirty"]) is True
    assert a["start_time"] == "2026-11-28T15:43:00.000000+00:00"
    assert a["end_time"] == "2026-11-28T15:43:08.000000+00:00"
    assert a["outcome"] == "failed"
    assert a["file_time"].endswith("+00:00")


def test_run_info_keeps_config_texts_instruments_and_safe_state_log(h5: h5py.File) -> None:
    dut = h5["run_info/dut_profile"]
    assert "part: LDO-3V3" in text(dut)
    assert dut.attrs["path"] == "dut_profiles/ldo_3v3.yaml"
    assert len(dut.attrs["sha256"]) == 64
    assert h5["run_info/bench_file"].attrs["path"] == "benches/sim.yaml"
    instruments = h5["run_info/instruments"]
    assert instruments.dtype.names == ("role", "driver", "resource", "identity", "calibration_due")
    assert h5py.check_string_dtype(instruments.dtype["identity"]).encoding == "utf-8"
    assert [r.decode() for r in instruments["role"]] == ["smu", "scope"]
    log = h5["run_info/safe_state_log"][...]
    assert log["ok"].tolist() == [True, False]
    assert log["message"][1] == b"timeout after 2 s"


def test_one_entry_per_test_with_sanitised_ordered_names(h5: h5py.File) -> None:
    entries = [name for name, g in h5.items() if g.attrs.get("NX_class") == "NXentry"]
    assert entries == ["t0001_test_iq_sleep_", "t0002_test_iq_active_", "t0003_test_psrr"]
    a = h5["t0002_test_iq_active_"].attrs
    assert a["test_id"] == ACTIVE
    assert a["outcome"] == "failed"
    assert "above the high limit" in a["message"]
    assert set(a) == {"NX_class", "test_id", "outcome", "message", "default"}
    assert set(h5["t0001_test_iq_sleep_"].attrs) >= {"NX_class", "test_id", "outcome"}
    assert "message" not in h5["t0001_test_iq_sleep_"].attrs  # "" is left out


def test_entry_measurement_table_has_fixed_length_text_and_conditions(h5: h5py.File) -> None:
    table = h5["t0002_test_iq_active_/measurements"]
    assert table.dtype.names == (
        "name", "value", "unit", "low", "high", "outcome", "timestamp", "conditions"
    )  # fmt: skip
    info = h5py.check_string_dtype(table.dtype["name"])
    assert info is not None and (info.encoding, info.length) == ("utf-8", 7)
    rows = table[...]
    assert [n.decode() for n in rows["name"]] == ["iq", "dropout"]
    assert rows["value"][0] == pytest.approx(71.3e-6)
    assert rows["unit"][0] == b"A"
    assert (rows["low"][0], rows["high"][0]) == (0.0, 60e-6)
    assert np.isnan(rows["low"][1])  # dropout has only a high limit
    assert [o.decode() for o in rows["outcome"]] == ["fail", "pass"]
    assert json.loads(rows["conditions"][0]) == {"vin": 3.6, "load": "1 mA"}
    assert len(h5["t0003_test_psrr/measurements"]) == 0  # skipped: empty table, still there


def test_run_tables_are_the_committed_record(h5: h5py.File) -> None:
    tests = h5["summary/tests"][...]
    assert [t.decode() for t in tests["test_id"]] == [SLEEP, ACTIVE, PSRR]
    assert tests["commit"].tolist() == [1, 2, 3]  # position + 1: every row complete
    assert tests["measurement_start"].tolist() == [0, 2, 4]
    assert tests["measurement_count"].tolist() == [2, 2, 0]
    summary = h5["summary/measurements"][...]
    assert summary["test"].tolist() == [0, 0, 1, 1]
    assert summary["value"][2] == pytest.approx(71.3e-6)
    assert summary["conditions"].tolist() == [b""] * 4  # "": the test's conditions
    assert summary["commit"].tolist() == [1, 2, 3, 4]
    waves = h5["summary/waveforms"][...]
    assert [p.decode() for p in waves["path"]] == [
        "/t0001_test_iq_sleep_/vout_startup",
        "/t0002_test_iq_active_/vout_startup",
    ]
    for name in ("tests", "measurements", "waveforms"):
        assert h5["summary"][name].compression is None  # chunks never move once written
    assert json.loads(h5["summary/running"][()].rstrip(b"\0")) == []


def test_waveform_keeps_int16_codes_compressed_and_chunked(h5: h5py.File) -> None:
    wf = startup_waveform(300_000)
    group = h5["t0001_test_iq_sleep_/vout_startup"]
    codes = group["codes"]
    assert codes.dtype == np.int16
    np.testing.assert_array_equal(codes[...], wf.samples)
    assert (codes.attrs["scale_factor"], codes.attrs["add_offset"]) == (1e-3, 0.0)
    assert codes.attrs["units"] == "counts"
    for name in ("codes", "voltage", "time"):
        dataset = group[name]
        assert dataset.compression == "gzip" and dataset.compression_opts == 1
        assert dataset.shuffle
        chunk_bytes = dataset.chunks[0] * dataset.dtype.itemsize
        assert 256 * 1024 <= chunk_bytes <= 1024 * 1024, name


def test_waveform_signal_is_float32_physical_values_with_labels(h5: h5py.File) -> None:
    wf = startup_waveform(300_000)
    group = h5["t0001_test_iq_sleep_/vout_startup"]
    assert group.attrs["signal"] == "voltage"
    assert list(group.attrs["axes"]) == ["time"]
    assert group.attrs["time_indices"] == 0
    voltage = group["voltage"]
    assert voltage.dtype == np.float32
    assert voltage.attrs["units"] == "V"
    assert voltage.attrs["long_name"] == "vout_startup (V)"
    np.testing.assert_allclose(voltage[:5000], wf.values[:5000], rtol=1e-6, atol=1e-9)
    time = group["time"]
    assert time.dtype == np.float64 and time.attrs["units"] == "s"
    assert (time.attrs["t0"], time.attrs["dt"]) == (wf.t0, wf.dt)
    np.testing.assert_array_equal(time[-3:], wf.time[-3:])
    assert text(group["title"]) == "vout_startup"
    assert group.attrs["channel"] == "CH1"
    assert text(group["settings/coupling"]) == "DC"
    assert bool(group["settings/bandwidth_limit"][()]) is True


def test_silx_validates_the_nxdata_and_follows_the_default_chain(h5: h5py.File) -> None:
    assert h5.attrs["default"] == "t0001_test_iq_sleep_"
    assert h5["t0001_test_iq_sleep_"].attrs["default"] == "vout_startup"
    assert is_valid_nxdata(h5["t0001_test_iq_sleep_/vout_startup"])
    assert is_valid_nxdata(h5["t0002_test_iq_active_/vout_startup"])
    nxdata = get_default(h5)
    assert nxdata is not None and nxdata.is_valid
    assert nxdata.group.name == "/t0001_test_iq_sleep_/vout_startup"
    assert nxdata.signal.name.endswith("/voltage")
    assert nxdata.signal_name == "vout_startup (V)"  # silx labels with @long_name
    assert nxdata.axes_dataset_names == ["time"]


def _minimal_run(path: Path, *events: object) -> None:
    writer = Hdf5RunWriter(path)
    writer(run_started())
    for event in events:
        writer(event)  # type: ignore[arg-type]
    writer(RunFinished("2026-11-28T16:00:00+00:00", "passed"))


def test_root_default_moves_to_the_first_test_with_a_waveform(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    wf = startup_waveform(1000)
    _minimal_run(
        path,
        Started("a.py::test_no_wave", "2026-11-28T15:43:01+00:00"),
        Finished("a.py::test_no_wave", "passed", "2026-11-28T15:43:02+00:00", 1.0),
        Started("a.py::test_wave", "2026-11-28T15:43:03+00:00"),
        WaveformRecorded("a.py::test_wave", "vout", wf),
        Finished("a.py::test_wave", "passed", "2026-11-28T15:43:04+00:00", 1.0),
    )
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "t0002_test_wave"
        nxdata = get_default(f)
        assert nxdata is not None and nxdata.group.name == "/t0002_test_wave/vout"


def test_float_samples_are_the_signal_without_codes(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    amps = np.linspace(1e-6, 2e-6, 500)
    wf = Waveform(amps, dt=1e-3, unit="A")
    _minimal_run(
        path,
        Started("a.py::test_sweep", "t"),
        WaveformRecorded("a.py::test_sweep", "i(vin)", wf),
        WaveformRecorded("a.py::test_sweep", "measurements", wf),
        Finished("a.py::test_sweep", "passed", "t", 1.0),
    )
    with h5py.File(path, "r") as f:
        entry = f["t0001_test_sweep"]
        assert list(entry) == [
            "i_vin_",
            "measurements_2",  # the name is taken by the measurement table
            "measurements",
        ]
        group = entry["i_vin_"]
        assert "codes" not in group and group.attrs["signal"] == "current"
        assert group["current"].dtype == np.float64
        np.testing.assert_array_equal(group["current"][...], amps)
        assert text(group["title"]) == "i(vin)"
        assert is_valid_nxdata(group)


def test_uint8_and_bool_codes_are_never_inflated(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    codes = np.arange(600_000, dtype=np.uint8)
    digital = np.arange(100) % 2 == 0
    _minimal_run(
        path,
        Started("a.py::test_bytes", "t"),
        WaveformRecorded("a.py::test_bytes", "u8", Waveform(codes, dt=1e-9, scale=0.04)),
        WaveformRecorded("a.py::test_bytes", "d0", Waveform(digital, dt=1e-9, unit="")),
        Finished("a.py::test_bytes", "passed", "t", 1.0),
    )
    with h5py.File(path, "r") as f:
        u8 = f["t0001_test_bytes/u8/codes"]
        assert u8.dtype == np.uint8
        assert u8.chunks[0] * u8.dtype.itemsize >= 256 * 1024
        assert f["t0001_test_bytes/d0/codes"].dtype == np.uint8
        assert f["t0001_test_bytes/d0"].attrs["signal"] == "values"


def test_an_unfinished_test_is_stored_incomplete_with_its_measurements(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    m = Measurement.judge("iq", 1e-6, "A", Limits(None, 2e-6, "A"))
    _minimal_run(
        path,
        Started("a.py::test_hangs", "t", conditions={"odd key!": [1, 2], "obj": {"a": 1}}),
        MeasurementRecorded("a.py::test_hangs", m),
    )
    with h5py.File(path, "r") as f:
        entry = f["t0001_test_hangs"]
        assert entry.attrs["outcome"] == "incomplete"
        assert entry["measurements"]["name"][0] == b"iq"
        conditions = entry["measurements"]["conditions"][0]
        assert json.loads(conditions) == {"odd key!": [1, 2], "obj": {"a": 1}}
        assert f["summary/tests"]["outcome"][0] == b"incomplete"
        assert f["summary/tests"]["end_time"][0] == b""


def test_every_attempt_of_a_retried_test_is_its_own_record(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    _minimal_run(
        path,
        *(
            event
            for attempt, outcome in ((1, "failed"), (2, "passed"))
            for event in (
                Started("a.py::test_flaky", "t", attempt=attempt),
                Finished("a.py::test_flaky", outcome, "t", 1.0, attempt=attempt),
            )
        ),
    )
    with h5py.File(path, "r") as f:
        assert f["summary/tests"]["attempt"].tolist() == [1, 2]
        assert [f[e].attrs["outcome"] for e in ("t0001_test_flaky", "t0002_test_flaky")] == [
            "failed",
            "passed",
        ]
    with open_run(path) as run:
        assert [(t.attempt, t.outcome) for t in run.tests] == [(1, "failed"), (2, "passed")]


def test_a_started_test_is_on_disk_before_any_commit(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(Started("a.py::test_running_now", "2026-11-28T15:43:01+00:00", {"vin": 3}))
        raw = path.read_bytes()  # what a kill -9 would leave: no flush since the start
        assert b'"test_id":"a.py::test_running_now"' in raw
        assert b'"entry":"t0001_test_running_now"' in raw


def test_a_long_waveform_keeps_only_its_codes_as_the_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("benchtest.storage.waveforms.PLOT_COPY_MAX_POINTS", 1000)
    path = tmp_path / "run.h5"
    wf = startup_waveform(5000)
    _minimal_run(
        path,
        Started("a.py::test_long", "t"),
        WaveformRecorded("a.py::test_long", "vout", wf),
        Finished("a.py::test_long", "passed", "t", 1.0),
    )
    with h5py.File(path, "r") as f:
        group = f["t0001_test_long/vout"]
        assert sorted(group) == ["codes", "settings", "title"]  # no float copy, no time axis
        assert group.attrs["signal"] == "codes" and list(group.attrs["axes"]) == ["."]
        assert (group.attrs["t0"], group.attrs["dt"]) == (wf.t0, wf.dt)
        codes = group["codes"]
        assert codes.attrs["units"] == "counts"
        assert codes.attrs["long_name"] == "vout (counts; V = counts * 0.001 + 0)"
        assert is_valid_nxdata(group)


def test_writer_refuses_misuse_with_result_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    writer = Hdf5RunWriter(path)
    with pytest.raises(ResultFileError, match="no RunStarted"):
        writer(InstrumentIdentified("smu", "keithley.k2450", "r", "idn"))
    writer(run_started())
    with pytest.raises(ResultFileError, match="has not started"):
        writer(MeasurementRecorded("a.py::test_x", Measurement.judge("x", 1, "V", Limits())))
    writer(RunFinished("t", "passed"))
    with pytest.raises(ResultFileError, match="closed"):
        writer(Started("a.py::test_late", "t"))
    with pytest.raises(ResultFileError, match="cannot create"):
        Hdf5RunWriter(path)(run_started())  # never overwrites a run file
    writer.close()  # idempotent


def test_close_after_a_failed_write_leaves_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    writer = Hdf5RunWriter(path)
    writer(run_started())
    writer(Started("a.py::test_bad", "t"))
    bad = WaveformRecorded("a.py::test_bad", "z", Waveform(np.zeros(4, complex), dt=1.0))
    with pytest.raises(Exception, match="complex"):
        writer(bad)
    writer.close()
    writer.close()
    with h5py.File(path, "r") as f:
        assert f["t0001_test_bad"].attrs["outcome"] == "incomplete"
        assert f.attrs["outcome"] == "incomplete"


def test_the_running_marker_fits_its_space_dropping_conditions_first() -> None:
    tests = [{"index": i, "test_id": "t" * 3000, "conditions": {"x": "y" * 3000}} for i in (1, 2)]
    marker = json.loads(running_json(tests))
    assert [t["index"] for t in marker] == [1, 2] and "conditions" not in marker[0]
    assert [t["index"] for t in json.loads(running_json([*tests, {**tests[0], "index": 3}]))] == [
        2,
        3,
    ]  # too many: the oldest go


@pytest.mark.parametrize("sync", ["always", "never"])
def test_sync_modes_write_the_same_file(tmp_path: Path, sync: str) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path, sync=sync) as writer:  # type: ignore[arg-type]
        for event in example_events(points=1000):
            writer(event)
    with open_run(path) as run:
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
    with pytest.raises(ValueError, match="unknown sync mode 'sometimes'"):
        Hdf5RunWriter(tmp_path / "other.h5", sync="sometimes")  # type: ignore[arg-type]


def test_a_run_file_is_an_ordinary_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        for event in example_events():
            writer(event)
    assert path.stat().st_mode & 0o111 == 0  # data, not a program: no execute bit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no commit log, no temp
