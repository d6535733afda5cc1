"""The run file's journal: each test's start and commit as one small record, written through.

/summary/journal is a contiguous uint8 dataset allocated when the file is created, so its
bytes have a fixed place in the file: a record is written there with one `os.pwrite` on the
file's descriptor (through HDF5 where there is no pwrite, e.g. Windows; HDF5's sieve buffer
is off, see `header.create_file`, so it caches none of these bytes). Either way the record
reaches the operating system at once, without a flush: committing a finished test costs
~2 us (HDF5 path ~10 us) instead of table appends and a flush (~100 us). Every few hundred
tests, or seconds, the writer moves the journaled tests into the /summary tables with one
append per table and one flush, then starts the journal over at byte 0, where an empty record
now says that nothing older is to be read.

A record is a little-endian u32 payload length, the u32 CRC-32 of the payload, and the payload:
UTF-8 JSON, either `{"seq": n, "start": {...}}` (a test started; the object is a
/summary/running entry) or `{"seq": n, "rows": {"tests": [[...]], "measurements": [...],
"waveforms": [...]}}` (a test committed; each row lists the values of that table's columns in
the file's column order, commit mark included). Reading stops at the first record that is
empty, torn (CRC), or whose `seq` is not the previous one + 1, which is also where the current
cycle ends and the bytes of an older cycle begin.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

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


def create_journal(group: h5py.Group, name: str, size: int) -> h5py.Dataset:
    """A zero-filled journal of `size` bytes, allocated now so that its place never moves."""
    return allocate_bytes(
        group,
        name,
        size,
        "records of tests started and committed since the tables were last appended: "
        "u32 length, u32 CRC-32, JSON; see docs/results-format.md",
    )


#: Bytes at the end of the journal kept for the notes of a writer that stopped (why, and the
#: instruments' safe state): ordinary records leave them free (a 16th of smaller journals).
NOTE_BYTES = 4096


class JournalWriter:
    """Appends records to a journal dataset; `restart()` starts a new cycle at byte 0."""

    def __init__(
        self,
        dataset: h5py.Dataset,
        fd: int | None = None,
        *,
        direct: bool = True,
        write: Callable[[int, bytes], None] | None = None,
    ) -> None:
        """`fd`: the file's descriptor for writing records in place (found from a sec2 file);
        without it, or without `direct`, records are written through HDF5. `write(offset,
        data)`: writes records in place instead (the writer's commit layer)."""
        self._write = write
        self._id = dataset.id
        self._file_space = dataset.id.get_space()
        self.capacity = int(dataset.shape[0])
        self._notes = min(NOTE_BYTES, self.capacity // 16)
        self._position = 0
        self._seq = 0
        self._fd: int | None = None
        if fd is None and dataset.file.driver == "sec2":
            fd = dataset.file.id.get_vfd_handle()
        if direct and fd is not None and hasattr(os, "pwrite"):
            self._fd = fd
        if write is not None or self._fd is not None:
            self._offset = dataset.id.get_offset()

    def write(self, record: dict[str, Any] | str, *, reserved: bool = False) -> bool:
        """Write `record` (a dict, or its JSON text: an object with members; it gets its
        `seq`); False, writing nothing, when it does not fit. Only a `reserved` record (a
        note of a stopped writer) may use the last NOTE_BYTES."""
        if isinstance(record, str):
            if not record.startswith("{") or record[1:].lstrip().startswith("}"):
                raise ValueError(f"a journal record must be a JSON object with members: {record!r}")
            payload = f'{{"seq":{self._seq + 1},{record[1:]}'.encode()
        else:
            payload = _ENCODE({"seq": self._seq + 1, **record}).encode()
        data = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        room = self.capacity if reserved else self.capacity - self._notes
        if self._position + len(data) > room:
            return False
        self._write_at(self._position, data)
        self._position += len(data)
        self._seq += 1
        return True

    def restart(self) -> None:
        """Start over at byte 0, which is made an empty record: what the journal held is in
        the tables now, and must not be read again."""
        self._write_at(0, bytes(_HEADER.size))
        self._position = 0

    def _write_at(self, position: int, data: bytes) -> None:
        if self._write is not None:
            self._write(self._offset + position, data)
            return
        if self._fd is not None:
            os.pwrite(self._fd, data, self._offset + position)
            return
        self._file_space.select_hyperslab((position,), (len(data),))
        memory = np.frombuffer(data, dtype=np.uint8)
        self._id.write(h5py.h5s.create_simple((len(data),)), self._file_space, memory)


def read_journal(data: npt.NDArray[np.uint8] | bytes) -> list[dict[str, Any]]:
    """The valid records of a journal's bytes, in order (see the module docstring)."""
    raw = bytes(data)
    records: list[dict[str, Any]] = []
    position, expected = 0, None
    while position + _HEADER.size <= len(raw):
        length, crc = _HEADER.unpack_from(raw, position)
        payload = raw[position + _HEADER.size : position + _HEADER.size + length]
        if length == 0 or len(payload) < length or zlib.crc32(payload) != crc:
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
