"""`TestRecord`: one test of a run as stored, with its measurements, waveforms and curves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchtest.results.records import StoredWaveform, Table
from benchtest.results.stored_curves import StoredFamily, StoredSweep


@dataclass(frozen=True)
class TestRecord:
    """One test of the run as stored: outcome, times, conditions, measurements, waveforms."""

    __test__ = False  # not a pytest test class

    id: str
    entry: str
    outcome: str
    message: str
    start: str
    end: str
    duration: float
    conditions: dict[str, Any]
    measurements: Table
    waveforms: Mapping[str, StoredWaveform] = field(default_factory=dict)
    index: int = 0  # the test's number in start order (1 = first), as in its entry's name
    attempt: int = 1  # 2, 3, ... for the retries of a test marked retry(n)
    sweeps: Mapping[str, StoredSweep] = field(default_factory=dict)
    families: Mapping[str, StoredFamily] = field(default_factory=dict)  # of waveforms

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"
