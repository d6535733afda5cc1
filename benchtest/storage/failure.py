"""When the run file cannot be written (a full disk, a file-size limit, a lost share).

The writer stops at the first failed write: the error says which file, why (in words, from
the operating system's error number when there is one), during what, and how many finished
tests the file keeps. After that the writer writes nothing through HDF5, whose state in the
file is no longer known, and the run is meant to stop.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

import h5py

from benchtest.values.errors import ResultFileError

_ERRNO = re.compile(r"errno = (\d+)")
_CAUSES = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "the file is larger than the file system or the process's file-size limit allows",
    errno.EIO: "the storage reported an input/output error",
    errno.EROFS: "the file system is read-only",
}


class RunFileWriteError(ResultFileError):
    """The run file could not be written and its writer stopped; `errno` is the operating
    system's error number when there was one."""

    def __init__(self, message: str, errno_: int | None) -> None:
        super().__init__(message)
        self.errno = errno_


def error_number(exc: BaseException) -> int | None:
    """The OS error number behind `exc` (h5py names it in the text of its errors)."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int):
        return number
    match = _ERRNO.search(str(exc))
    return int(match.group(1)) if match else None


def cause(exc: BaseException) -> str:
    """Why a write failed, in words."""
    number = error_number(exc)
    if number in _CAUSES:
        return _CAUSES[number]
    if number is not None:
        return f"{os.strerror(number)} (errno {number})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def write_error(path: Path, exc: BaseException, doing: str, kept: int) -> RunFileWriteError:
    """The error of a writer that stopped while `doing` something, keeping `kept` tests."""
    kept_tests = {0: "no test had finished before", 1: "the test finished before is kept"}
    return RunFileWriteError(
        f"{path}: cannot write the run file: {cause(exc)}, while {doing}. The run file "
        f"stopped there; {kept_tests.get(kept, f'the {kept} tests finished before are kept')}",
        error_number(exc),
    )


def abandon(file: h5py.File) -> None:
    """Close `file` after a failed write without letting HDF5 write to it again.

    HDF5 flushes what it still holds when a file closes, and would retry the writes that just
    failed, half-way, on a disk that may have room again. So its descriptor is first pointed
    at a scratch file (in memory where the OS allows), which takes those last writes: the run
    file keeps what it held when the write failed, and the close succeeds.
    """
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # else close it as it is
        fd = file.id.get_vfd_handle()
        with _scratch() as scratch:
            os.dup2(scratch.fileno(), fd)
    with contextlib.suppress(OSError, RuntimeError):  # reported when the write failed
        file.close()


def _scratch() -> BinaryIO:
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("benchtest-abandoned"), "w+b")
    return tempfile.TemporaryFile()
