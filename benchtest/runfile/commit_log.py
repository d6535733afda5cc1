"""The commit log beside a run file being written: HDF5's changes to committed bytes, redone.

HDF5 writes a flush's metadata blocks one by one (the root group's object header, its link
heap and B-tree, the superblock, ...), in its own order; a process killed between two of
them leaves a file whose root points at blocks not yet written, which libhdf5 cannot open.
So the writer (`benchtest.storage.committed_file`) never overwrites a committed byte in
place until the whole flush is saved elsewhere: between two commits every write below the
end of the last commit is held in memory, and a commit first writes all of them as one
record to this log, then to the file, then marks the log empty. Writes past the committed end
(new blocks, waveform chunks) go straight to the file: no committed byte points at them yet.

A file killed at any moment is therefore the last commit's file, plus, when the kill came
after the log was written, a log that finishes it: readers apply the log as they read
(`LoggedReader`) and never change the file; `fold_log` writes it into the file for good.

The log file is `.<run file name>.commit` in the run file's folder. A record is `MAGIC`, its
sequence number, the entry count and payload length (u64, u32, u64), the CRC-32 of the
payload and the CRC-32 of those header fields, then per entry its file offset and length
(u64, u32) and bytes. A log whose magic is zeros, whose CRCs differ or that is cut short is
empty: the kill came before it was complete, and the file is the previous commit's.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MAGIC = b"BTCLOG1\0"
_HEADER = struct.Struct("<8sQIQII")  # magic, seq, entries, payload length, payload CRC, CRC
_ENTRY = struct.Struct("<QI")  # file offset, length
#: The bytes that mark the log empty: a record's magic overwritten with zeros.
EMPTY = bytes(len(MAGIC))

Entry = tuple[int, bytes]


def log_path(path: Path) -> Path:
    """Where the commit log of the run file `path` is kept."""
    return path.with_name(f".{path.name}.commit")


def encode(seq: int, entries: Sequence[Entry]) -> bytes:
    """One log record holding `entries` (offset, bytes), applied in order."""
    payload = b"".join(_ENTRY.pack(offset, len(data)) + data for offset, data in entries)
    fields = (seq, len(entries), len(payload), zlib.crc32(payload))
    head_crc = zlib.crc32(struct.pack("<QIQI", *fields))
    return _HEADER.pack(MAGIC, *fields, head_crc) + payload


def decode(data: bytes) -> list[Entry]:
    """The entries of a complete record at the start of `data`; [] for an empty, torn or
    foreign log."""
    if len(data) < _HEADER.size:
        return []
    magic, seq, count, length, payload_crc, head_crc = _HEADER.unpack_from(data)
    if magic != MAGIC or zlib.crc32(struct.pack("<QIQI", seq, count, length, payload_crc)) != (
        head_crc
    ):
        return []
    payload = data[_HEADER.size : _HEADER.size + length]
    if len(payload) != length or zlib.crc32(payload) != payload_crc:
        return []
    entries: list[Entry] = []
    position = 0
    for _ in range(count):
        if position + _ENTRY.size > length:
            return []
        offset, size = _ENTRY.unpack_from(payload, position)
        position += _ENTRY.size
        entries.append((offset, bytes(payload[position : position + size])))
        position += size
    return entries if position == length else []


def read_log(path: Path) -> list[Entry]:
    """The complete record in the commit log of run file `path`, if there is one."""
    try:
        data = log_path(path).read_bytes()
    except OSError:  # no log: the file was closed, or never had one
        return []
    return decode(data)


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
    when there was a complete record to write. For a file no writer has open any more."""
    entries = read_log(path)
    if entries:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            for offset, data in entries:
                write_at(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
    log_path(path).unlink(missing_ok=True)
    return bool(entries)


def write_at(fd: int, data: bytes | memoryview, offset: int) -> None:
    """All of `data` at `offset` of the file `fd` (pwrite where the OS has it)."""
    view = memoryview(data).cast("B")
    if hasattr(os, "pwrite"):
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        return
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    while view:  # pragma: no cover
        view = view[os.write(fd, view) :]
