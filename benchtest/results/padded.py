"""Opening a run file that was killed in the middle of an HDF5 flush.

Within one flush HDF5 writes the superblock, which records where the file ends, in its own
turn; a process killed in between leaves one of two files that libhdf5 cannot read although
every committed byte is in them:

* the superblock records an end beyond the real end (it was written before the data): libhdf5
  refuses the file as "truncated". `open_padded` reads it through a file object that reports
  the recorded length and reads zeros past the real end.
* the superblock records an end before the data written in that flush (it was to be written
  last): libhdf5 refuses to read the objects past it. `open_extended` reads the file through a
  file object that presents the superblock with the file's real length as its end (and its
  checksum computed again: HDF5's Jenkins lookup3, `lookup3`).

Both read only; the file itself is never changed.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import h5py

from benchtest.runfile.commit_log import LoggedReader

_STORED_EOF = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Bytes of a superblock read to find its end-of-file address (versions 0 to 3).
SUPERBLOCK_HEAD = 48
_MASK = 0xFFFFFFFF


def padded_reader(path: Path, size: int, head: bytes = b"") -> LoggedReader:
    """A read-only binary file that appears `size` bytes long, zeros after its real end, with
    `head` (when given) in place of its first bytes."""
    return LoggedReader(path, [(0, head)] if head else [], size)


def stored_size(error: OSError) -> int | None:
    """The length HDF5 expected, from its "truncated file" error, or None for other errors."""
    match = _STORED_EOF.search(str(error))
    return int(match.group(2)) if match else None


def open_padded(path: Path, size: int) -> h5py.File:
    """`path` opened read-only as if it were `size` bytes long."""
    return h5py.File(padded_reader(path, size), "r")


def _eof_field(head: bytes) -> tuple[int, bool] | None:
    """Where a superblock keeps its end-of-file address, and whether it has a checksum
    (versions 2 and 3); None when `head` is no superblock with 8-byte addresses."""
    if len(head) < SUPERBLOCK_HEAD or not head.startswith(HDF5_SIGNATURE):
        return None
    version = head[8]
    if version in (0, 1) and head[13] == 8:
        return (40 if version == 0 else 44), False
    if version in (2, 3) and head[9] == 8:
        return 28, True
    return None


def recorded_end(head: bytes) -> int | None:
    """The end of file the superblock at the start of `head` records (None: unknown)."""
    field = _eof_field(head)
    return None if field is None else int(struct.unpack_from("<Q", head, field[0])[0])


def open_extended(path: Path, size: int) -> h5py.File:
    """`path` opened read-only with its superblock recording `size` as the end of file."""
    with path.open("rb") as file:
        head = bytearray(file.read(SUPERBLOCK_HEAD))
    field = _eof_field(bytes(head))
    if field is None:
        raise OSError(f"{path}: no superblock whose end of file can be set")
    offset, checksummed = field
    struct.pack_into("<Q", head, offset, size)
    if checksummed:
        struct.pack_into("<I", head, 44, lookup3(bytes(head[:44])))
    return h5py.File(padded_reader(path, size, bytes(head)), "r")


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`: the checksum of HDF5's metadata."""
    a = b = c = (0xDEADBEEF + len(data) + initval) & _MASK
    words = data + bytes(-len(data) % 12)
    blocks = max(0, (len(data) - 1) // 12)  # all but the last (partial or full) block
    for i in range(0, 12 * blocks, 12):
        x, y, z = map(int, struct.unpack_from("<III", words, i))
        a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
        a = ((a - c) & _MASK) ^ _rot(c, 4)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rot(a, 6)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rot(b, 8)
        b = (b + a) & _MASK
        a = ((a - c) & _MASK) ^ _rot(c, 16)
        c = (c + b) & _MASK
        b = ((b - a) & _MASK) ^ _rot(a, 19)
        a = (a + c) & _MASK
        c = ((c - b) & _MASK) ^ _rot(b, 4)
        b = (b + a) & _MASK
    if not data:
        return c
    x, y, z = map(int, struct.unpack_from("<III", words, 12 * blocks))
    a, b, c = (a + x) & _MASK, (b + y) & _MASK, (c + z) & _MASK
    c = ((c ^ b) - _rot(b, 14)) & _MASK
    a = ((a ^ c) - _rot(c, 11)) & _MASK
    b = ((b ^ a) - _rot(a, 25)) & _MASK
    c = ((c ^ b) - _rot(b, 16)) & _MASK
    a = ((a ^ c) - _rot(c, 4)) & _MASK
    b = ((b ^ a) - _rot(a, 14)) & _MASK
    return ((c ^ b) - _rot(b, 24)) & _MASK
