"""The journal: a finished test is committed by one record, and a killed run keeps it.

A child process writes tests and leaves with `os._exit` (no close, no flush: what kill -9
leaves); the reader must then find every committed test, whether its rows reached the tables
in a batch or are only in the journal, and name the test that was running.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.runfile.commit_log import LoggedReader, read_log
from benchtest.runfile.journal import (
    ORDERED,
    JournalWriter,
    create_journal,
    halves_of,
    read_journal,
)
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import MeasurementRecorded
from benchtest.values.events import TestFinished as Finished  # renamed: pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement

CHILD = """
import os, sys
import benchtest.storage.hdf5_writer as hdf5_writer
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.events import MeasurementRecorded, TestFinished, TestStarted
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started

path, tests, batch, rows, pad = sys.argv[1], *map(int, sys.argv[2:6])
hdf5_writer.BATCH_TESTS = batch
writer = Hdf5RunWriter(path)
writer(run_started())
for i in range(tests):
    tid = f"plan.py::test_{i}"
    writer(TestStarted(tid, "2026-11-28T15:43:00+00:00", {"i": i, "pad": "x" * pad}))
    for j in range(rows):
        m = Measurement.judge(f"p{j}", i + j / 1000, "V", Limits(None, 1e9, "V"))
        writer(MeasurementRecorded(tid, m))
    writer(TestFinished(tid, "passed", "2026-11-28T15:43:01+00:00", 0.1))
writer(TestStarted("plan.py::test_cut_short", "2026-11-28T15:44:00+00:00", {"i": -1}))
os._exit(0)  # as a kill -9 would: nothing closed, nothing flushed
"""


def killed_run(path: Path, tests: int, batch: int = 256, rows: int = 1, pad: int = 0) -> Path:
    command = [sys.executable, "-c", CHILD, str(path), *map(str, (tests, batch, rows, pad))]
    subprocess.run(command, check=True, timeout=60)
    return path


def with_log(path: Path) -> h5py.File:
    """The killed file as readers see it: its commit log applied (by default, the commits of
    the last ~0.1 s are only in the log until the background thread writes them in)."""
    return h5py.File(LoggedReader(path, read_log(path)), "r")


def values(path: Path) -> dict[str, list[float]]:
    with open_run(path) as run:
        assert run.problems == []
        return {t.id: t.measurements["value"].tolist() for t in run.tests}


@pytest.mark.parametrize(("tests", "batch"), [(5, 256), (40, 16), (64, 16)])
def test_a_killed_run_keeps_every_committed_test_and_names_the_running_one(
    tmp_path: Path, tests: int, batch: int
) -> None:
    path = killed_run(tmp_path / "run.h5", tests, batch)
    with with_log(path) as f:  # the tables got the full batches, the journal the rest
        assert len(f["summary/tests"]) == tests // batch * batch
    with open_run(path) as run:
        assert run.problems == []
        ids = [t.id for t in run.tests]
        assert ids == [f"plan.py::test_{i}" for i in range(tests)] + ["plan.py::test_cut_short"]
        assert [t.measurements["value"][0] for t in run.tests[:-1]] == list(range(tests))
        assert run.tests[-1].outcome == "incomplete"
        assert run.tests[-1].conditions == {"i": -1}
        assert run.tests[0].conditions == {"i": 0, "pad": ""}
        assert [t.index for t in run.tests] == list(range(1, tests + 2))


@pytest.mark.parametrize(
    ("rows", "pad"),
    [(1, 300_000), (100, 0)],
    ids=["record larger than the journal", "more rows than a record takes"],
)
def test_a_test_not_fit_for_the_journal_is_committed_to_the_tables(
    tmp_path: Path, rows: int, pad: int
) -> None:
    path = killed_run(tmp_path / "run.h5", tests=3, rows=rows, pad=pad)
    with with_log(path) as f:
        assert len(f["summary/tests"]) == 3
    found = values(path)
    assert found["plan.py::test_2"][:1] == [2.0] and len(found["plan.py::test_2"]) == rows


def test_a_torn_record_ends_the_journal_and_only_its_test_is_lost(tmp_path: Path) -> None:
    path = killed_run(tmp_path / "run.h5", tests=6)
    with h5py.File(path, "r") as f:
        journal = f["summary/journal"]
        offset, data = journal.id.get_offset(), journal[...].tobytes()
    records = read_journal(data)
    assert [next(iter(r.keys() - {"seq"})) for r in records] == ["start", "rows"] * 6 + ["start"]
    # Damage the payload of test_4's commit record (the 10th record) as a torn write would.
    position = sum(8 + struct.unpack_from("<I", data, p)[0] for p in _starts(data)[:9])
    with path.open("r+b") as raw:
        raw.seek(offset + position + 20)
        raw.write(b"\xff\xff")
    with open_run(path) as run:
        assert [(t.id, t.outcome) for t in run.tests] == [
            *((f"plan.py::test_{i}", "passed") for i in range(4)),
            ("plan.py::test_4", "incomplete"),  # its start record is before the damage
        ]


def _starts(data: bytes) -> list[int]:
    starts: list[int] = []
    position = 0
    while True:
        (length,) = struct.unpack_from("<I", data, position)
        if length == 0:
            return starts
        starts.append(position)
        position += 8 + length


def test_a_closed_run_has_an_empty_journal_and_its_tables_are_the_record(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        for i in range(3):
            writer(Started(f"a.py::test_{i}", "t"))
            m = Measurement.judge("vout", 3.3, "V", Limits(3.0, 3.6, "V"))
            writer(MeasurementRecorded(f"a.py::test_{i}", m))
            writer(Finished(f"a.py::test_{i}", "passed", "t", 0.1))
    with h5py.File(path, "a") as f:
        assert read_journal(f["summary/journal"][...]) == []
        assert len(f["summary/tests"]) == 3
        tests = f["summary/tests"]
        row = tests[1]
        row["commit"] = 0  # tampered after the close: the journal must not bring it back
        tests[1] = row
    with open_run(path) as run:
        assert [t.id for t in run.tests] == ["a.py::test_0", "a.py::test_2"]


def test_records_stop_at_a_gap_in_the_sequence_or_a_bad_crc() -> None:
    def record(seq: int, crc_ok: bool = True) -> bytes:
        payload = f'{{"seq":{seq},"start":{{"index":{seq}}}}}'.encode()
        crc = zlib.crc32(payload) ^ (0 if crc_ok else 1)
        return struct.pack("<II", len(payload), crc) + payload

    assert [r["seq"] for r in read_journal(record(7) + record(8) + record(3))] == [7, 8]
    assert [r["seq"] for r in read_journal(record(1) + record(2, crc_ok=False))] == [1]
    assert read_journal(bytes(64)) == []
    assert read_journal(record(1)[:-1]) == []  # cut short


def test_the_hdf5_write_path_writes_the_same_bytes_as_pwrite(tmp_path: Path) -> None:
    contents = []
    for direct in (True, False):
        with h5py.File(tmp_path / f"j{direct}.h5", "w") as f:
            journal = JournalWriter(create_journal(f, "journal", 4096), direct=direct)
            assert journal.write({"start": {"index": 1, "test_id": "a"}})
            assert journal.write({"rows": {"tests": [[1, "a", 2.5, float("nan")]]}})
            assert not journal.write({"start": {"blob": "x" * 5000}})  # does not fit: unwritten
            contents.append(f["journal"][...].tobytes())
    assert contents[0] == contents[1]
    records = read_journal(contents[0])
    assert [r["seq"] for r in records] == [1, 2]
    assert np.isnan(records[1]["rows"]["tests"][0][3])


def test_a_journal_of_two_halves_is_used_in_turn_and_read_whole(tmp_path: Path) -> None:
    """After each append the writer turns to the other half, whose first record it empties;
    the half left keeps its records (the same rows as the tables by then). A reader takes the
    records of both halves in sequence order; a reader of one half sees only the first."""
    writes: list[tuple[int, bytes, int | None]] = []
    with h5py.File(tmp_path / "j.h5", "w") as f:
        dataset = create_journal(f, "journal", 8192, halves=2)
        assert dataset.attrs["halves"] == 2
        offset = dataset.id.get_offset()

        def write(at: int, data: bytes, after: int | None) -> None:
            writes.append((at - offset, data, after))
            f["journal"][at - offset : at - offset + len(data)] = np.frombuffer(data, np.uint8)

        journal = JournalWriter(dataset, write=write)
        assert journal.write({"start": {"index": 1}}) and journal.write({"start": {"index": 2}})
        journal.restart(after=-1)  # the first append: the other half was never used
        assert journal.write({"start": {"index": 3}})
        journal.restart(after=7)  # back to the first half, whose records commit 7 holds
        assert journal.write({"start": {"index": 4}})
        assert journal.write({"rows": {"tests": []}}, after=ORDERED)  # after its entry
        assert not journal.write({"start": {"blob": "x" * 4000}})  # larger than a half
        data = f["journal"][...].tobytes()
    assert [(at, after) for at, _, after in writes] == [
        (0, -1), (writes[1][0], -1),  # the first half, waiting for nothing
        (4096, -1), (4096, -1),  # the second half emptied, then written
        (0, 7), (0, 7), (writes[6][0], ORDERED),  # the first half again, after commit 7
    ]  # fmt: skip
    assert [r["seq"] for r in read_journal(data, halves=2)] == [3, 4, 5]
    assert [r["seq"] for r in read_journal(data)] == [4, 5]  # one half: the first chain only
    with h5py.File(tmp_path / "d.h5", "w") as f:  # a damaged attribute: one half
        f["journal"] = np.zeros(16, np.uint8)
        for damaged in ("two", np.array([2, 2]), 3, -1):
            f["journal"].attrs["halves"] = damaged
            assert halves_of(f["journal"]) == 1
    with pytest.raises(ValueError, match="halves"), h5py.File(tmp_path / "k.h5", "w") as f:
        create_journal(f, "journal", 8191, halves=2)
