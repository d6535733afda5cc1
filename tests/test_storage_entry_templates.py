"""Entries built at close as copies of templates, and journal records written as JSON text.

Each entry built at close is a copy of a template holding the previous test's values until
its own are written into it: every entry must hold exactly its own test id, outcome, message
(none when the test has none) and rows, whatever the order of outcomes, messages and row
counts, across blocks with different text widths, and with a table too large to be compact.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import h5py
import pytest

from benchtest.runfile import schema
from benchtest.runfile.journal import JournalWriter, create_journal, read_journal
from benchtest.runfile.tables import read_table
from benchtest.storage import Hdf5RunWriter, finalize
from benchtest.storage.entries import COMPACT_BYTES
from benchtest.storage.example import run_started
from benchtest.storage.running import RunningTest
from benchtest.values.events import MeasurementRecorded, RunFinished
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement

T0 = "2026-11-28T15:43:00+00:00"
# (outcome, rows, with a message): each twice in a row, so that within a block of 4 tests
# the second of a pair is built from the template its first one wrote; 600 rows make a table
# larger than COMPACT_BYTES.
CASES = [("passed", 1, False), ("failed", 2, True), ("skipped", 0, True), ("error", 600, True)]
TESTS = [case for pair in zip(CASES, CASES, strict=True) for case in pair] + [("passed", 3, False)]
BLOCK = 4


def _write_run(path: Path) -> None:
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        for i, (outcome, rows, has_message) in enumerate(TESTS * 2):
            test_id = f"plan.py::test_é[{i}]"
            writer(Started(test_id, T0, {"vin": 3.0 + i}))
            for j in range(rows):
                own = {"vin": 9.0} if j == 1 else None
                name = "p" * (1 + i // BLOCK) + str(j)  # text widths differ from block to block
                m = Measurement.judge(name, i + j / 8, "V", Limits(None, 5.0, "V"), conditions=own)
                writer(MeasurementRecorded(test_id, m))
            writer(Finished(test_id, outcome, T0, 0.1, f"why {i} ü" if has_message else ""))
        writer(RunFinished(T0, "failed"))


def test_each_entry_built_from_a_template_holds_only_its_own_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(finalize, "BLOCK_TESTS", BLOCK)  # several builders, each its own templates
    path = tmp_path / "run.h5"
    _write_run(path)
    with h5py.File(path, "r") as f:
        tests = read_table(f["summary/tests"])
        rows = read_table(f["summary/measurements"])
        assert len(tests) == len(TESTS) * 2
        layouts = set()
        for test in tests:
            entry = f[str(test["entry"])]
            expected_attrs = {"NX_class": "NXentry", "outcome": test["outcome"]}
            expected_attrs["test_id"] = test["test_id"]
            if test["message"]:
                expected_attrs["message"] = test["message"]
            assert dict(entry.attrs) == expected_attrs
            assert list(entry) == ["measurements"]
            start, count = int(test["measurement_start"]), int(test["measurement_count"])
            expected = rows[start : start + count]
            table = entry["measurements"]
            assert [n.decode() for n in table["name"]] == expected["name"].tolist()
            assert table["value"].tolist() == expected["value"].tolist()
            effective = [own or str(test[schema.CONDITIONS]) for own in expected["conditions"]]
            assert [c.decode() for c in table["conditions"]] == effective
            large = table.dtype.itemsize * count > COMPACT_BYTES
            assert (table.compression == "gzip") == large
            assert table.id.get_create_plist().get_layout() == (
                h5py.h5d.CHUNKED if large else h5py.h5d.COMPACT
            )
            layouts.add(large)
        assert layouts == {True, False}


def test_a_start_record_made_as_text_reads_as_the_running_marker(tmp_path: Path) -> None:
    conditions = {"vin": 3.6, "load": 'a "1 mA" ü\n', "list": [1, None, True], "nan": float("nan")}
    test = RunningTest.start(Started('p.py::test_x["é"]', T0, conditions, attempt=2), 12)
    with h5py.File(tmp_path / "j.h5", "w") as f:
        journal = JournalWriter(create_journal(f, "journal", 4096), direct=False)
        assert journal.write(test.start_record())
        assert journal.write({"rows": {"tests": [[1, "x"]]}})
        data = f["journal"][...].tobytes()
    records = read_journal(data)
    assert [r["seq"] for r in records] == [1, 2]
    assert json.dumps(records[0]["start"]) == json.dumps(test.marker())  # NaN != NaN
    # byte for byte what the journal's JSON encoder makes of the marker
    (length,) = struct.unpack_from("<I", data)
    marker = {"seq": 1, "start": test.marker()}
    assert data[8 : 8 + length] == json.dumps(marker, separators=(",", ":")).encode()


@pytest.mark.parametrize("text", ["", "[1]", "{}", "{ }", '"start"'])
def test_a_journal_record_as_text_must_be_an_object_with_members(tmp_path: Path, text: str) -> None:
    with h5py.File(tmp_path / "j.h5", "w") as f:
        journal = JournalWriter(create_journal(f, "journal", 4096), direct=False)
        with pytest.raises(ValueError, match="JSON object with members"):
            journal.write(text)
        assert read_journal(f["journal"][...]) == []


def test_an_entry_table_of_no_rows_is_an_empty_compact_table(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(run_started())
        for i in range(3):
            writer(Started(f"p.py::test_{i}", T0))
            writer(Finished(f"p.py::test_{i}", "passed", T0, 0.1))
        writer(RunFinished(T0, "passed"))
    with h5py.File(path, "r") as f:
        entries = [f[name] for name in f if name.startswith("t")]
        assert len(entries) == 3
        for i, entry in enumerate(sorted(entries, key=lambda e: e.name)):
            assert entry.attrs["test_id"] == f"p.py::test_{i}"
            assert entry["measurements"].shape == (0,)
            assert entry["measurements"].dtype.names == schema.ENTRY_MEASUREMENT_DTYPE.names
