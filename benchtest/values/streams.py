"""Events of a current profile stored while it streams: started, one per chunk, finished.

A long capture (60 s at 1 MS/s) never exists whole in memory: the runner emits its chunks as
they come, and the run file appends each one, so a capture that breaks off keeps every chunk
before the break. The finished event says whether the capture completed and may carry tables
of what was measured on it (its state segments, its events), stored beside the samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.values.profile import ProfileChunk


@dataclass(frozen=True)
class ProfileStreamStarted:
    """A capture `name` of test `test_id` begins: samples at `sample_rate` S/s, current in A
    and, with `voltage`, voltage in V."""

    test_id: str
    name: str
    sample_rate: float
    voltage: bool
    channel: str = ""
    description: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileChunkRecorded:
    """The next samples of capture `name` (they start where the ones before ended)."""

    test_id: str
    name: str
    chunk: ProfileChunk


@dataclass(frozen=True)
class ProfileStreamFinished:
    """Capture `name` ended: `complete`, or broken off with `message` saying why. `tables`
    are structured arrays measured on it (segments, events), stored beside its samples."""

    test_id: str
    name: str
    complete: bool = True
    message: str = ""
    tables: Mapping[str, npt.NDArray[np.void]] = field(default_factory=dict)
