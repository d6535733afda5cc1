"""File space claimed before HDF5 needs it, so that a full disk stops a run cleanly.

HDF5 does not recover from a write that fails for lack of space: its metadata cache stays
half-flushed, the file can no longer be closed, and libhdf5 may crash when the process exits.
So before each write that grows the file (a waveform, a table append, the entries built at
close) the writer claims the bytes it may need with `posix_fallocate`, beyond HDF5's end of
allocated space. A disk that cannot give them refuses here, before HDF5 has written anything:
the writer stops with the file consistent, closes and seals it. The claimed tail beyond HDF5's
end is cut off at close; a killed run's file may keep up to `MARGIN` plus the last claim of
zeros there, which readers ignore.

Where the OS or file system has no `posix_fallocate` (macOS, some network shares), nothing is
claimed and a full disk fails inside HDF5 (see `failure.abandon`).
"""

from __future__ import annotations

import errno
import os

import h5py

#: Bytes claimed beyond every estimate: HDF5's metadata (object headers, B-tree nodes, heaps).
MARGIN = 256 << 10
#: Bytes claimed for each waveform, sweep or entry group beyond its data.
PER_GROUP = 64 << 10
#: Bytes claimed per table row (fixed part and the text in HDF5's global heap, generously).
PER_ROW = 1024
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS, errno.ENODEV}


class SpaceRefusedError(OSError):
    """The file system refused the space a write needs (before HDF5 wrote anything)."""


class SpaceClaim:
    """Claims file space of the open HDF5 `file` (its descriptor `fd`) ahead of HDF5's writes."""

    def __init__(self, file: h5py.File, fd: int) -> None:
        self._id = file.id
        self._fd: int | None = fd if hasattr(os, "posix_fallocate") else None
        self._claimed = 0  # file offset up to which space is allocated

    def claim(self, needed: int) -> None:
        """Make sure `needed` bytes (+ MARGIN) past HDF5's end of allocated space are on disk.

        Raises SpaceRefusedError (errno ENOSPC, EDQUOT, EFBIG) when they are not available.
        """
        if self._fd is None:
            return
        end = int(self._id.get_filesize()) + needed + MARGIN
        if end <= self._claimed:
            return
        start = min(self._claimed, end)
        try:
            os.posix_fallocate(self._fd, start, end - start)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                self._fd = None  # this file system cannot: HDF5 meets a full disk itself
                return
            raise SpaceRefusedError(exc.errno, exc.strerror) from exc
        self._claimed = end

    def release(self) -> int:
        """HDF5's end of allocated space: where the closed file is to be cut (claimed tail)."""
        return int(self._id.get_filesize())


def waveform_bytes(points: int, sample_bytes: int, physical_copy: bool) -> int:
    """What a waveform group may take: its codes as they are, and for records that get a
    physical copy the float32 values and the time axis (an arithmetic series, which gzip and
    blosc shrink to about a byte a point)."""
    return PER_GROUP + points * (sample_bytes + (5 if physical_copy else 0))


def group_bytes(group: h5py.Group) -> int:
    """What copying the stored group `group` may take: its datasets as stored (walked with the
    low-level API: h5py's objects cost ~40 us each, and a merge copies thousands of groups)."""
    return _stored_bytes(group.id)


def _stored_bytes(group_id: h5py.h5g.GroupID) -> int:
    total = PER_GROUP
    for name in group_id:
        child = h5py.h5o.open(group_id, name)
        kind = h5py.h5i.get_type(child)
        if kind == h5py.h5i.DATASET:
            total += int(child.get_storage_size()) + PER_GROUP // 8
        elif kind == h5py.h5i.GROUP:
            total += _stored_bytes(child)
    return total
