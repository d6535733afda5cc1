"""`CommittedFile`: the run file as HDF5 writes it, changing committed bytes only by a commit.

HDF5 reaches the file through this object (h5py's file-object driver). A write past the end
of the last commit goes to the file as it is (small blocks one after another gathered into one
write, made before anything reads the file or a commit points at them); a write below it (HDF5
rewriting a committed object header, B-tree node, heap block or superblock) is held in memory
until HDF5's next flush, which commits them all: one record in the commit log, then the file
(`benchtest.runfile.commit_log`). So a kill at any moment leaves the last commit's file,
finished by the log where the kill came after the log was written; before, a kill in the
middle of a flush could leave the root group pointing at blocks never written.

When the held bytes reach the file, and what is fsynced, follows the writer's sync mode:

* immediate (`sync="never"`): the record, the file, then the log marked empty, no fsync.
* `sync=True` (`"always"`): the file's new blocks, then the record, are fsynced before the
  file changes, and the file before the log is marked empty: a power cut tears no commit.
* `deferred=True` (`"background"`): the commit only appends its record to the log (no fsync,
  no wait) and the file keeps its previous commit; what HDF5 reads is the file with the
  records applied. `make_durable` (the background thread) later fsyncs the file (its new
  blocks) and then the log, marks those records checked, writes them into the file, fsyncs
  it, and empties the log when nothing newer came. A record names the new blocks it points
  at (their CRC-32): one whose blocks the disk had not yet written when the power went is
  not applied, so a power cut leaves an earlier commit whole, never a torn one.

The journal and the running-tests marker are written in place at any time (`write_through`):
they are records of their own, checked by CRC, that readers take as they find them.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
import threading
from pathlib import Path
from typing import Any

from benchtest.runfile.commit_log import (
    EMPTY,
    Dependency,
    Entry,
    encode,
    encode_header,
    log_path,
    patch,
    write_at,
)
from benchtest.runfile.crc import crc32
from benchtest.runfile.seal import REGION_STEP
from benchtest.storage.durability import fsync_directory

_O_BINARY: int = getattr(os, "O_BINARY", 0)
#: A version 2 or 3 superblock: its signature, version byte, and where its end-of-file
#: address is (with 8-byte offsets, which HDF5 uses unless told otherwise).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_EOA = struct.Struct("<Q")
_EOA_AT = 28
#: A write at least this long past the committed end (a waveform's chunk) notes the CRC-32 of
#: each seal region it covers whole, so the seal need not read those bytes back.
NOTE_CRC_BYTES = 1 << 15
#: A deferred log longer than this, still holding records when the background thread has
#: written the earlier ones in, is rewritten with only those.
COMPACT_LOG_BYTES = 1 << 20
#: New bytes HDF5 writes one block after another past the committed end (the object headers
#: of the entries built at close: ~10 000 writes of ~300 bytes for 5 000 tests) are gathered
#: up to this many and written with one `pwrite`.
GATHER_BYTES = 1 << 20


class CommittedFile(io.RawIOBase):
    """The open run file `path` for HDF5; `commit` runs at each HDF5 flush.

    `sync`: each commit fsyncs the file's new blocks and its log record before the file
    changes, and the file before the log is marked empty. `deferred`: commits only append to
    the log; `make_durable` writes them into the file, power-safe (see the module docstring).
    """

    def __init__(self, path: Path, *, sync: bool = False, deferred: bool = False) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | _O_BINARY)
        self.sync = sync
        self.deferred = deferred and not sync
        self._committed_end = self._eof = os.fstat(self.fd).st_size
        self._held: dict[int, bytes] = {}  # offset -> bytes below the committed end
        self._through: list[tuple[int, int]] = []
        self._position = 0
        self._log_fd: int | None = None
        self._log_empty = True  # False from writing a record until it is in the file
        self._seq = 0
        self._discarding = False
        self._crcs: dict[int, int] = {}  # REGION_STEP region index -> CRC of its bytes
        # New bytes past the committed end, gathered (`GATHER_BYTES`), not yet written: no
        # commit points at them until `_write_gathered` has written them.
        self._gathered = bytearray()
        self._gathered_at = 0
        # Deferred commits: records in the log, not yet in the file (shared with
        # `make_durable`'s thread under `_lock`), and the new blocks written since the last
        # commit, which the next record depends on.
        self._lock = threading.Lock()
        self._pending: list[tuple[int, list[Entry], bytes]] = []  # seq, entries, record
        self._first = 0  # sequence number of the log's first record
        self._log_end = 0  # where the next record goes; 0: the log is empty
        self._log_named = False  # the log's name fsynced into its folder
        self._durable = -1  # every record up to this one is in the file, fsynced
        self._last_own = -1  # the last record of its own sent to the log
        self._dependencies: list[Dependency] = []
        self._dependencies_end = 0  # the highest byte they cover
        self._noted = -1  # where the block noted last is in them (a hint, checked when used)

    # -- what the writer sets -----------------------------------------------------------------

    def write_through(self, offset: int, size: int) -> None:
        """Let writes inside [offset, offset + size) reach the file at once."""
        self._through.append((offset, offset + size))

    def region_crcs(self) -> dict[int, int]:
        """CRC-32s of whole `REGION_STEP`-byte regions of the file as written through this
        object and not changed since (index -> CRC), for `seal.seal_file`: the regions of
        the long writes past the committed end, less those written in place
        (`write_through`)."""
        crcs = dict(self._crcs)
        for low, high in self._through:
            for k in range(low // REGION_STEP, (high - 1) // REGION_STEP + 1):
                crcs.pop(k, None)
        return crcs

    def write_record(self, offset: int, data: bytes, after: int | None = None) -> None:
        """Write `data` at `offset`, in a `write_through` region (a journal record, the
        running-tests marker): in place at once; deferred, while commits are in the log and
        not yet durable in the file, as a log record of its own after them, so that the disk
        never holds a record whose commit it does not (a test's rows before its entry).
        `after`: the only commit (sequence number, -1 for none) the record needs on the disk
        before it; in place once that commit is durable, unless records of their own wait in
        the log (they are written into the file later, and must not land on a newer one).
        None: every commit made so far."""
        if self.deferred and self._pending:  # only this thread adds to it: no lock needed
            durable = self._durable
            if after is None or after > durable or self._last_own > durable:
                seq = self._seq
                self._seq += 1
                self._last_own = seq
                self._append_record(seq, [(offset, bytes(data))])
                return
        write_at(self.fd, data, offset)

    @property
    def last_commit(self) -> int:
        """The sequence number of the last commit or log record made (-1 before any)."""
        return self._seq - 1

    def discard(self) -> None:
        """Take HDF5's writes from now on and drop them (a writer that failed inside HDF5
        closes the file without letting HDF5 change it)."""
        self._discarding = True
        self._held.clear()
        self._gathered.clear()  # no commit points at them

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
        self._write_gathered()
        view = memoryview(buffer).cast("B")
        start = self._position
        with self._lock:  # not while `make_durable` marks records as in the file
            got = os.preadv(self.fd, [view], start) if hasattr(os, "preadv") else self._read(view)
            view[got:] = bytes(len(view) - got)  # past the end: zeros, as HDF5 expects
            for _seq, entries, _record in self._pending:
                patch(view, start, entries)
        if self._held:
            patch(view, start, self._held.items())  # in the order HDF5 wrote them
        self._position += len(view)
        return len(view)

    def write(self, data: Any) -> int:
        view = memoryview(data)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        start = self._position
        size = len(view)
        self._position = stop = start + size
        if stop > self._eof:
            self._eof = stop
        if self._discarding:
            return size
        crcs = self._crcs  # noted regions this block changes (most touch none: looked up)
        last = (stop - 1) // REGION_STEP
        if crcs and (start // REGION_STEP in crcs or last in crcs or size > REGION_STEP):
            self._forget(start, size)
        if start >= self._committed_end:  # new bytes only: most writes (the file grows)
            self._write_new(view, start)
            if self.deferred:
                self._depend(view, start)
            return size
        split = min(self._committed_end - start, size)  # bytes below the committed end
        if split and not self._passes_through(start, size):
            self._held.pop(start, None)  # a rewrite of the same block goes after the others
            self._held[start] = bytes(view[:split])
            if start == 0:
                self._note_end(view)
        else:
            split = 0
        if split < size:
            self._write_new(view[split:], start + split)
            if self.deferred:
                self._depend(view[split:], start + split)
        return size

    def _write_new(self, data: memoryview, start: int) -> None:
        """Write the new bytes `data` (past the committed end) at `start`: gathered with the
        ones before when they follow them and are small, else at once."""
        gathered = self._gathered
        if len(data) < NOTE_CRC_BYTES:
            if gathered and start == self._gathered_at + len(gathered):
                gathered += data
                if len(gathered) >= GATHER_BYTES:
                    self._write_gathered()
                return
            self._write_gathered()
            self._gathered_at = start
            gathered += data
            return
        self._write_gathered()
        write_at(self.fd, data, start)
        self._note_crcs(data, start)

    def _write_gathered(self) -> None:
        """Write the gathered new bytes: before anything reads the file, changes its size,
        or commits a record that may point at them."""
        if self._gathered:
            with memoryview(self._gathered) as view:  # released before the buffer is cleared
                write_at(self.fd, view, self._gathered_at)
            self._gathered.clear()

    def truncate(self, size: int | None = None) -> int:
        """HDF5 cuts the file to its end of allocated space at each flush: only growth is
        done now; the space claimed beyond (`space.SpaceClaim`) is cut when the run closes."""
        size = self._position if size is None else size
        self._write_gathered()
        if not self._discarding and size > os.fstat(self.fd).st_size:
            os.ftruncate(self.fd, size)
        self._eof = size  # as HDF5 now counts it
        return size

    def flush(self) -> None:
        """HDF5 flushed: commit what it wrote."""
        self.commit()

    def close(self) -> None:
        """Commit what is left (deferred: write it into the file, durable), remove the log
        once it is empty, and close the file. A log whose commits did not reach the file (a
        write that failed on the way, a writer that stopped) stays: readers finish the
        commits from it."""
        if self.closed:
            return
        try:
            self.commit()
            if self.deferred and not self._discarding:
                self.make_durable()
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
        """Commit the held bytes: a log record, then (unless deferred) the file, then the log
        is marked empty."""
        self._write_gathered()  # the new blocks, in the file before a record points at them
        if self._discarding or not self._held:
            return
        entries = list(self._held.items())
        self._held.clear()
        seq = self._seq
        self._seq += 1
        if self.deferred:
            self._append_record(seq, entries)
            return
        log = self._log()
        if self.sync:
            os.fsync(self.fd)  # the new blocks the record points at, on the disk before it
        self._log_empty = False
        write_at(log, encode_header(seq, seq + 1) + encode(seq, entries), 0)
        if self.sync:
            os.fsync(log)
        for offset, data in entries:
            write_at(self.fd, data, offset)
        if self.sync:
            os.fsync(self.fd)
        write_at(log, EMPTY, 0)
        self._log_empty = True

    def _append_record(self, seq: int, entries: list[Entry]) -> None:
        """Deferred: the record goes to the end of the log, naming the new blocks it points
        at (those below the committed end; the others wait for a later record)."""
        self._write_gathered()  # the new blocks, in the file before a record points at them
        needed: list[Dependency] = []
        if self._dependencies:
            end = self._committed_end
            needed = [d for d in self._dependencies if d[0] + d[1] <= end]
            self._dependencies = [d for d in self._dependencies if d[0] + d[1] > end]
        record = encode(seq, entries, needed)
        with self._lock:  # `make_durable` may empty the log or replace it meanwhile
            log = self._log()
            data = record
            if self._log_end == 0:  # an empty log starts with its header
                self._first = seq
                data = encode_header(seq, seq) + record
            write_at(log, data, self._log_end)
            self._log_end += len(data)
            self._pending.append((seq, entries, record))
            self._log_empty = False

    def make_durable(self) -> None:
        """Make every commit so far reach the disk (the background thread's fsync). Deferred:
        the file's new blocks and the log are fsynced, the log's header marks its records
        as checked, the records are written into the file, which is fsynced, and the log is
        emptied unless newer records came meanwhile. A kill or power cut at any step leaves
        the file and a log that together hold the last durable commit or a later one."""
        if not self.deferred:
            os.fsync(self.fd)
            return
        with self._lock:
            batch = list(self._pending)
            log, first = self._log_fd, self._first
        os.fsync(self.fd)  # journal, marker, and the new blocks the records point at
        if not batch or log is None:
            return
        if not self._log_named:  # the log must survive with its name while the file changes
            fsync_directory(self.path.parent)
            self._log_named = True
        write_at(log, encode_header(first, batch[-1][0] + 1), 0)
        os.fsync(log)
        written = coalesced([entry for _seq, entries, _record in batch for entry in entries])
        for offset, data in written:
            write_at(self.fd, data, offset)
        os.fsync(self.fd)
        with self._lock:
            self._durable = batch[-1][0]
            del self._pending[: len(batch)]
            if not self._pending:
                write_at(log, EMPTY, 0)
                self._log_end = 0
                self._log_empty = True
            elif self._log_end > COMPACT_LOG_BYTES:
                self._compact_log()

    def _compact_log(self) -> None:
        """Replace the log by one holding only the records not yet in the file (commits kept
        coming while the last ones were written in). Written under another name and renamed
        over the log: a kill leaves the old log or the new one, both complete."""
        first = self._pending[0][0]
        data = encode_header(first, first) + b"".join(r for _s, _e, r in self._pending)
        path = log_path(self.path)
        fresh = path.with_name(path.name + ".new")
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_TRUNC | _O_BINARY, 0o644)
        try:
            write_at(fd, data, 0)
            os.replace(fresh, path)
        except BaseException:
            os.close(fd)
            raise
        if self._log_fd is not None:
            os.close(self._log_fd)
        self._log_fd, self._first, self._log_end = fd, first, len(data)
        self._log_named = False  # its new name, too, is fsynced before the file changes

    def _depend(self, data: memoryview, start: int) -> None:
        """Deferred: note the new block `data` written at `start` for the next record. A
        block written over an earlier one of the same commit replaces what it overlaps."""
        size = len(data)
        stop = start + size
        dependency = (start, size, crc32(data))
        dependencies = self._dependencies  # sorted by offset, none overlapping another
        if start >= self._dependencies_end:
            dependencies.append(dependency)
            self._dependencies_end = stop
            self._noted = len(dependencies) - 1
            return
        # Below the last one: a new block in free space (the entries built at close fill the
        # space below the tables' last chunks), or a rewrite (HDF5 changes the object headers
        # it just wrote while it flushes). Placed right after the block noted before when it
        # follows it (HDF5 writes thousands one after another), else found by bisection:
        # never by a pass over all.
        first = self._noted + 1
        if not (0 < first <= len(dependencies) and sum(dependencies[first - 1][:2]) == start):
            first = bisect.bisect_left(dependencies, (start,))
            if first and sum(dependencies[first - 1][:2]) > start:
                first -= 1
        last = first
        while last < len(dependencies) and dependencies[last][0] < stop:
            last += 1
        dependencies[first:last] = [dependency]
        self._dependencies_end = max(self._dependencies_end, stop)
        self._noted = first

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

    def _forget(self, start: int, size: int) -> None:
        """The regions that bytes [start, start + size) touch are no longer as noted."""
        for k in range(start // REGION_STEP, (start + size - 1) // REGION_STEP + 1):
            self._crcs.pop(k, None)

    def _note_crcs(self, view: memoryview, start: int) -> None:
        """Note the CRC-32 of each region that `view`, written at `start`, covers whole."""
        first = -(-start // REGION_STEP)
        stop = (start + len(view)) // REGION_STEP
        at = first * REGION_STEP - start
        crcs = self._crcs
        for k in range(first, stop):
            crcs[k] = crc32(view[at : at + REGION_STEP])
            at += REGION_STEP

    def _passes_through(self, start: int, size: int) -> bool:
        return any(low <= start and start + size <= high for low, high in self._through)

    def _read(self, view: memoryview) -> int:  # pragma: no cover - no preadv (Windows)
        os.lseek(self.fd, self._position, os.SEEK_SET)
        return os.readv(self.fd, [view])


def coalesced(entries: list[Entry]) -> list[Entry]:
    """`entries` (offset, bytes), to be written in order, as fewer writes with the same
    result: each run of entries whose bytes touch or overlap becomes one write of the run's
    bytes as the entries leave them. Between two fsyncs the records' order on the way to the
    disk does not matter (the log holds them all until the file does), and a thousand journal
    records one after another are one `pwrite` instead of a thousand."""
    if len(entries) < 2:
        return entries
    runs: list[list[Any]] = []  # [start, end, positions in `entries`]
    for k in sorted(range(len(entries)), key=lambda k: entries[k][0]):
        offset, data = entries[k]
        end = offset + len(data)
        if runs and offset <= runs[-1][1]:
            run = runs[-1]
            run[1] = max(run[1], end)
            run[2].append(k)
        else:
            runs.append([offset, end, [k]])
    written: list[Entry] = []
    for start, end, members in runs:
        if len(members) == 1:
            written.append(entries[members[0]])
            continue
        image = bytearray(end - start)  # every byte of it written by one of the entries
        patch(memoryview(image), start, (entries[k] for k in sorted(members)))
        written.append((start, bytes(image)))
    return written


class DirectFile:
    """The run file written by HDF5's own POSIX driver (sec2), without the commit layer: for
    a writer that needs no crash safety while it writes (`Hdf5RunWriter(..., bulk=True)`,
    whose file is dropped when a write fails and made durable once it is complete). It
    offers what the writer uses of a `CommittedFile`: a descriptor of its own for the
    records written in place (HDF5 keeps no sieve buffer, so these reach the file as they
    are), and a close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | _O_BINARY)
        self.closed = False

    def write_through(self, offset: int, size: int) -> None:
        """Nothing is held back: every write reaches the file at once."""

    def write_record(self, offset: int, data: bytes, after: int | None = None) -> None:
        """Write `data` in place at `offset` (nothing is held back: `after` is met)."""
        write_at(self.fd, data, offset)

    @property
    def last_commit(self) -> int:
        """No commits are counted: HDF5 writes the file itself."""
        return -1

    def discard(self) -> None:
        """Nothing is held back to drop (`failure.abandon` keeps HDF5's last writes out)."""

    def region_crcs(self) -> dict[int, int]:
        """No CRCs are noted: the seal reads the whole file."""
        return {}

    def make_durable(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)
