"""The run file's journal: each test's start and commit as one small record, written through.

/summary/journal is a contiguous uint8 dataset allocated when the file is created, so its
bytes have a fixed place in the file: a record is written there with one `os.pwrite` on the
file's descriptor (through HDF5 where there is no pwrite, e.g. Windows; HDF5's sieve buffer
is off, see `header.create_file`, so it caches none of these bytes). Either way the record
reaches the operating system at once, without a flush: committing a finished test costs
~2 us (HDF5 path ~10 us) instead of table appends and a flush (~100 us). Every few hundred
tests, or seconds, the writer moves the journaled tests into the /summary tables with one
append per table and one flush, then starts the journal over.

A journal with `@halves = 2` is used one half at a time: after each append the writer turns to
the other half, whose records went into the tables one append earlier, and starts it over with
an empty record at its first byte. The records of the half just left stay as they are until
the append that holds them is on the disk, so journal records never wait for an fsync (see
`CommittedFile.write_record`). A journal without the attribute is one half, started over at
byte 0 after each append.

A record is a little-endian u32 payload length, the u32 CRC-32 of the payload, and the payload:
UTF-8 JSON, either `{"seq": n, "start": {...}}` (a test started; the object is a
/summary/running entry) or `{"seq": n, "rows": {"tests": [[...]], "measurements": [...],
"waveforms": [...]}}` (a test committed; each row lists the values of that table's columns in
the file's column order, commit mark included). Reading a half stops at the first record
that is empty, torn (CRC), or whose `seq` is not the previous one + 1, which is also where the
current cycle ends and the bytes of an older cycle begin. The records of both halves count
(rows are placed by their commit mark, so a row also in its table is the same row).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.crc import crc32

_HEADER = struct.Struct("<II")  # payload length, CRC-32 of the payload
#: JSON as `json.dumps(..., separators=(",", ":"))` writes it, made once (not per record).
_ENCODE = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def allocate_bytes(group: h5py.Group, name: str, size: int, description: str) -> h5py.Dataset:
    """A contiguous uint8 dataset of `size` zero bytes, allocated now, so that its place in
    the file never moves and writing it needs no new file space."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    space = h5py.h5s.create_simple((size,))
    h5py.h5d.create(group.id, name.encode(), h5py.h5t.NATIVE_UINT8, space, dcpl=dcpl)
    dataset = group[name]
    dataset.attrs["description"] = description
    return dataset


def create_journal(group: h5py.Group, name: str, size: int, halves: int = 1) -> h5py.Dataset:
    """A zero-filled journal of `size` bytes, allocated now so that its place never moves,
    used in `halves` (1 or 2) in turn."""
    if halves not in (1, 2) or size % halves:
        raise ValueError(f"a journal of {size} bytes cannot be used in {halves} halves")
    journal = allocate_bytes(
        group,
        name,
        size,
        "records of tests started and committed since the tables were last appended: "
        "u32 length, u32 CRC-32, JSON; see docs/results-format.md",
    )
    if halves > 1:
        journal.attrs["halves"] = np.int64(halves)
    return journal


def halves_of(dataset: h5py.Dataset) -> int:
    """In how many halves the journal `dataset` is used (1 without `@halves`, or with one
    that is not 1 or 2: a damaged attribute is read as the older one-half journal)."""
    halves = dataset.attrs.get("halves", 1)
    try:
        count = int(halves)
    except (TypeError, ValueError, OverflowError):  # an array, a text, ...
        return 1
    return count if count in (1, 2) else 1


#: Bytes at the end of the journal kept for the notes of a writer that stopped (why, and the
#: instruments' safe state): ordinary records leave them free (a 16th of smaller journals).
NOTE_BYTES = 4096


#: `JournalWriter.write(..., after=ORDERED)`: the record may reach the file only after every
#: commit made so far (a test's record after its entry, a stopped writer's note).
ORDERED = None


class JournalWriter:
    """Appends records to a journal dataset; `restart()` starts a new cycle (in the other half
    of a journal of two halves).

    `write(offset, data, after)`, the writer's commit layer, gets with each record the commit
    (a sequence number of its own, -1 for none, `ORDERED` for every commit so far) that must
    be on the disk before the record may be: a record in a half whose earlier records went
    into the tables with commit n waits for n; no other record waits for anything.
    """

    def __init__(
        self,
        dataset: h5py.Dataset,
        fd: int | None = None,
        *,
        direct: bool = True,
        write: Callable[[int, bytes, int | None], None] | None = None,
    ) -> None:
        """`fd`: the file's descriptor for writing records in place (found from a sec2 file);
        without it, or without `direct`, records are written through HDF5. `write(offset,
        data, after)`: writes records instead (the writer's commit layer)."""
        self._write = write
        self._id = dataset.id
        self._file_space = dataset.id.get_space()
        self.capacity = int(dataset.shape[0])
        self.halves = halves_of(dataset)
        self._half_size = self.capacity // self.halves
        self._notes = min(NOTE_BYTES, self._half_size // 16)
        self._base = 0  # where the half in use starts
        self._position = 0  # in that half
        # The commit the records wait for: in one half, every commit so far (the half's
        # records since the last append are in the tables only once that append is durable).
        self._after: int | None = -1 if self.halves == 2 else ORDERED
        self._seq = 0
        self._fd: int | None = None
        if fd is None and write is None and dataset.file.driver == "sec2":
            fd = dataset.file.id.get_vfd_handle()
        if direct and fd is not None and hasattr(os, "pwrite"):
            self._fd = fd
        if write is not None or self._fd is not None:
            self._offset = dataset.id.get_offset()

    def write(
        self, record: dict[str, Any] | str, *, reserved: bool = False, after: int | None = -1
    ) -> bool:
        """Write `record` (a dict, or its JSON text: an object with members; it gets its
        `seq`); False, writing nothing, when it does not fit. Only a `reserved` record (a
        note of a stopped writer) may use the last NOTE_BYTES of a half. `after`: a commit
        the record must not reach the disk before (`ORDERED`: every commit so far)."""
        if isinstance(record, str):
            if not record.startswith("{") or record[1:].lstrip().startswith("}"):
                raise ValueError(f"a journal record must be a JSON object with members: {record!r}")
            payload = f'{{"seq":{self._seq + 1},{record[1:]}'.encode()
        else:
            payload = _ENCODE({"seq": self._seq + 1, **record}).encode()
        data = _HEADER.pack(len(payload), crc32(payload)) + payload
        room = self._half_size if reserved else self._half_size - self._notes
        if self._position + len(data) > room:
            return False
        own = self._after
        waits = ORDERED if after is ORDERED or own is ORDERED else max(after, own)
        self._write_at(self._base + self._position, data, waits)
        self._position += len(data)
        self._seq += 1
        return True

    def restart(self, after: int | None = ORDERED) -> None:
        """Start a new cycle: the records so far are in the tables now, with a commit not yet
        known to be on the disk. One half: byte 0 is made an empty record (after that commit,
        `ORDERED`). Two halves: the other half is started over the same way, its records
        waiting for `after`, the commit that put that half's earlier records into the tables;
        the half left keeps its records until then."""
        if self.halves == 2:
            self._base = self._half_size - self._base
            self._after = after
        self._write_at(self._base, bytes(_HEADER.size), self._after)
        self._position = 0

    def empty(self) -> None:
        """Start every half over, after every commit so far: the run closed, and all its
        records are in the tables."""
        for base in range(0, self.capacity - self._half_size + 1, self._half_size):
            self._write_at(base, bytes(_HEADER.size), ORDERED)
        self._position = 0

    def _write_at(self, position: int, data: bytes, after: int | None) -> None:
        if self._write is not None:
            self._write(self._offset + position, data, after)
            return
        if self._fd is not None:
            os.pwrite(self._fd, data, self._offset + position)
            return
        self._file_space.select_hyperslab((position,), (len(data),))
        memory = np.frombuffer(data, dtype=np.uint8)
        self._id.write(h5py.h5s.create_simple((len(data),)), self._file_space, memory)


def read_journal(data: npt.NDArray[np.uint8] | bytes, halves: int = 1) -> list[dict[str, Any]]:
    """The valid records of a journal's bytes used in `halves` halves, in `seq` order (see the
    module docstring)."""
    raw = bytes(data)
    size = len(raw) // halves if halves in (1, 2) else len(raw)
    records: dict[int, dict[str, Any]] = {}
    for start in range(0, len(raw) - size + 1, size) if size else ():
        for record in _chain(raw[start : start + size]):
            records.setdefault(record["seq"], record)
    return [records[seq] for seq in sorted(records)]


def _chain(raw: bytes) -> list[dict[str, Any]]:
    """The records from the start of `raw` while each is whole and follows the one before."""
    records: list[dict[str, Any]] = []
    position, expected = 0, None
    while position + _HEADER.size <= len(raw):
        length, crc = _HEADER.unpack_from(raw, position)
        payload = raw[position + _HEADER.size : position + _HEADER.size + length]
        if length == 0 or len(payload) < length or crc32(payload) != crc:
            break
        try:
            record = json.loads(payload)
        except ValueError:
            break
        seq = record.get("seq") if isinstance(record, dict) else None
        if not isinstance(seq, int) or (expected is not None and seq != expected):
            break
        records.append(record)
        position += _HEADER.size + length
        expected = seq + 1
    return records
