"""The commit log's records and their dependencies, the seal's noted CRCs, and bulk writers."""

from __future__ import annotations

import array
import os
import zlib
from pathlib import Path
from typing import Any

import pytest

from benchtest.runfile import commit_log
from benchtest.runfile.commit_log import (
    encode,
    encode_header,
    fold_log,
    log_path,
    read_log,
    records,
)
from benchtest.runfile.seal import REGION_STEP, region_crcs
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.committed_file import NOTE_CRC_BYTES, CommittedFile
from benchtest.storage.example import run_started
from benchtest.values.events import RunFinished, TestFinished, TestStarted


def _file(tmp_path: Path, size: int = 8192) -> Path:
    path = tmp_path / "run.h5"
    path.write_bytes(bytes(size))
    return path


def _dependency(path: Path, offset: int, length: int) -> tuple[int, int, int]:
    return offset, length, zlib.crc32(path.read_bytes()[offset : offset + length])


def test_a_record_counts_only_with_its_blocks_in_the_file_and_ends_the_log_if_not(
    tmp_path: Path,
) -> None:
    path = _file(tmp_path)
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"new block")
    block = _dependency(path, 4096, 9)
    missing = (6000, 9, zlib.crc32(b"not there"))  # a block the disk never got
    log = encode_header(7, 7) + encode(7, [(10, b"a")], [block])
    log += encode(8, [(20, b"b")], [missing]) + encode(9, [(30, b"c")])
    log_path(path).write_bytes(log)
    assert [r.seq for r in records(log)[1]] == [7, 8, 9]
    assert read_log(path) == [(10, b"a")]  # 8 lacks its block; 9 comes after it
    log_path(path).write_bytes(encode_header(7, 9) + log[64:])  # 7 and 8 checked before
    assert read_log(path) == [(10, b"a"), (20, b"b"), (30, b"c")]


def test_records_out_of_sequence_or_torn_end_the_log(tmp_path: Path) -> None:
    path = _file(tmp_path)
    first, second = encode(3, [(1, b"x")]), encode(5, [(2, b"y")])
    log_path(path).write_bytes(encode_header(3, 3) + first + second)
    assert read_log(path) == [(1, b"x")]  # 5 does not follow 3
    log_path(path).write_bytes(encode_header(3, 3) + first[:-1])
    assert read_log(path) == []
    log_path(path).write_bytes(bytes(8) + (encode_header(3, 3) + first)[8:])  # emptied
    assert read_log(path) == []


def test_a_log_of_the_first_format_is_still_read(tmp_path: Path) -> None:
    import struct

    path = _file(tmp_path)
    payload = struct.pack("<QI", 100, 4) + b"held"
    fields = (0, 1, len(payload), zlib.crc32(payload))
    head = struct.pack("<8sQIQII", b"BTCLOG1\0", *fields, zlib.crc32(struct.pack("<QIQI", *fields)))
    log_path(path).write_bytes(head + payload)
    assert read_log(path) == [(100, b"held")]
    assert fold_log(path) and path.read_bytes()[100:104] == b"held"


def test_a_fold_cut_short_is_finished_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second record rewrites the block the first depends on (HDF5 changing a block made
    in the commit before): once the fold began writing, the first must not be dropped."""
    path = _file(tmp_path)
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"made in 1")
    made = _dependency(path, 4096, 9)
    log = encode_header(1, 1) + encode(1, [(10, b"root->4096")], [made])
    log += encode(2, [(4096, b"changed 2")]) + encode(3, [(30, b"three")])
    log_path(path).write_bytes(log)
    real = commit_log.write_at
    calls = 0

    def failing(fd: int, data: Any, offset: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # killed after the second record's write, before the third's
            raise OSError(5, "Input/output error")
        real(fd, data, offset)

    monkeypatch.setattr(commit_log, "write_at", failing)
    with pytest.raises(OSError):
        fold_log(path)
    monkeypatch.undo()
    assert fold_log(path)  # finds all three although the block of 1 changed
    data = path.read_bytes()
    assert data[10:20] == b"root->4096" and data[4096:4105] == b"changed 2"
    assert data[30:35] == b"three"
    assert not log_path(path).exists()


def test_the_seal_uses_only_crcs_of_regions_no_later_write_changed(tmp_path: Path) -> None:
    path = _file(tmp_path, 4 * REGION_STEP)
    committed = CommittedFile(path)
    big = bytes(range(256)) * (2 * NOTE_CRC_BYTES // 256)
    committed.seek(4 * REGION_STEP + 100)  # past the end: written at once, CRCs noted
    committed.write(big)
    noted = committed.region_crcs()
    assert len(noted) == len(big) // REGION_STEP - 1  # whole regions only
    committed.seek(6 * REGION_STEP + 10)
    committed.write(b"changed")  # a later small write: its region is forgotten
    committed.close()
    after = committed.region_crcs()
    assert 6 not in after and after.keys() == noted.keys() - {6}
    length = path.stat().st_size
    truth = region_crcs(path, 0, length, REGION_STEP)
    assert all(truth[k] == crc for k, crc in after.items())
    # The seal's own bytes count as zeros whatever was noted for them.
    assert region_crcs(path, 5 * REGION_STEP, length, REGION_STEP, after) == region_crcs(
        path, 5 * REGION_STEP, length, REGION_STEP
    )


def test_a_bulk_writer_lets_hdf5_write_the_file_itself(tmp_path: Path) -> None:
    with Hdf5RunWriter(tmp_path / "merged.h5", sync="never", bulk=True) as writer:
        writer(run_started())
        assert writer._file is not None and writer._file.driver == "sec2"
        writer(TestStarted("a.py::t", "2026-11-28T15:43:00+00:00"))
        writer(TestFinished("a.py::t", "passed", "2026-11-28T15:43:01+00:00", 0.1))
        writer(RunFinished("2026-11-28T15:44:00+00:00", "passed"))
    from benchtest.results import open_run

    with open_run(tmp_path / "merged.h5") as run:
        assert not run.damaged and [t.id for t in run.tests] == ["a.py::t"]
    assert not os.path.exists(log_path(tmp_path / "merged.h5"))


def test_deferred_commits_wait_in_the_log_until_made_durable(tmp_path: Path) -> None:
    path = _file(tmp_path)
    committed = CommittedFile(path, deferred=True)
    committed.seek(9000)
    committed.write(b"new block")  # past the end: at once, and a dependency of the next record
    for k in range(3):
        committed.seek(100 + k)
        committed.write(b"%d" % k)
        committed.flush()
    assert path.read_bytes()[100:103] == bytes(3)  # the file keeps the previous commit
    assert read_log(path) == [(100, b"0"), (101, b"1"), (102, b"2")]
    seen = bytearray(4)
    committed.seek(100)
    committed.readinto(seen)  # what HDF5 reads: the file with the records applied
    assert bytes(seen) == b"012\0"
    committed._compact_log()  # as when newer records came while a pass wrote older ones
    assert read_log(path) == [(100, b"0"), (101, b"1"), (102, b"2")]
    committed.make_durable()
    assert path.read_bytes()[100:103] == b"012"
    assert read_log(path) == []  # emptied: nothing newer came
    committed.close()
    assert not log_path(path).exists()


def test_a_deferred_record_whose_block_is_lost_is_not_applied(tmp_path: Path) -> None:
    path = _file(tmp_path)
    committed = CommittedFile(path, deferred=True)
    committed.seek(100)
    committed.write(b"old")
    committed.flush()  # record 0
    committed.seek(9000)
    committed.write(b"block of record 1")
    committed._committed_end = 9100  # the superblock of the next flush covers it
    committed.seek(100)
    committed.write(b"new")
    committed.flush()  # record 1, which depends on the block
    committed.discard()  # stop here: the log keeps both
    committed.close()
    assert read_log(path) == [(100, b"old"), (100, b"new")]
    with path.open("r+b") as f:  # a power cut: the disk never got the block
        f.seek(9000)
        f.write(bytes(17))
    assert read_log(path) == [(100, b"old")]


def test_new_blocks_rewritten_in_one_commit_are_noted_once_each(tmp_path: Path) -> None:
    """The dependencies of the next record, after thousands of new blocks written and partly
    rewritten (as HDF5 does while it flushes entries): the last bytes written at each place,
    as a plain list would note them."""
    import random

    committed = CommittedFile(_file(tmp_path, 0), deferred=True)
    rng = random.Random(7)
    model: list[tuple[int, int, int]] = []
    for _ in range(3000):
        start = rng.randrange(0, 200_000) if rng.random() < 0.3 else committed._eof
        data = rng.randbytes(rng.randrange(1, 600))
        committed.seek(start)
        committed.write(data)
        stop = start + len(data)
        model = [d for d in model if d[0] + d[1] <= start or d[0] >= stop]
        model.append((start, len(data), zlib.crc32(data)))
    assert committed._dependencies == sorted(model)
    committed.discard()
    committed.close()


def test_a_record_waits_in_the_log_only_for_the_commit_it_names(tmp_path: Path) -> None:
    """Deferred, with a commit in the log: a journal record that needs no commit, or one
    already on the disk, is written in place; one that names the waiting commit, or every
    commit (None), goes to the log after it, and so does every record after that until the
    log's records are in the file (they must not land on a newer record)."""
    path = _file(tmp_path)
    committed = CommittedFile(path, deferred=True)
    committed.write_through(4000, 1000)
    committed.seek(100)
    committed.write(b"first")
    committed.flush()
    first = committed.last_commit
    committed.make_durable()  # commit `first` on the disk
    committed.seek(200)
    committed.write(b"second")
    committed.flush()  # waits in the log
    second = committed.last_commit
    committed.write_record(4000, b"a", -1)
    committed.write_record(4001, b"b", first)
    assert path.read_bytes()[4000:4002] == b"ab"  # in place, before `second` is durable
    committed.write_record(4002, b"c", second)
    committed.write_record(4003, b"d", -1)  # after a record in the log: in the log too
    committed.write_record(4004, b"e")  # every commit so far
    assert path.read_bytes()[4002:4005] == bytes(3)
    assert read_log(path)[-3:] == [(4002, b"c"), (4003, b"d"), (4004, b"e")]
    committed.make_durable()
    assert path.read_bytes()[200:206] == b"second" and path.read_bytes()[4000:4005] == b"abcde"
    committed.write_record(4005, b"f", second)
    assert path.read_bytes()[4005:4006] == b"f"
    committed.close()


@pytest.mark.skipif(not hasattr(os, "pwrite"), reason="pwrite is POSIX")
@pytest.mark.parametrize("kind", ["bytes", "memoryview of int32"])
def test_write_at_writes_everything_when_the_os_writes_part_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    values = array.array("i", range(1000))
    data: bytes | memoryview = values.tobytes() if kind == "bytes" else memoryview(values)
    path = tmp_path / "part.bin"
    path.write_bytes(b"\xff" * 10)
    real_pwrite, calls = os.pwrite, []

    def short_pwrite(fd: int, buffer: Any, offset: int) -> int:  # a signal, say: 7 bytes each
        calls.append(offset)
        return real_pwrite(fd, memoryview(buffer).cast("B")[:7], offset)

    monkeypatch.setattr(os, "pwrite", short_pwrite)
    fd = os.open(path, os.O_RDWR)
    try:
        commit_log.write_at(fd, data, 3)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"\xff" * 3 + values.tobytes()
    assert len(calls) == -(-4000 // 7)
