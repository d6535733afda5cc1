"""Writing an export file whole or not at all: under a temporary name beside the target,
synced, then renamed over it. A failure (a full disk, an error, Ctrl-C) leaves the target as
it was and no temporary file behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchtest.export.parts import ExportError


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path (not yet created, so the file gets the usual permissions) to write
    the export to; it becomes `target` when the block ends without an exception, and is
    removed when it does not."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ExportError(f"{target}: cannot write the export: {exc}") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


__all__ = ["replacing"]
