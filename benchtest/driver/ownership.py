"""One process owns an instrument at a time: an exclusive lock per resource, naming its holder.

The lock is an OS file lock (`flock` on POSIX, `msvcrt.locking` on Windows) on a file named
after the resource in a lock folder (BENCHTEST_LOCK_DIR, else the temp folder), so it is
released by the OS when the holder exits, even after kill -9. The holder writes who it is
beside the lock; a second process gets an `InstrumentBusyError` naming that holder instead of
interleaving its commands with the owner's.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from benchtest.values.errors import InstrumentError

LOCK_DIR_ENV = "BENCHTEST_LOCK_DIR"


class InstrumentBusyError(InstrumentError):
    """Another process holds the instrument."""


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "benchtest-locks")


def _lock_file(file: IO[bytes]) -> bool:
    """Try to take the OS lock on `file` without waiting; True when taken."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class ResourceLock:
    """The exclusive claim of this process on one instrument resource."""

    def __init__(self, resource: str, *, role: str = "") -> None:
        self.resource = resource
        self.role = role
        digest = hashlib.sha256(resource.encode("utf-8")).hexdigest()[:20]
        self.path = lock_dir() / f"{digest}.lock"
        self.holder_path = self.path.with_suffix(".holder.json")
        self._file: IO[bytes] | None = None

    def acquire(self, wait: float = 0.0) -> ResourceLock:
        """Take the lock, waiting up to `wait` seconds for its holder to let go.

        Raises InstrumentBusyError naming the process that holds it when it stays taken.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+b")  # noqa: SIM115 - held open for as long as the lock is
        deadline = time.monotonic() + wait
        while not _lock_file(file):
            if time.monotonic() >= deadline:
                file.close()
                waited = f" after waiting {wait:g} s" if wait else ""
                raise InstrumentBusyError(
                    f"{self.resource} is in use by {self._describe_holder()}{waited}; "
                    "one process owns an instrument at a time",
                    role=self.role,
                )
            time.sleep(0.01)
        self._file = file
        holder = {
            "pid": os.getpid(),
            "host": platform.node(),
            "user": _user(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv)[:300],
            "resource": self.resource,
            "role": self.role,
        }
        self.holder_path.write_text(json.dumps(holder), encoding="utf-8")
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the OS lock
            self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def _describe_holder(self) -> str:
        try:
            holder: dict[str, Any] = json.loads(self.holder_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "another process"
        role = f" as role {holder['role']!r}" if holder.get("role") else ""
        return (
            f"process {holder.get('pid')} of {holder.get('user')}@{holder.get('host')}{role} "
            f"since {holder.get('since')} ({holder.get('command')})"
        )

    def __enter__(self) -> ResourceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "?"
