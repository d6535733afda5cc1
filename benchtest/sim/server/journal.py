"""A journal of simulated-instrument state changes, one JSON object per line.

Simulators record what was done to them (SMU output on/off, source levels, DUT mode changes) so a
test can prove afterwards, from another process if need be, that the bench ended in a safe state.
Each line is flushed as it is written; a journal without a path keeps its entries in memory only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

MAX_ENTRIES_IN_MEMORY = 10_000


class Journal:
    """Thread-safe recorder of `{"t", "role", "event", "value"}` entries."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES_IN_MEMORY)
        self._file: TextIO | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def record(self, role: str, event: str, value: object) -> None:
        """Append one entry (`t` is wall-clock time, s since the epoch)."""
        entry = {"t": time.time(), "role": role, "event": event, "value": value}
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry) + "\n")
                self._file.flush()

    @property
    def entries(self) -> list[dict[str, Any]]:
        """A copy of the entries recorded so far (the most recent ones if there were many)."""
        with self._lock:
            return list(self._entries)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_values(path: str | os.PathLike[str], role: str, event: str) -> list[Any]:
    """The values of `role`'s `event` entries in a journal file, in order ([] if none yet)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = (json.loads(line) for line in text.splitlines() if line.strip())
    return [e["value"] for e in entries if e.get("role") == role and e.get("event") == event]
