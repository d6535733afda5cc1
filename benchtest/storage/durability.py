"""When a committed run file reaches the disk: the fsync policy of the writer.

A commit always flushes HDF5's caches to the operating system, which is what survives a killed
process. Reaching the disk (surviving a power cut) takes an fsync, about 0.3-0.8 ms here; by
default a background thread does it, at most every `BACKGROUND_INTERVAL` seconds, so no test
waits for it and a run of many short tests does not spend a core on back-to-back fsyncs (which
also stall the next commit's writes). `"always"` fsyncs inside every commit; `"never"` leaves
it to the OS (bulk generation): no fsync of the file, of its seal, nor of the folder that
holds its new name (`fsync_directory`), none of which a killed process needs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal, Protocol

Sync = Literal["background", "always", "never"]
SYNC_MODES: tuple[Sync, ...] = ("background", "always", "never")
#: Least time in s between two background fsyncs: a power cut loses at most this much work.
BACKGROUND_INTERVAL = 0.1


class Durable(Protocol):
    """An open run file that can be made durable (`CommittedFile`, `DirectFile`)."""

    def make_durable(self) -> None:
        """fsync what was committed (a deferred commit layer also writes it into the file)."""


class Syncer:
    """Makes the commits of `target` durable after they are made, following `mode`."""

    def __init__(self, target: Durable, mode: Sync = "background") -> None:
        self.target = target
        self.mode = mode
        self._wanted = threading.Event()
        self._stopping = False
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """A commit just flushed: make it durable according to the mode."""
        if self.mode == "always":
            self.target.make_durable()
        elif self.mode == "background":
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="benchtest-fsync", daemon=True
                )
                self._thread.start()
            if not self._wanted.is_set():  # already asked for: setting it again costs a lock
                self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                self.target.make_durable()
            except OSError:  # the file is being closed; close() syncs for the last time
                return
            # Commits made meanwhile are synced together by the next fsync; stop() cuts it short.
            self._stop_requested.wait(BACKGROUND_INTERVAL)

    def stop(self, final_sync: bool = True) -> None:
        """Stop the background thread; with `final_sync`, fsync now (before the file closes)."""
        self._stopping = True
        self._stop_requested.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if final_sync and self.mode != "never":
            self.target.make_durable()


def fsync_directory(directory: Path) -> None:
    """Make a new file's name in `directory` durable (where the OS allows opening directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories; the file itself is synced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
