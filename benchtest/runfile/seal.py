"""The seal of a closed run file: a CRC-32 of every region of its bytes, written at close.

/summary/seal is a contiguous uint8 dataset allocated (zero-filled) when the file is created.
When the writer has closed the file, it reads the file back, computes the CRC-32 of each of up
to `MAX_REGIONS` equal regions (the seal's own bytes count as zeros) and writes them into the
seal with plain file I/O: no HDF5 object changes, and no file space is needed, so a nearly full
disk still gets its seal. A reader computes the same CRCs: a region that differs names the bytes
that changed since the run closed, so a single flipped bit or a truncation is always noticed.

The seal is a header, `MAGIC`, the seal's own byte offset, the sealed file length, the region
size, the region count (little-endian u64 x3, u32) and the CRC-32 of everything after the
header's CRC field, followed by one u32 CRC per region. A seal of zeros: the file was never
closed by its writer (killed, or stopped by a full disk).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py

from benchtest.runfile.crc import crc32
from benchtest.runfile.journal import allocate_bytes

#: Size of /summary/seal in bytes.
SEAL_BYTES = 8192
MAGIC = b"BTSEAL1\0"
_HEADER = struct.Struct("<8sQQQII")  # magic, offset, length, region size, count, CRC
#: Regions a seal can hold: a 8 MiB file is checked per 4 KiB, a 2 GiB one per 1 MiB.
MAX_REGIONS = (SEAL_BYTES - _HEADER.size) // 4
#: Smallest region, and the multiple every region size is rounded up to.
REGION_STEP = 4096
#: Bytes of the file read at a time when computing its CRCs (rounded down to whole regions).
READ_BYTES = 1 << 20
#: How far from the start of a file a seal is looked for when HDF5 cannot find it by name:
#: it is created with the file, right after the journal.
SEARCH_BYTES = 1 << 20


def create_seal(group: h5py.Group, name: str) -> h5py.Dataset:
    """An empty (zero) seal in `group`, allocated now so that its place never moves."""
    return allocate_bytes(
        group,
        name,
        SEAL_BYTES,
        "CRC-32 of every region of the file, written when the run closed; "
        "zeros: never closed. See docs/results-format.md",
    )


@dataclass(frozen=True)
class Seal:
    """A seal as read from a file: where it is, what it covers, the CRC of each region."""

    offset: int
    length: int
    region: int
    crcs: tuple[int, ...]

    def regions(self) -> list[tuple[int, int]]:
        """The byte range `[start, stop)` of each region."""
        return [
            (start, min(start + self.region, self.length))
            for start in range(0, self.length, self.region)
        ]


class SealDamagedError(ValueError):
    """The seal's bytes are not zeros and not a valid seal."""


def region_size(length: int) -> int:
    """The region size for a file of `length` bytes: at most MAX_REGIONS regions."""
    wanted = -(-length // MAX_REGIONS)
    return max(REGION_STEP, -(-wanted // REGION_STEP) * REGION_STEP)


def region_crcs(
    path: Path, offset: int, length: int, region: int, known: Mapping[int, int] | None = None
) -> list[int]:
    """The CRC-32 of each `region`-byte region of the first `length` bytes of `path`, the
    SEAL_BYTES at `offset` counted as zeros; bytes missing at the end count as absent (a
    region past the end of the file has the CRC of no bytes, 0).

    `known`: CRCs the caller already has (region index -> CRC of its bytes as they are in the
    file, e.g. computed as the writer wrote them); the regions they cover whole, outside the
    seal, are not read. The rest is read `READ_BYTES` (whole regions) at a time: one read and
    one pass over the regions it holds, instead of a read per region."""
    count = -(-length // region)
    crcs = [0] * count
    seal_first, seal_last = offset // region, (offset + SEAL_BYTES - 1) // region
    full = length // region  # regions wholly inside `length`
    usable = {
        k: crc
        for k, crc in (known or {}).items()
        if 0 <= k < full and not seal_first <= k <= seal_last
    }
    per_read = max(1, READ_BYTES // region)
    buffer = bytearray(min(per_read * region, length))
    with path.open("rb") as file:
        for first, stop in _unknown_runs(count, usable, per_read):
            start = first * region
            wanted = min(stop * region, length) - start
            file.seek(start)
            size = file.readinto(memoryview(buffer)[:wanted]) or 0
            view = memoryview(buffer)[:size]
            low, high = max(offset, start), min(offset + SEAL_BYTES, start + size)
            if low < high:
                view[low - start : high - start] = bytes(high - low)
            for k in range(first, stop):
                at = (k - first) * region
                crcs[k] = crc32(view[at : at + region])
    for k, crc in usable.items():
        crcs[k] = crc
    return crcs


def _unknown_runs(count: int, known: Mapping[int, int], most: int) -> Iterator[tuple[int, int]]:
    """[first, stop) index runs of the regions not in `known`, each at most `most` long."""
    k = 0
    while k < count:
        if k in known:
            k += 1
            continue
        first = k
        while k < count and k - first < most and k not in known:
            k += 1
        yield first, k


def _encode(offset: int, length: int, region: int, crcs: list[int]) -> bytes:
    """The SEAL_BYTES of a seal: header, CRCs, zeros."""
    body = struct.pack(f"<{len(crcs)}I", *crcs)
    fields = struct.pack("<QQQI", offset, length, region, len(crcs))
    header = _HEADER.pack(MAGIC, offset, length, region, len(crcs), crc32(fields + body))
    return (header + body).ljust(SEAL_BYTES, b"\0")


def seal_file(
    path: Path, offset: int, *, sync: bool = True, known: Mapping[int, int] | None = None
) -> None:
    """Write the seal at byte `offset` of the closed run file `path` (then fsync with `sync`).

    `known`: CRC-32s of `REGION_STEP`-byte regions (index -> CRC) that the writer computed as
    it wrote them and that no write has changed since; used when the file's regions are that
    size, so those bytes are not read back. The CRCs go first and the header, which makes
    them count, last.
    """
    length = path.stat().st_size
    region = region_size(length)
    crcs = region_crcs(path, offset, length, region, known if region == REGION_STEP else None)
    data = _encode(offset, length, region, crcs)
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        _write_at(fd, data[_HEADER.size :], offset + _HEADER.size)
        _write_at(fd, data[: _HEADER.size], offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_at(fd: int, data: bytes, position: int) -> None:
    os.lseek(fd, position, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def parse_seal(data: bytes, offset: int) -> Seal | None:
    """The seal in `data` (the SEAL_BYTES read at `offset`); None for an unwritten (zero) seal.

    Raises SealDamagedError when the bytes are neither.
    """
    if not any(data):
        return None
    if len(data) < _HEADER.size:
        raise SealDamagedError(f"only {len(data)} of its {SEAL_BYTES} bytes are in the file")
    magic, own, length, region, count, crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size : _HEADER.size + 4 * count]
    fields = struct.pack("<QQQI", own, length, region, count)
    if magic != MAGIC or count > MAX_REGIONS or len(body) < 4 * count:
        raise SealDamagedError("its header is not a seal header")
    if crc32(fields + body) != crc:
        raise SealDamagedError("its own checksum does not match")
    if any(data[_HEADER.size + 4 * count :]):
        raise SealDamagedError("its unused bytes are not zeros")
    if own != offset or region <= 0 or count != -(-length // region):
        raise SealDamagedError(f"it describes another place ({own}) or an impossible layout")
    return Seal(offset, length, region, struct.unpack_from(f"<{count}I", body))


def read_seal_at(path: Path, offset: int) -> Seal | None:
    """The seal stored at byte `offset` of `path` (see `parse_seal`)."""
    with path.open("rb") as file:
        file.seek(offset)
        return parse_seal(file.read(SEAL_BYTES), offset)


def search_seal(path: Path) -> Seal | None:
    """A valid seal found by its header in the first SEARCH_BYTES of `path` (for a file whose
    HDF5 structure cannot lead to it), or None."""
    with path.open("rb") as file:
        head = file.read(SEARCH_BYTES + SEAL_BYTES)
    position = head.find(MAGIC)
    while 0 <= position < SEARCH_BYTES:
        try:
            return parse_seal(head[position : position + SEAL_BYTES], position)
        except SealDamagedError:
            position = head.find(MAGIC, position + 1)
    return None


def changed_regions(path: Path, seal: Seal) -> list[tuple[int, int]]:
    """The byte ranges of `path` whose CRC differs from the seal's (a missing tail counts)."""
    size = path.stat().st_size
    crcs = region_crcs(path, seal.offset, seal.length, seal.region)
    bad = [
        (start, stop)
        for (start, stop), expected, found in zip(seal.regions(), seal.crcs, crcs, strict=True)
        if expected != found or stop > size
    ]
    return _merged(bad)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, stop in ranges:
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out
