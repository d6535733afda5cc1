"""A current profile: continuous current (and voltage) samples with the ranges they were taken in.

A profiler delivers its samples in chunks (`ProfileChunk`), each knowing where it starts in the
capture; `CurrentProfile` is a whole capture as `Waveform`s in A and V. A range change is the
sample index from which a current range (its full scale, A) was in effect: an autoranging
profiler switches range within a wake-up, and the samples next to a switch are the suspect ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.values.errors import InstrumentError
from benchtest.values.waveform import Waveform

#: One range change: from sample `index` on, the current range was `range` A full scale.
RANGE_DTYPE = np.dtype([("index", np.int64), ("range", np.float64)])


def range_changes(rows: Sequence[tuple[int, float]] = ()) -> npt.NDArray[Any]:
    """A `RANGE_DTYPE` array from (index, range) pairs (numpy scalars accepted)."""
    return np.array([(int(i), float(r)) for i, r in rows], dtype=RANGE_DTYPE)


@dataclass(frozen=True)
class ProfileChunk:
    """Samples `start .. start + len(current) - 1` of a capture: current in A, voltage in V
    (None when the profiler does not measure it) and the range changes within the chunk
    (absolute sample indices)."""

    start: int
    current: npt.NDArray[np.floating[Any]]
    voltage: npt.NDArray[np.floating[Any]] | None = None
    ranges: npt.NDArray[Any] = field(default_factory=range_changes)

    def __post_init__(self) -> None:
        if self.current.ndim != 1:
            raise ValueError(f"chunk current must be 1-D, got shape {self.current.shape}")
        if self.voltage is not None and self.voltage.shape != self.current.shape:
            raise ValueError(
                f"chunk voltage {self.voltage.shape} and current {self.current.shape} differ"
            )

    def __len__(self) -> int:
        return int(self.current.shape[0])


@dataclass(frozen=True)
class CurrentProfile:
    """A whole capture: `current` (A) and `voltage` (V, or None) share dt and t0; `ranges`
    are its range changes; `settings` what the profiler was set to (rate, ranges, device)."""

    current: Waveform
    voltage: Waveform | None
    ranges: npt.NDArray[Any]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_rate(self) -> float:
        return 1.0 / self.current.dt

    def __len__(self) -> int:
        return len(self.current)

    @classmethod
    def from_chunks(
        cls,
        chunks: Sequence[ProfileChunk],
        *,
        sample_rate: float,
        channel: str = "",
        settings: dict[str, Any] | None = None,
    ) -> CurrentProfile:
        """Join consecutive chunks (each must start where the one before ended)."""
        expected = chunks[0].start if chunks else 0
        for chunk in chunks:
            if chunk.start != expected:
                raise ValueError(f"chunk starts at sample {chunk.start}, expected {expected}")
            expected += len(chunk)
        dt = 1.0 / float(sample_rate)
        current = np.concatenate([c.current for c in chunks]) if chunks else np.empty(0)
        voltages = [c.voltage for c in chunks]
        voltage = None
        if chunks and all(v is not None for v in voltages):
            voltage = Waveform(
                np.concatenate(voltages),  # type: ignore[arg-type]
                dt,
                unit="V",
                channel=channel,
                settings=dict(settings or {}),
            )
        ranges = np.concatenate([c.ranges for c in chunks]) if chunks else range_changes()
        return cls(
            Waveform(
                current.astype(np.float64, copy=False),
                dt,
                unit="A",
                channel=channel,
                settings=dict(settings or {}),
            ),
            voltage,
            ranges.astype(RANGE_DTYPE, copy=False),
            dict(settings or {}),
        )


class CaptureError(InstrumentError):
    """A capture stopped before its end: the profiler stopped streaming, was unplugged, or
    refused the request. `partial` holds the samples captured until then (None: none)."""

    def __init__(self, message: str, *, partial: CurrentProfile | None = None, **kwargs: Any):
        self.partial = partial
        super().__init__(message, **kwargs)
