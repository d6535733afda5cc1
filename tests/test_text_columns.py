"""Measurement names, units and outcomes are fixed-length UTF-8 columns of the run file.

Non-ASCII text is stored as UTF-8 and read back as it was, through the tables and through
the journal of a killed run; a name or unit longer than its column is refused where it is
recorded, with a message naming it, and never stored cut short.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest import DutProfile, Measure
from benchtest.results import open_run
from benchtest.runfile import schema
from benchtest.runfile.tables import table_rows
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.errors import MeasurementError, ResultFileError
from benchtest.values.events import MeasurementRecorded, RunFinished
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement

T = "2026-11-28T15:43:00+00:00"
WIDE = "Δv_ripple_µ"  # 2-byte UTF-8 characters in a name
OHM = "Ω"


def record(writer: Hdf5RunWriter, test_id: str, name: str, value: float, unit: str) -> None:
    writer(Started(test_id, T))
    m = Measurement.judge(name, value, unit, Limits(0.0, 10.0, unit))
    writer(MeasurementRecorded(test_id, m))
    writer(Finished(test_id, "passed", T, 0.1))


def test_non_ascii_names_and_units_round_trip_through_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        record(writer, "plan.py::test_a", WIDE, 1.5, OHM)
        record(writer, "plan.py::test_b", "vout", 3.3, "V")
        writer(RunFinished(T, "passed"))
    with h5py.File(path, "r") as f:
        column = f["summary/measurements"].dtype["name"]
        assert column.kind == "S" and column.itemsize == schema.NAME_BYTES
    with open_run(path) as run:
        assert run.problems == []
        rows = [(t.measurements["name"][0], t.measurements["unit"][0]) for t in run.tests]
        assert rows == [(WIDE, OHM), ("vout", "V")]
        assert run.tests[0].measurements["outcome"][0] == "pass"


CHILD = """
import os, sys
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import MeasurementRecorded, TestFinished, TestStarted
from benchtest.values.measurement import Limits, Measurement
writer = Hdf5RunWriter(sys.argv[1])
writer(run_started())
writer(TestStarted("plan.py::test_a", "2026-11-28T15:43:00+00:00"))
m = Measurement.judge(sys.argv[2], 1.5, sys.argv[3], Limits(0.0, 10.0, sys.argv[3]))
writer(MeasurementRecorded("plan.py::test_a", m))
writer(TestFinished("plan.py::test_a", "passed", "2026-11-28T15:43:01+00:00", 0.1))
os._exit(0)  # killed: the test is only in the journal
"""


def test_non_ascii_text_survives_in_the_journal_of_a_killed_run(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    subprocess.run([sys.executable, "-c", CHILD, str(path), WIDE, OHM], check=True, timeout=60)
    with h5py.File(path, "r") as f:
        assert len(f["summary/measurements"]) == 0  # nothing reached the tables
    with open_run(path) as run:
        assert [t.outcome for t in run.tests] == ["passed"]
        measurements = run.tests[0].measurements
        assert (measurements["name"][0], measurements["unit"][0]) == (WIDE, OHM)
        assert measurements["value"][0] == 1.5


def test_measure_refuses_a_name_longer_than_its_column(ldo_dut: DutProfile) -> None:
    events: list[object] = []
    measure = Measure("plan.py::test_long", ldo_dut, events.append)
    name = "x" * (schema.NAME_BYTES + 1)
    with pytest.raises(MeasurementError, match=r"longer than the 96 bytes") as caught:
        measure(name, 1.0, unit="V", low=0.0, high=2.0)
    assert name in str(caught.value) and "plan.py::test_long" in str(caught.value)
    assert events == [] and measure.recorded == []
    fits = "y" * schema.NAME_BYTES  # exactly as long as the column: stored whole
    assert measure(fits, 1.0, unit="V", low=0.0, high=2.0).name == fits


def test_measure_refuses_a_unit_longer_than_its_column(ldo_dut: DutProfile) -> None:
    measure = Measure("plan.py::test_unit", ldo_dut, lambda event: None)
    unit = "µ" * (schema.UNIT_BYTES // 2 + 1)  # few characters, too many bytes
    with pytest.raises(MeasurementError, match="unit"):
        measure("extra", 1.0, unit=unit, low=0.0, high=2.0)


def test_the_writer_refuses_a_long_name_before_committing_the_test(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    writer = Hdf5RunWriter(path)
    writer(run_started())
    record(writer, "plan.py::test_ok", "vout", 3.3, "V")
    long_name = "n" * (schema.NAME_BYTES + 5)
    with pytest.raises(ResultFileError, match=r"plan\.py::test_long.*longer than the 96 bytes"):
        record(writer, "plan.py::test_long", long_name, 1.0, "V")
    writer.close()
    with open_run(path) as run:
        assert [t.id for t in run.tests if t.outcome == "passed"] == ["plan.py::test_ok"]
        assert all(long_name not in t.measurements["name"].tolist() for t in run.tests)


def test_table_rows_encodes_utf8_and_never_cuts_text() -> None:
    dtype = np.dtype([("name", h5py.string_dtype("utf-8", 4)), ("value", np.float64)])
    rows = table_rows([("ab", 1.0), ("µµ", 2.0), (b"wxyz", 3.0)], dtype)
    assert rows["name"].tolist() == [b"ab", "µµ".encode(), b"wxyz"]
    with pytest.raises(ValueError, match=r"name 'abcde' is 5 bytes.*at most 4"):
        table_rows([("ab", 1.0), ("abcde", 2.0)], dtype)
    with pytest.raises(ValueError, match="is 6 bytes"):
        table_rows([("µµµ", 1.0)], dtype)


def test_old_files_with_variable_length_names_still_read(tmp_path: Path) -> None:
    """Run files written before the columns were fixed-length (variable-length text) read
    the same: the reader takes either."""
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        record(writer, "plan.py::test_a", WIDE, 1.5, OHM)
        writer(RunFinished(T, "passed"))
    old = [(n, h5py.string_dtype("utf-8") if n in ("name", "unit", "outcome") else d)
           for n, (d, _) in schema.SUMMARY_DTYPE.fields.items()]  # fmt: skip
    with h5py.File(path, "r+") as f:
        rows = f["summary/measurements"][...]
        converted = np.empty(len(rows), dtype=old)
        for name in rows.dtype.names or ():
            column = rows[name]
            is_text = column.dtype.kind == "S"
            converted[name] = [v.decode() for v in column] if is_text else column
        del f["summary/measurements"]
        f["summary"].create_dataset("measurements", data=converted, maxshape=(None,))
    assert os.path.getsize(path) > 0
    with open_run(path) as run:
        measurements = run.tests[0].measurements
        assert (measurements["name"][0], measurements["unit"][0]) == (WIDE, OHM)
