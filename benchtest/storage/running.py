"""The writer's state of a test between its start and its commit, and the rows it becomes.

Measurements are kept in memory until the test finishes and then become rows of
/summary/measurements in one append; a measurement's conditions are stored only where they
differ from the test's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quoted  # a str as JSON text
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile import schema
from benchtest.values.events import TestStarted
from benchtest.values.measurement import Measurement

#: `json.dumps(value, default=str)`, with the encoder made once (not per test)...
_ENCODE = json.JSONEncoder(default=str).encode
#: ...and with `separators=(",", ":")`, as the journal writes JSON.
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str).encode


@dataclass
class RunningTest:
    """A test that has started and not finished: what it recorded so far."""

    index: int
    test_id: str
    attempt: int
    entry: str
    started: str
    conditions: dict[str, Any]
    conditions_json: str
    measurements: list[Measurement] = field(default_factory=list)
    waveforms: list[tuple[str, str, int]] = field(default_factory=list)  # name, path, points
    group: h5py.Group | None = None

    @classmethod
    def start(cls, event: TestStarted, index: int) -> RunningTest:
        conditions = dict(event.conditions)
        return cls(
            index=index,
            test_id=event.test_id,
            attempt=event.attempt,
            entry=schema.entry_name(index, event.test_id),
            started=event.started,
            conditions=conditions,
            conditions_json=_ENCODE(conditions) if conditions else "",
        )

    def marker(self) -> dict[str, Any]:
        """The test as listed in /summary/running."""
        return {
            "index": self.index,
            "test_id": self.test_id,
            "attempt": self.attempt,
            "entry": self.entry,
            "started": self.started,
            schema.CONDITIONS: self.conditions,
        }

    def start_record(self) -> str:
        """The journal record of the test's start, `{"start": marker()}`, as the journal
        encodes it, made without the dict (condition values JSON does not take as `str`)."""
        return (
            f'{{"start":{{"index":{self.index:d},"test_id":{_quoted(self.test_id)},'
            f'"attempt":{self.attempt:d},"entry":{_quoted(self.entry)},'
            f'"started":{_quoted(self.started)},"conditions":{_COMPACT(self.conditions)}}}}}'
        )

    def _own_conditions(self, m: Measurement) -> str:
        """A measurement's conditions as JSON, or "" when they are the test's (the usual case)."""
        if not m.conditions or m.conditions == self.conditions:
            return ""
        return _ENCODE(m.conditions)

    def measurement_rows(self, position: int, start: int) -> list[tuple[Any, ...]]:
        """The rows of /summary/measurements: the test's row is at `position`, these at `start`."""
        own = self._own_conditions
        return [
            (position, m.name, m.value, m.unit, _limit(limits.low), _limit(limits.high),
             str(m.outcome), m.timestamp, own(m) if m.conditions else "", k)
            for k, m in enumerate(self.measurements, start + 1)
            for limits in (m.limits,)
        ]  # fmt: skip

    def measurement_table(
        self, position: int, start: int, dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        """`measurement_rows` as a structured array of `dtype` (the table's row type), built
        column by column: for a test of many measurements, several times cheaper than
        converting the rows. The caller has checked that names and units fit their columns
        (`Hdf5RunWriter._check_texts`): a fixed-length column would cut them."""
        measurements = self.measurements
        count = len(measurements)
        # Zeros: a structured array with an object column is filled with None one element
        # at a time by np.empty (~0.3 us a row); zeros (NULL, read as None) costs nothing.
        table = np.zeros(count, dtype=dtype)
        table["test"] = position
        for name in ("name", "unit"):
            _set_text(table, name, [getattr(m, name) for m in measurements])
        table["value"] = [m.value for m in measurements]
        limits = [m.limits for m in measurements]
        table["low"] = [lim.low for lim in limits]  # numpy stores None (an open side) as NaN
        table["high"] = [lim.high for lim in limits]
        table["outcome"] = [str(m.outcome) for m in measurements]
        table["timestamp"] = [m.timestamp for m in measurements]
        own = self._own_conditions
        table[schema.CONDITIONS] = [own(m) if m.conditions else "" for m in measurements]
        table[schema.COMMIT] = np.arange(start + 1, start + count + 1)
        return table

    def waveform_rows(self, position: int, start: int) -> list[tuple[Any, ...]]:
        """The rows of /summary/waveforms, to be appended at `start`."""
        return [
            (position, name, path, points, start + k + 1)
            for k, (name, path, points) in enumerate(self.waveforms)
        ]

    def test_row(
        self, outcome: str, message: str, finished: str, duration: float, rows: tuple[int, ...]
    ) -> tuple[Any, ...]:
        """The row of /summary/tests; `rows`: measurement start and count, waveform start and
        count, and the commit mark."""
        return (self.index, self.test_id, self.attempt, self.entry, outcome, message,
                self.started, finished, duration, self.conditions_json, *rows)  # fmt: skip


def _limit(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _set_text(table: npt.NDArray[Any], column: str, values: list[str]) -> None:
    """Set the fixed-length text `column` of `table` to `values`, as UTF-8."""
    try:
        table[column] = values  # numpy encodes str as ASCII...
    except UnicodeEncodeError:  # ...so other text is encoded first
        table[column] = [value.encode() for value in values]
