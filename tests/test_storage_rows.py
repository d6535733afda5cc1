"""A test's measurement rows built column by column, and the check of their text widths.

A test of more measurements than a journal record takes is committed straight to the tables,
its rows built as a structured array column by column (`RunningTest.measurement_table`)
rather than as tuples converted row by row: both must give the same table, whatever the text
(UTF-8 beyond ASCII), limits (open sides), outcomes and conditions. Names and units are
checked against their columns once each, a name never passing as a unit. The entry tables
built at close are written past h5py's per-call type work, storing the same values.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.runfile import schema
from benchtest.runfile.tables import table_rows
from benchtest.storage import Hdf5RunWriter, lowlevel
from benchtest.storage.entries import entry_table
from benchtest.storage.example import run_started
from benchtest.storage.hdf5_writer import JOURNAL_MAX_ROWS
from benchtest.storage.running import RunningTest
from benchtest.values.errors import ResultFileError
from benchtest.values.events import MeasurementRecorded, RunFinished
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement, Outcome

T0 = "2026-11-28T15:43:00+00:00"


def _measurements() -> list[Measurement]:
    limits = [
        Limits(0.0, 1.0, "V"),
        Limits(None, 1.0, "V"),
        Limits(0.0, None, "V"),
        Limits(),
        Limits(0.0, 1.0, "V", margin=0.45),
    ]
    return [
        Measurement.judge(
            f"µ_vout_{k}" if k % 3 == 0 else f"vout_{k}",
            np.float64(k / 7),  # a numpy scalar value stored as a plain float
            "Ω" if k % 4 == 0 else "V",
            limits[k % len(limits)],
            conditions={"vin": 3.3} if k % 2 else {"vin": 5.0, "temp": "hot"},
        )
        for k in range(12)
    ]


def test_rows_built_by_column_equal_the_rows_converted_one_by_one() -> None:
    test = RunningTest.start(Started("plan.py::test_é[1]", T0, {"vin": 3.3}), 4)
    test.measurements = _measurements()
    outcomes = {m.outcome for m in test.measurements}
    assert {Outcome.PASS, Outcome.MARGINAL, Outcome.INFO} <= outcomes  # every kind is there
    expected = table_rows(test.measurement_rows(3, 40), schema.SUMMARY_DTYPE)
    built = test.measurement_table(3, 40, schema.SUMMARY_DTYPE)
    assert built.dtype == expected.dtype
    for name in schema.SUMMARY_DTYPE.names or ():
        assert built[name].tolist() == pytest.approx(expected[name].tolist(), nan_ok=True), name
    assert built["name"][0] == "µ_vout_0".encode()
    assert built["conditions"].tolist()[:2] == ['{"vin": 5.0, "temp": "hot"}', ""]
    assert built["commit"].tolist() == list(range(41, 53))


def test_a_test_of_many_measurements_reads_back_as_recorded(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    measurements = _measurements() * (JOURNAL_MAX_ROWS // 12 + 2)  # committed straight
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        for k, test_id in enumerate(("plan.py::test_small", "plan.py::test_many")):
            writer(Started(test_id, T0, {"vin": 3.3}))
            for m in measurements[: 2 if k == 0 else None]:
                writer(MeasurementRecorded(test_id, m))
            writer(Finished(test_id, "passed", T0, 0.1))
        writer(RunFinished(T0, "passed"))
    with open_run(path) as run:
        assert not run.damage
        small, many = run.tests
        assert len(small.measurements) == 2
        table = many.measurements
        assert table["name"].tolist() == [m.name for m in measurements]
        assert table["unit"].tolist() == [m.unit for m in measurements]
        assert table["value"].tolist() == [m.value for m in measurements]
        assert table["outcome"].tolist() == [str(m.outcome) for m in measurements]
        lows = [np.nan if m.limits.low is None else m.limits.low for m in measurements]
        assert table["low"].tolist() == pytest.approx(lows, nan_ok=True)


def test_a_name_that_fits_is_still_refused_as_a_too_long_unit(tmp_path: Path) -> None:
    text = "w" * (schema.UNIT_BYTES + 1)  # fits the name column, not the unit column
    path = tmp_path / "run.h5"
    writer = Hdf5RunWriter(path, sync="never")
    writer(run_started())
    for test_id, name, unit in (("plan.py::test_a", text, "V"), ("plan.py::test_b", "x", text)):
        writer(Started(test_id, T0))
        writer(MeasurementRecorded(test_id, Measurement.judge(name, 1.0, unit, Limits())))
        if unit == text:
            with pytest.raises(ResultFileError, match=r"test_b.*unit 'w+' is longer than the 32"):
                writer(Finished(test_id, "passed", T0, 0.1))
        else:
            writer(Finished(test_id, "passed", T0, 0.1))
    writer.close()
    with open_run(path) as run:
        assert [t.id for t in run.tests if t.outcome == "passed"] == ["plan.py::test_a"]


def test_write_all_writes_what_h5py_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry tables' write that skips h5py's per-call type work (`lowlevel.write_all`)
    stores the same values as h5py's own write, and falls back to it where it cannot be had."""
    table = entry_table(
        np.array(
            [(0, "µ_vout".encode(), 1.25, b"V", np.nan, 2.0, b"pass", 1.5e9, "", 1)] * 3,
            dtype=schema.SUMMARY_DTYPE,
        ),
        '{"vin": 3.3}',
    )
    file_type = h5py.h5t.py_create(table.dtype, logical=True)
    space = h5py.h5s.create_simple((len(table),))
    if sys.platform.startswith("linux"):
        assert lowlevel._library() is not None  # the fast path where it is meant to work
    with h5py.File(tmp_path / "t.h5", "w") as f:
        for name, write in (
            ("fast", lowlevel.write_all),
            ("h5py", lambda d, t, a: d.write(h5py.h5s.ALL, h5py.h5s.ALL, a, mtype=t)),
        ):
            dataset = h5py.h5d.create(f.id, name.encode(), file_type, space)
            write(dataset, file_type, table)
        fast, slow = f["fast"][...], f["h5py"][...]
        assert len(fast) == 3 and fast.tobytes() == slow.tobytes()  # NaN included
        assert f["fast"][...]["name"].tolist() == ["µ_vout".encode()] * 3
        dataset = h5py.h5d.create(f.id, b"strided", file_type, h5py.h5s.create_simple((2,)))
        lowlevel.write_all(dataset, file_type, table[::2])  # every other row
        assert f["strided"][...].tobytes() == table[::2].tobytes()
    lowlevel._library.cache_clear()
    monkeypatch.setattr(ctypes, "PyDLL", _no_library)
    try:  # where the function cannot be found, h5py writes
        with h5py.File(tmp_path / "u.h5", "w") as f:
            dataset = h5py.h5d.create(f.id, b"h5py", file_type, space)
            lowlevel.write_all(dataset, file_type, table)
            assert f["h5py"][...].tobytes() == table.tobytes()
            assert lowlevel._library() is None
    finally:
        lowlevel._library.cache_clear()


def _no_library(name: str) -> None:
    raise OSError(f"{name}: cannot open shared object file")


def test_write_all_raises_when_hdf5_refuses(tmp_path: Path) -> None:
    table = np.zeros(1, dtype=[("value", "<f8")])
    file_type = h5py.h5t.py_create(table.dtype, logical=True)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        dataset = h5py.h5d.create(f.id, b"one", file_type, h5py.h5s.create_simple((1,)))
        if lowlevel._library() is None:
            pytest.skip("no direct H5Dwrite on this platform")
        text = h5py.h5t.C_S1.copy()  # no conversion from text to float64: refused
        with pytest.raises(RuntimeError, match="HDF5 could not write dataset"):
            lowlevel.write_all(dataset, text, table)
