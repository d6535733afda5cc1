"""The commit log beside a run file being written: HDF5's changes to committed bytes, redone.

HDF5 writes a flush's metadata blocks one by one (the root group's object header, its link
heap and B-tree, the superblock, ...), in its own order; a process killed between two of
them leaves a file whose root points at blocks not yet written, which libhdf5 cannot open.
So the writer (`benchtest.storage.committed_file`) never overwrites a committed byte in
place until the whole flush is saved elsewhere: between two commits every write below the
end of the last commit is held in memory, and a commit first writes all of them as one
record to this log, and only then into the file. Writes past the committed end (new blocks,
waveform chunks) go straight to the file: no committed byte points at them yet.

A file killed at any moment is therefore the last commit's file, plus, when the kill came
after a record was written, a log that finishes it: readers apply the log as they read
(`LoggedReader`) and never change the file; `fold_log` writes it into the file for good.

The log file is `.<run file name>.commit` in the run file's folder. It starts with a header
(`LOG_MAGIC`, the sequence number of its first record, the number below which records need
no check of their dependencies, and the CRC-32 of those two), then records from byte
`RECORDS_AT` on, each right after the one before: `MAGIC`, its sequence number, the entry
count and payload length (u64, u32, u64), the CRC-32 of the payload and the CRC-32 of those
header fields, then the payload: the number of dependencies (u32) and each one's file offset,
length and CRC-32 (u64, u32, u32), then per entry its file offset and length (u64, u32) and
bytes. A reader applies the records in order while each one is complete, follows the one
before in sequence, and, from the header's number on, finds its dependencies in the file:
the blocks past the committed end that the commit's metadata points at, which reach the disk
in their own time when commits are not fsynced (see `CommittedFile`). A log whose header
magic is zeros is empty. (A log of the first format, one record at byte 0 with magic
`BTCLOG1`, is read as before.)
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from benchtest.runfile.crc import crc32

LOG_MAGIC = b"BTCLOGH2"
_LOG_HEADER = struct.Struct("<8sQQI")  # magic, first record's seq, checked-from seq, CRC
#: Where the first record starts (the header, padded).
RECORDS_AT = 64
MAGIC = b"BTCLOG2\0"
_V1_MAGIC = b"BTCLOG1\0"
_HEADER = struct.Struct("<8sQIQII")  # magic, seq, entries, payload length, payload CRC, CRC
_ENTRY = struct.Struct("<QI")  # file offset, length
_DEPENDENCY = struct.Struct("<QII")  # file offset, length, CRC-32
_COUNT = struct.Struct("<I")
_FIELDS = struct.Struct("<QIQI")  # the record header's fields that its own CRC covers
_ONE_ENTRY = struct.Struct("<IQI")  # no dependencies, then one entry's offset and length
#: The bytes that mark the log empty: the header's magic overwritten with zeros.
EMPTY = bytes(len(LOG_MAGIC))

Entry = tuple[int, bytes]
#: A block the commit points at, as it must be in the file: offset, length, CRC-32.
Dependency = tuple[int, int, int]


@dataclass(frozen=True)
class Record:
    """One commit in the log: its sequence number, the bytes it writes, what it needs."""

    seq: int
    entries: list[Entry]
    dependencies: list[Dependency]


def log_path(path: Path) -> Path:
    """Where the commit log of the run file `path` is kept."""
    return path.with_name(f".{path.name}.commit")


def encode_header(first: int, checked_from: int) -> bytes:
    """The log's header (RECORDS_AT bytes): records start at sequence number `first`; those
    from `checked_from` on count only with their dependencies in the file."""
    crc = crc32(struct.pack("<QQ", first, checked_from))
    return _LOG_HEADER.pack(LOG_MAGIC, first, checked_from, crc).ljust(RECORDS_AT, b"\0")


def encode(seq: int, entries: Sequence[Entry], dependencies: Sequence[Dependency] = ()) -> bytes:
    """One log record holding `entries` (offset, bytes), applied in order, that counts only
    with its `dependencies` in the file (unless the header says they were checked)."""
    if len(entries) == 1 and not dependencies:  # a journal record: the common case, made fast
        offset, data = entries[0]
        payload = _ONE_ENTRY.pack(0, offset, len(data)) + data
    else:
        parts = [_COUNT.pack(len(dependencies))]
        parts += [_DEPENDENCY.pack(*dependency) for dependency in dependencies]
        for offset, data in entries:
            parts += (_ENTRY.pack(offset, len(data)), data)
        payload = b"".join(parts)
    fields = _FIELDS.pack(seq, len(entries), len(payload), crc32(payload))
    return MAGIC + fields + _COUNT.pack(crc32(fields)) + payload


def records(data: bytes) -> tuple[int, list[Record]]:
    """The sequence number from which dependencies are to be checked, and the complete
    records of the log `data` in order (stopping at the first torn, foreign or out-of-sequence
    one); no records for an empty or foreign log."""
    if data[: len(_V1_MAGIC)] == _V1_MAGIC:  # the first format: one record, no dependencies
        record = _record(data, 0, expected=_V1_MAGIC)
        return (record[0].seq + 1 if record else 0), [record[0]] if record else []
    if len(data) < _LOG_HEADER.size:
        return 0, []
    magic, first, checked_from, crc = _LOG_HEADER.unpack_from(data)
    if magic != LOG_MAGIC or crc32(struct.pack("<QQ", first, checked_from)) != crc:
        return 0, []
    found: list[Record] = []
    position, seq = RECORDS_AT, first
    while (record := _record(data, position)) is not None and record[0].seq == seq:
        found.append(record[0])
        position, seq = record[1], seq + 1
    return checked_from, found


def _record(data: bytes, position: int, expected: bytes = MAGIC) -> tuple[Record, int] | None:
    """The complete record at `position` of `data` and where the next one starts, or None."""
    if len(data) < position + _HEADER.size:
        return None
    magic, seq, count, length, payload_crc, head_crc = _HEADER.unpack_from(data, position)
    if magic != expected or crc32(_FIELDS.pack(seq, count, length, payload_crc)) != head_crc:
        return None
    start = position + _HEADER.size
    payload = memoryview(data)[start : start + length]
    if len(payload) != length or crc32(payload) != payload_crc:
        return None
    at, dependencies = 0, []
    if expected != _V1_MAGIC:
        if length < _COUNT.size:
            return None
        (needed,) = _COUNT.unpack_from(payload)
        at = _COUNT.size + needed * _DEPENDENCY.size
        if at > length:
            return None
        dependencies = [
            _DEPENDENCY.unpack_from(payload, _COUNT.size + k * _DEPENDENCY.size)
            for k in range(needed)
        ]
    entries: list[Entry] = []
    for _ in range(count):
        if at + _ENTRY.size > length:
            return None
        offset, size = _ENTRY.unpack_from(payload, at)
        at += _ENTRY.size
        entries.append((offset, bytes(payload[at : at + size])))
        at += size
    if at != length:
        return None
    return Record(seq, entries, dependencies), start + length


def decode(data: bytes) -> list[Entry]:
    """The entries of the complete records of the log `data`, in order, dependencies not
    checked (see `read_log`); [] for an empty, torn or foreign log."""
    return [entry for record in records(data)[1] for entry in record.entries]


def read_log(path: Path) -> list[Entry]:
    """The entries of the records in the commit log of run file `path` that count: complete,
    in sequence, and with their dependencies in the file (see the module docstring)."""
    return [entry for record in counting(path)[0] for entry in record.entries]


def counting(path: Path) -> tuple[list[Record], int]:
    """The records of the commit log of run file `path` that count, and the length of the
    log they take (0 without any, or for a log of the first format).

    A writer's background thread may be writing checked records into the file while this
    reads: a dependency that differs is looked at again with the log read anew (whose
    header then says those records were checked)."""
    for _attempt in range(3):
        try:
            data = log_path(path).read_bytes()
        except OSError:  # no log: the file was closed, or never had one
            return [], 0
        checked_from, found = records(data)
        if data[: len(_V1_MAGIC)] == _V1_MAGIC:  # one record, nothing to check, nothing to cut
            return found, 0
        kept: list[Record] = []
        with path.open("rb") as file:
            for record in found:
                if record.seq >= checked_from and not _present(file, record.dependencies):
                    break  # its blocks never reached the file (a power cut)
                kept.append(record)
        if len(kept) == len(found):
            break
    end = RECORDS_AT + sum(_record_bytes(record) for record in kept) if kept else 0
    return kept, end


def _record_bytes(record: Record) -> int:
    return len(encode(record.seq, record.entries, record.dependencies))


def _present(file: BinaryIO, dependencies: Iterable[Dependency]) -> bool:
    """Whether the file holds each dependency's bytes (by their CRC-32)."""
    for offset, length, crc in dependencies:
        file.seek(offset)
        data = file.read(length)
        if len(data) != length or crc32(data) != crc:
            return False
    return True


def patch(view: memoryview, start: int, entries: Iterable[Entry]) -> None:
    """Overwrite the bytes of `view` (the file's bytes from offset `start`) that `entries`
    change, in order."""
    stop = start + len(view)
    for offset, data in entries:
        low, high = max(start, offset), min(stop, offset + len(data))
        if low < high:
            view[low - start : high - start] = data[low - offset : high - offset]


def end_of(entries: Iterable[Entry]) -> int:
    """The file length the entries need (0 without entries)."""
    return max((offset + len(data) for offset, data in entries), default=0)


class LoggedReader(io.RawIOBase):
    """A run file read as if its commit log's `entries` had been applied (read only; the
    file and the log stay as they are), `size` bytes long when given (zeros past the file's
    real end). For h5py's file-object driver."""

    def __init__(self, path: Path, entries: Sequence[Entry], size: int | None = None) -> None:
        self._raw = path.open("rb")
        self._entries = list(entries)
        if size is None:
            size = max(os.fstat(self._raw.fileno()).st_size, end_of(self._entries))
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        wanted = max(0, min(len(view), self._size - start))
        self._raw.seek(start)
        got = self._raw.readinto(view[:wanted]) or 0
        view[got:wanted] = bytes(wanted - got)
        patch(view[:wanted], start, self._entries)
        self._position += wanted
        return wanted

    def close(self) -> None:
        self._raw.close()
        super().close()


def fold_log(path: Path) -> bool:
    """Write the commit log of the killed run file `path` into it and remove the log; True
    when there was a complete record to write. For a file no writer has open any more.

    The log is first cut to the records that count and its header marked so that none of
    them needs its dependencies checked again: writing a record can change the blocks an
    earlier one depends on, and a fold cut short must still find every record."""
    kept, end = counting(path)
    if kept and end:
        with log_path(path).open("r+b") as log:
            log.truncate(end)
            log.seek(0)
            log.write(encode_header(kept[0].seq, kept[-1].seq + 1))
            log.flush()
            os.fsync(log.fileno())
    if kept:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            for record in kept:
                for offset, data in record.entries:
                    write_at(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
    log_path(path).unlink(missing_ok=True)
    return bool(kept)


def write_at(fd: int, data: bytes | memoryview, offset: int) -> None:
    """All of `data` at `offset` of the file `fd` (pwrite where the OS has it)."""
    if hasattr(os, "pwrite"):
        written = os.pwrite(fd, data, offset)  # all of it, but for a signal or a full disk
        if written == (data.nbytes if isinstance(data, memoryview) else len(data)):
            return
        view, offset = memoryview(data).cast("B")[written:], offset + written
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        return
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    view = memoryview(data).cast("B")  # pragma: no cover
    while view:  # pragma: no cover
        view = view[os.write(fd, view) :]
