"""Fewer writes for the same bytes: the new blocks HDF5 writes one after another past the
committed end are gathered into one `pwrite` (before anything reads the file or a record
points at them), and the background thread writes a batch of log records into the file as
one write per run of touching bytes."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path
from typing import Any

import pytest

from benchtest.runfile.commit_log import Entry
from benchtest.storage.committed_file import GATHER_BYTES, CommittedFile, coalesced


def _applied(entries: list[Entry], size: int) -> tuple[bytes, list[bool]]:
    """The bytes `entries` leave in a zeroed file of `size` bytes, and which they wrote."""
    image, written = bytearray(size), [False] * size
    for offset, data in entries:
        image[offset : offset + len(data)] = data
        written[offset : offset + len(data)] = [True] * len(data)
    return bytes(image), written


def test_coalesced_writes_leave_the_bytes_the_entries_leave() -> None:
    chance = random.Random(7)
    for _ in range(500):
        entries = [
            (chance.randrange(200), chance.randbytes(chance.randrange(24)))
            for _ in range(chance.randrange(12))
        ]
        merged = coalesced(entries)
        assert _applied(merged, 256) == _applied(entries, 256)
        assert len(merged) <= len(entries)
        ends = sorted((offset, offset + len(data)) for offset, data in merged)
        assert all(end < start for (_, end), (start, _) in itertools.pairwise(ends))


def test_a_journal_cycle_is_one_write() -> None:
    records = [(4096 + 40 * k, bytes([k]) * 40) for k in range(100)]
    restart = [(4096, bytes(8))]  # the next cycle's empty first record, written over the first
    journal = b"".join(data for _, data in records)
    assert coalesced([*records, *restart]) == [(4096, bytes(8) + journal[8:])]


@pytest.fixture
def pwrites(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Each `os.pwrite`: (descriptor, offset, length)."""
    if not hasattr(os, "pwrite"):
        pytest.skip("counts pwrite calls")
    calls: list[tuple[int, int, int]] = []
    real = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        calls.append((fd, offset, len(memoryview(data).cast("B"))))
        return int(real(fd, data, offset))

    monkeypatch.setattr(os, "pwrite", pwrite)
    return calls


def _committed(tmp_path: Path, size: int = 4096, *, deferred: bool = False) -> CommittedFile:
    """A `CommittedFile` over a new file of `size` zero bytes (all of them committed)."""
    path = tmp_path / "run.h5"
    path.write_bytes(bytes(size))
    return CommittedFile(path, deferred=deferred)


def test_new_blocks_one_after_another_are_written_at_once(
    tmp_path: Path, pwrites: list[tuple[int, int, int]]
) -> None:
    committed = _committed(tmp_path)
    committed.seek(5000)
    for k in range(50):  # object headers of new entries, one after another
        committed.write(bytes([k + 1]) * 300)
    assert pwrites == []  # gathered
    committed.seek(5000 + 300)  # a rewrite of one of them: after the others
    committed.write(b"\xff" * 10)
    assert pwrites == [(committed.fd, 5000, 50 * 300)]
    view = bytearray(20)
    committed.seek(5000 + 295)
    committed.readinto(view)  # a read sees what was written, gathered or not
    assert bytes(view) == b"\x01" * 5 + b"\xff" * 10 + b"\x02" * 5
    committed.flush()
    committed.close()
    data = committed.path.read_bytes()
    assert data[5000:5300] == b"\x01" * 300 and data[5300:5310] == b"\xff" * 10
    assert data[5000 + 49 * 300 : 5000 + 50 * 300] == bytes([50]) * 300


def test_gathering_stops_at_its_limit_and_for_large_blocks(
    tmp_path: Path, pwrites: list[tuple[int, int, int]]
) -> None:
    committed = _committed(tmp_path)
    committed.seek(4096)
    block = 16 << 10
    for _ in range(GATHER_BYTES // block):
        committed.write(bytes(block))
    assert pwrites == [(committed.fd, 4096, GATHER_BYTES)]  # written once it reached the limit
    committed.write(b"\x01" * 100)
    committed.write(b"\x02" * (64 << 10))  # a large block (a waveform's chunk): at once
    assert pwrites[1:] == [
        (committed.fd, 4096 + GATHER_BYTES, 100),
        (committed.fd, 4196 + GATHER_BYTES, 64 << 10),
    ]
    committed.close()


def test_the_background_thread_writes_touching_records_as_one(
    tmp_path: Path, pwrites: list[tuple[int, int, int]]
) -> None:
    committed = _committed(tmp_path, 8192, deferred=True)
    committed.seek(0)
    committed.write(b"\x07" * 64)  # below the committed end: held, committed through the log
    committed.flush()
    for k in range(200):  # journal records while that commit is not yet in the file
        committed.write_record(1024 + 20 * k, bytes([k]) * 20)
    assert committed._pending and not any(fd == committed.fd for fd, _, _ in pwrites)
    del pwrites[:]
    committed.make_durable()
    into_file = [(offset, size) for fd, offset, size in pwrites if fd == committed.fd]
    assert into_file == [(0, 64), (1024, 4000)]
    committed.close()
    data = committed.path.read_bytes()
    assert data[:64] == b"\x07" * 64
    assert data[1024:5024] == b"".join(bytes([k]) * 20 for k in range(200))
