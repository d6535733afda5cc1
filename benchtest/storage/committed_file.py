"""`CommittedFile`: the run file as HDF5 writes it, changing committed bytes only by a commit.

HDF5 reaches the file through this object (h5py's file-object driver). A write past the end
of the last commit goes straight to the file; a write below it (HDF5 rewriting a committed
object header, B-tree node, heap block or superblock) is held in memory until HDF5's next
flush, which commits them all: one record in the commit log, then the file, then the log is
marked empty (`benchtest.runfile.commit_log`). So a kill at any moment leaves the last
commit's file, finished by the log where the kill came after the log was written; before,
a kill in the middle of a flush could leave the root group pointing at blocks never written.

The journal and the running-tests marker are written in place at any time (`write_through`):
they are records of their own, checked by CRC, that readers take as they find them.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Any

from benchtest.runfile.commit_log import EMPTY, encode, log_path, patch, write_at

_O_BINARY: int = getattr(os, "O_BINARY", 0)
#: A version 2 or 3 superblock: its signature, version byte, and where its end-of-file
#: address is (with 8-byte offsets, which HDF5 uses unless told otherwise).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_EOA = struct.Struct("<Q")
_EOA_AT = 28


class CommittedFile(io.RawIOBase):
    """The open run file `path` for HDF5; `commit` runs at each HDF5 flush.

    `sync`: fsync the log before the file is changed and the file before the log is marked
    empty, so a power cut, not only a killed process, leaves a commit whole.
    """

    def __init__(self, path: Path, *, sync: bool = False) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | _O_BINARY)
        self.sync = sync
        self._committed_end = self._eof = os.fstat(self.fd).st_size
        self._held: dict[int, bytes] = {}  # offset -> bytes below the committed end
        self._through: list[tuple[int, int]] = []
        self._position = 0
        self._log_fd: int | None = None
        self._log_empty = True  # False from writing a record until it is in the file
        self._seq = 0
        self._discarding = False

    # -- what the writer sets -----------------------------------------------------------------

    def write_through(self, offset: int, size: int) -> None:
        """Let writes inside [offset, offset + size) reach the file at once."""
        self._through.append((offset, offset + size))

    def discard(self) -> None:
        """Take HDF5's writes from now on and drop them (a writer that failed inside HDF5
        closes the file without letting HDF5 change it)."""
        self._discarding = True
        self._held.clear()

    # -- io.RawIOBase, as h5py's driver uses it ------------------------------------------------

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:  # the end HDF5 wrote: space claimed beyond is not counted
            offset += self._eof
        elif whence == io.SEEK_CUR:
            offset += self._position
        self._position = offset
        return offset

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        got = os.preadv(self.fd, [view], start) if hasattr(os, "preadv") else self._read(view)
        view[got:] = bytes(len(view) - got)  # past the end: zeros, as HDF5 expects
        if self._held:
            patch(view, start, self._held.items())  # in the order HDF5 wrote them
        self._position += len(view)
        return len(view)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        start, size = self._position, len(view)
        self._position += size
        self._eof = max(self._eof, start + size)
        if self._discarding:
            return size
        split = min(max(self._committed_end - start, 0), size)  # bytes below the committed end
        if split and not self._passes_through(start, size):
            self._held.pop(start, None)  # a rewrite of the same block goes after the others
            self._held[start] = bytes(view[:split])
            if start == 0:
                self._note_end(view)
        else:
            split = 0
        if split < size:
            write_at(self.fd, view[split:], start + split)
        return size

    def truncate(self, size: int | None = None) -> int:
        """HDF5 cuts the file to its end of allocated space at each flush: only growth is
        done now; the space claimed beyond (`space.SpaceClaim`) is cut when the run closes."""
        size = self._position if size is None else size
        if not self._discarding and size > os.fstat(self.fd).st_size:
            os.ftruncate(self.fd, size)
        self._eof = size  # as HDF5 now counts it
        return size

    def flush(self) -> None:
        """HDF5 flushed: commit what it wrote."""
        self.commit()

    def close(self) -> None:
        """Commit what is left, remove the log once it is empty, and close the file. A log
        whose commit did not reach the file (a write that failed on the way) stays: readers
        finish the commit from it."""
        if self.closed:
            return
        try:
            self.commit()
        finally:
            if self._log_fd is not None:
                os.close(self._log_fd)
                self._log_fd = None
                if self._log_empty:
                    log_path(self.path).unlink(missing_ok=True)
            os.close(self.fd)
            super().close()

    # -- the commit ---------------------------------------------------------------------------

    def commit(self) -> None:
        """Write the held bytes to the log, then to the file, then mark the log empty."""
        if self._discarding or not self._held:
            return
        entries = list(self._held.items())
        log = self._log()
        self._log_empty = False
        write_at(log, encode(self._seq, entries), 0)
        self._seq += 1
        if self.sync:
            os.fsync(log)
        for offset, data in entries:
            write_at(self.fd, data, offset)
        if self.sync:
            os.fsync(self.fd)
        write_at(log, EMPTY, 0)
        self._log_empty = True
        self._held.clear()

    def _log(self) -> int:
        if self._log_fd is None:
            self._log_fd = os.open(
                log_path(self.path), os.O_RDWR | os.O_CREAT | os.O_TRUNC | _O_BINARY, 0o644
            )
        return self._log_fd

    def _note_end(self, superblock: memoryview) -> None:
        """A new superblock records HDF5's end of allocated space: what the next commit
        covers at least (every byte a committed block may point at)."""
        if (
            len(superblock) >= _EOA_AT + _EOA.size
            and superblock[:8] == _SIGNATURE
            and superblock[8] in (2, 3)
        ):
            (end,) = _EOA.unpack_from(superblock, _EOA_AT)
            self._committed_end = max(self._committed_end, end)

    def _passes_through(self, start: int, size: int) -> bool:
        return any(low <= start and start + size <= high for low, high in self._through)

    def _read(self, view: memoryview) -> int:  # pragma: no cover - no preadv (Windows)
        os.lseek(self.fd, self._position, os.SEEK_SET)
        return os.readv(self.fd, [view])
