"""Writing an export file whole or not at all: under a temporary name beside the target,
synced, then renamed over it. A failure (a full disk, an error, Ctrl-C) leaves the target as
it was and no temporary file behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchtest.export.parts import ExportError
from benchtest.values import atomic


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path (not yet created, so the file gets the usual permissions) to write
    the export to; it becomes `target`, synced, when the block ends without an exception, and
    is removed when it does not."""
    try:
        with atomic.replacing(target, sync=True) as temporary:
            yield temporary
    except OSError as exc:
        raise ExportError(f"{target}: cannot write the export: {exc}") from exc


__all__ = ["replacing"]
