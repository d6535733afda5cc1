"""Opening a run file that was killed in the middle of an HDF5 flush.

HDF5 may write the superblock, with the new end of file, before it extends the file; a process
killed in between leaves a file that libhdf5 refuses as "truncated" although every committed
byte is in it. `open_padded` opens such a file read-only through a file object that reports the
stored length and reads zeros past the real end, so the committed part can be read.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import h5py

_STORED_EOF = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")


class PaddedReader(io.RawIOBase):
    """A read-only binary file that appears `size` bytes long, zeros after its real end."""

    def __init__(self, path: Path, size: int) -> None:
        self._raw = path.open("rb")
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
        wanted = max(0, min(len(view), self._size - self._position))
        self._raw.seek(self._position)
        got = self._raw.readinto(view[:wanted]) or 0
        view[got:wanted] = bytes(wanted - got)
        self._position += wanted
        return wanted

    def close(self) -> None:
        self._raw.close()
        super().close()


def stored_size(error: OSError) -> int | None:
    """The length HDF5 expected, from its "truncated file" error, or None for other errors."""
    match = _STORED_EOF.search(str(error))
    return int(match.group(2)) if match else None


def open_padded(path: Path, size: int) -> h5py.File:
    """`path` opened read-only as if it were `size` bytes long."""
    return h5py.File(PaddedReader(path, size), "r")
