"""Writing a file whole or not at all: under a temporary name beside it, then renamed over it.

A reader sees the old file or the whole new one, never a part; a failure (a full disk, an
error, Ctrl-C) leaves the target as it was and no temporary file behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(target: Path, *, sync: bool = False, make_folder: bool = True) -> Iterator[Path]:
    """A temporary path beside `target` to write to. It is not created yet, so the file gets
    the usual permissions. It becomes `target` when the block ends without an exception
    (fsynced first with `sync`), and is removed when it raises. OSError propagates, for the
    caller to name what it was writing; `make_folder` creates the target's folder first."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        if make_folder:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        if sync:
            with temporary.open("rb+") as written:
                os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


__all__ = ["replacing"]
