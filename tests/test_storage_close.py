"""Closing a run file cheaply: what it must still store.

At close the writer builds the NXentry of each test without one from its rows as it appended
them, kept in memory, and reads the tables back only when it kept too many to keep them; its
tables are opened when first appended to; the running-tests marker is written in place at
an offset read once from the skeleton; a run file starts from its station's image. Each must
leave the file as before: every test one entry equal to its rows, the root `@default` on the
first test, the marker as HDF5 reads it, every run its own header values.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.runfile import schema
from benchtest.runfile.codecs import GZIP
from benchtest.runfile.tables import Appender, read_table
from benchtest.storage import Hdf5RunWriter, finalize, hdf5_writer
from benchtest.storage.example import run_started
from benchtest.storage.header import create_run_file, layout, station_image, write_header
from benchtest.values.events import (
    ConfigSnapshot,
    MeasurementRecorded,
    RunFinished,
    WaveformRecorded,
)
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform

T0 = "2026-11-28T15:43:00+00:00"


def _write_tests(writer: Hdf5RunWriter, count: int, outcome: str = "passed") -> None:
    """`count` tests: every third with a waveform, each with 0-2 measurements, some with
    conditions of their own and a message."""
    for i in range(count):
        test_id = f"plan.py::test_{i}"
        writer(Started(test_id, T0, {"vin": 3.0 + i}))
        for j in range(i % 3):
            own = {"vin": 9.0} if j == 1 else None
            measurement = Measurement.judge(
                f"p{j}", i + j / 8, "V", Limits(None, 50.0, "V"), conditions=own
            )
            writer(MeasurementRecorded(test_id, measurement))
        if i % 3 == 1:
            wave = Waveform(np.arange(500, dtype=np.int16), dt=1e-6, scale=1e-3)
            writer(WaveformRecorded(test_id, "vout", wave))
        message = f"note {i}" if i % 4 == 0 else ""
        writer(Finished(test_id, outcome, T0, 0.1, message))


def _check_entries(path: Path) -> None:
    """Every committed test has exactly its entry: outcome, message and the table of its
    rows of /summary/measurements with their effective conditions."""
    with h5py.File(path, "r") as f:
        tests = read_table(f["summary/tests"])
        rows = read_table(f["summary/measurements"])
        entries = sorted(name for name in f if name.startswith("t"))
        assert entries == sorted(tests["entry"].tolist())
        for test in tests:
            entry = f[str(test["entry"])]
            assert entry.attrs["NX_class"] == "NXentry"
            assert entry.attrs["test_id"] == test["test_id"]
            assert entry.attrs["outcome"] == test["outcome"]
            assert entry.attrs.get("message", "") == test["message"]
            start, count = int(test["measurement_start"]), int(test["measurement_count"])
            expected = rows[start : start + count]
            table = entry["measurements"][...]
            assert [n.decode() for n in table["name"]] == expected["name"].tolist()
            assert table["value"].tolist() == expected["value"].tolist()
            effective = [own or str(test[schema.CONDITIONS]) for own in expected["conditions"]]
            assert [c.decode() for c in table["conditions"]] == effective


@pytest.mark.parametrize("kept_bytes", [hdf5_writer.KEPT_ROWS_BYTES, 0])
def test_entries_from_memory_and_from_the_tables_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept_bytes: int
) -> None:
    monkeypatch.setattr(hdf5_writer, "BATCH_TESTS", 4)  # appended during the run, in batches
    monkeypatch.setattr(hdf5_writer, "KEPT_ROWS_BYTES", kept_bytes)  # 0: none kept in memory
    from_memory: list[str] = []
    read_back: list[int | None] = []
    build, build_missing = finalize.build_entries, finalize.build_missing_entries

    def spy(file: h5py.File, parts: list[finalize.Appended]) -> None:
        from_memory.extend(str(entry) for tests, _, _ in parts for entry in tests["entry"])
        build(file, parts)

    def spy_missing(file: h5py.File, count: int | None = None) -> None:
        read_back.append(count)
        build_missing(file, count)

    monkeypatch.setattr(hdf5_writer, "build_entries", spy)
    monkeypatch.setattr(hdf5_writer, "build_missing_entries", spy_missing)
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        _write_tests(writer, 10)
        writer(RunFinished(T0, "passed"))
    names = [schema.entry_name(i + 1, f"plan.py::test_{i}") for i in range(10)]
    if kept_bytes:  # every test without a waveform, from the rows kept as appended
        assert read_back == []
        assert from_memory == [name for i, name in enumerate(names) if i % 3 != 1]
    else:  # two batches of 4 appended during the run are read back; the last from memory
        assert read_back == [8]
        assert from_memory == names[8:]
    _check_entries(path)
    with open_run(path) as run:
        assert not run.damage and len(run.tests) == 10


def test_a_short_run_reads_nothing_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def reading_back(*args: Any, **kwargs: Any) -> None:
        pytest.fail("the tests of the last batch are built from their rows, not read back")

    monkeypatch.setattr(hdf5_writer, "build_missing_entries", reading_back)
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        _write_tests(writer, 7, outcome="failed")
        writer(RunFinished(T0, "failed"))
    _check_entries(path)


def test_the_root_default_is_the_first_test_started_when_none_is_plottable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        for name in ("first", "second", "third"):
            writer(Started(f"plan.py::test_{name}", T0))
        for name in ("second", "first", "third"):  # committed neither first nor last
            writer(Finished(f"plan.py::test_{name}", "passed", T0, 0.1))
        writer(RunFinished(T0, "passed"))
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == schema.entry_name(1, "plan.py::test_first")
        assert f.attrs["skipped"] == 0 and f.attrs["skip_reasons"] == ""
        assert f.attrs["outcome"] == "passed" and f.attrs["end_time"] == T0


def test_writers_closing_at_once_build_their_own_entries(tmp_path: Path) -> None:
    """Two writers closing in two threads (each with entry templates of its own, in memory
    files of one process) each get entries of their own outcome."""
    errors: list[BaseException] = []

    def run(name: str, outcome: str) -> None:
        try:
            with Hdf5RunWriter(tmp_path / name, sync="never") as writer:
                writer(run_started(run_id=name))
                _write_tests(writer, 30, outcome=outcome)
                writer(RunFinished(T0, outcome))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(f"run_{outcome}.h5", outcome))
        for outcome in ("passed", "failed", "error")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for outcome in ("passed", "failed", "error"):
        _check_entries(tmp_path / f"run_{outcome}.h5")


@pytest.mark.parametrize("manifest", [False, True])
def test_the_layout_read_from_the_skeleton_is_where_the_datasets_are(
    tmp_path: Path, manifest: bool
) -> None:
    """Also in run files made from a station image: rewriting values never moves them."""
    event = run_started()
    if manifest:
        event = dataclasses.replace(event, plans_manifest="{}", plans_sha256="ab")
    plain = tmp_path / "plain.h5"
    file, committed = create_run_file(
        plain, lambda f: write_header(f, event, GZIP), sync=False, manifest=manifest
    )
    file.close()
    committed.close()
    written = tmp_path / "written.h5"
    with Hdf5RunWriter(written, sync="never") as writer:
        writer(event)
        _write_tests(writer, 3)
        writer(RunFinished(T0, "passed"))
    where = layout(manifest)
    for path in (plain, written):
        with h5py.File(path, "r") as f:
            found = {
                name: (f["summary"][name].id.get_offset(), f["summary"][name].id.get_storage_size())
                for name in ("running", "journal", "seal")
            }
        assert found == {
            "running": where.running,
            "journal": where.journal,
            "seal": (where.seal, found["seal"][1]),
        }


def test_the_running_marker_written_in_place_reads_as_hdf5_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    many = [Measurement.judge(f"m{k}", k, "V", Limits(None, None, "V")) for k in range(70)]
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        writer(Started("plan.py::test_long", T0, {"vin": 3.3}))
        writer(Started("plan.py::test_many", T0))
        for measurement in many:  # not journaled: appended at once, with the marker
            writer(MeasurementRecorded("plan.py::test_many", measurement))
        writer(Finished("plan.py::test_many", "passed", T0, 0.1))
        with h5py.File(path, "r") as f:  # what a reader of the killed file would find
            running = json.loads(f["summary/running"][()].rstrip(b"\0"))
            assert [t["test_id"] for t in running] == ["plan.py::test_long"]
            assert running[0]["conditions"] == {"vin": 3.3}
        writer(Finished("plan.py::test_long", "passed", T0, 0.1))
        writer(RunFinished(T0, "passed"))
    with h5py.File(path, "r") as f:
        assert json.loads(f["summary/running"][()].rstrip(b"\0")) == []


def test_a_table_opened_late_refuses_a_row_count_it_does_not_have(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    file, committed = create_run_file(
        path, lambda f: write_header(f, run_started(), GZIP), sync=False
    )
    try:
        table = Appender(file.id, "summary/tests", rows=5)
        assert len(table) == 5 and table.append([]) == 5  # on trust: not opened yet
        with pytest.raises(ValueError, match="summary/tests holds 0 rows, not 5"):
            _ = table.dtype
    finally:
        file.close()
        committed.close()


def test_run_files_of_one_station_share_an_image_and_keep_their_own_values(
    tmp_path: Path,
) -> None:
    base = run_started()
    first = dataclasses.replace(base, run_id="r1", serial_number="SN1", lot="L1", site="s1")
    second = dataclasses.replace(base, run_id="r2", serial_number="SN2", lot="", site="")
    other_dut = ConfigSnapshot("dut_profiles/other.yaml", "part: other\n", "cafe")
    third = dataclasses.replace(base, run_id="r3", operator="grace", dut=other_dut)
    assert station_image(first, GZIP) is station_image(second, GZIP)  # made once
    assert station_image(third, GZIP) is not station_image(first, GZIP)
    for event in (first, second, third):
        path = tmp_path / f"{event.run_id}.h5"
        with Hdf5RunWriter(path, sync="never") as writer:
            writer(event)
            writer(RunFinished(T0, "passed"))
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            assert (attrs["run_id"], attrs["serial_number"], attrs["lot"], attrs["site"]) == (
                event.run_id,
                event.serial_number,
                event.lot,
                event.site,
            )
            assert attrs["operator"] == event.operator and attrs["start_time"] == event.started
            dut = f["run_info/dut_profile"]
            assert dut.asstr()[()] == event.dut.text and dut.attrs["path"] == event.dut.path
        with open_run(path) as run:
            assert not run.damage
