"""Where a waveform's first edge is, for the report to mark on the trace: its rise (or fall)
time between the 10 % and 90 % instants, its overshoot and its settling (IEEE Std 181-2011,
computed with `benchtest.analysis` and its defaults).

The run file keeps a waveform's samples and, separately, the test's measurements; it does not
say which measurement came from which waveform. So the marks are computed again here from the
stored samples, and a measurement of the same test whose value agrees with a mark is named
beside it, with its limits drawn where they fall on the trace. A record longer than
`ANALYSED_POINTS` is analysed as the means of blocks of consecutive samples (the caption says
so, with the time step that gives): far finer than a pixel column, and bounded in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.analysis import AnalysisError, overshoot, settling_time, undershoot
from benchtest.analysis.trace import as_trace
from benchtest.analysis.transitions import DEFAULT_REFERENCE, Edges
from benchtest.results import StoredWaveform

#: The longest record analysed sample by sample; longer ones are block means of this many points.
ANALYSED_POINTS = 1 << 13
#: Samples read from the file per step while a long record is reduced to block means.
READ_POINTS = 1 << 20
#: Percent of the amplitude around the final level within which the waveform counts as settled.
SETTLING_BAND = 2.0
#: How close (relative) a recorded measurement must be to a mark to be named beside it.
AGREEMENT = 0.02


@dataclass(frozen=True)
class Recorded:
    """A measurement of the test as the report matches it against the marks (SI values)."""

    name: str
    value: float
    unit: str
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Aberration:
    """An overshoot (after a rising edge) or undershoot (after a falling one)."""

    percent: float
    level: float  # the peak's level, in the waveform's unit
    recorded: Recorded | None = None


@dataclass(frozen=True)
class EdgeMarks:
    """The first edge of a waveform and what follows it, in seconds and the waveform's unit."""

    rising: bool
    start: float  # the lower (rising) or upper (falling) reference instant, 10 % or 90 %
    middle: float  # the 50 % instant
    end: float
    low: float  # the state levels
    high: float
    aberration: Aberration | None
    settled: float | None  # instant from which the waveform stays within the band
    step: float  # time step of the analysed samples (dt, or dt times the block length)
    block: int  # samples per analysed point (1: sample by sample)
    duration_recorded: Recorded | None = None
    settling_recorded: Recorded | None = None

    @property
    def duration(self) -> float:
        """The rise or fall time, s."""
        return self.end - self.start

    @property
    def final(self) -> float:
        """The level the edge goes to."""
        return self.high if self.rising else self.low

    @property
    def band(self) -> float:
        """Half width of the settling band, in the waveform's unit."""
        return SETTLING_BAND / 100 * (self.high - self.low)


def block_means(values: npt.NDArray[np.float64], block: int) -> npt.NDArray[np.float64]:
    """Means of consecutive blocks of `block` samples (a last, shorter block is dropped)."""
    if block == 1:
        return values
    usable = len(values) // block * block
    means: npt.NDArray[np.float64] = values[:usable].reshape(-1, block).mean(axis=1)
    return means


def _analysed(
    wf: StoredWaveform, codes: npt.NDArray[Any] | None
) -> tuple[npt.NDArray[np.float64], float, int]:
    """The values to analyse, their time step and how many samples each stands for. A long
    record not yet read is read piece by piece, so memory stays bounded whatever its length."""
    n = len(wf)
    block = max(1, math.ceil(n / ANALYSED_POINTS))
    source = wf.codes if codes is None else codes
    piece = n if block == 1 else block * max(1, READ_POINTS // block)
    means = [
        block_means(source[start : start + piece].astype(np.float64), block)
        for start in range(0, n // block * block, piece)
    ]
    return np.concatenate(means) * wf.scale + wf.offset, wf.dt * block, block


def _matching(value: float, unit: str, recorded: list[Recorded]) -> Recorded | None:
    """The recorded measurement in `unit` closest to `value`, when it agrees within AGREEMENT."""
    close = [
        r
        for r in recorded
        if r.unit == unit
        and math.isfinite(r.value)
        and abs(r.value - value) <= AGREEMENT * max(abs(value), abs(r.value))
    ]
    return min(close, key=lambda r: abs(r.value - value), default=None)


def edge_marks(
    wf: StoredWaveform,
    recorded: list[Recorded] | None = None,
    *,
    codes: npt.NDArray[Any] | None = None,
) -> EdgeMarks | None:
    """The marks of the first edge of `wf`, or None when it has no clear edge (a flat or noisy
    record, a sine, an edge cut by the record's ends) or no usable timing. `codes`: its raw
    samples when already read (else they are read here)."""
    if not (math.isfinite(wf.dt) and wf.dt > 0 and len(wf) >= 3):
        return None
    values, step, block = _analysed(wf, codes)
    t0 = wf.t0 if math.isfinite(wf.t0) else 0.0
    signal = (t0 + np.arange(len(values), dtype=np.float64) * step + (block - 1) / 2 * wf.dt,
              values)  # fmt: skip
    try:
        edges = Edges.find(as_trace(signal), "settled", DEFAULT_REFERENCE)  # as `transitions`
        found = edges.transitions()
        if not found:
            return None
        first = found[0]
        low, high = edges.low, edges.high
        if first.rising:
            percent = overshoot(signal, edge="rising")
        else:
            percent = undershoot(signal, edge="falling")
        try:
            settled: float | None = first.middle + settling_time(
                signal, tolerance=SETTLING_BAND, edge="any"
            )
        except AnalysisError:
            settled = None  # it does not settle within the band: no mark
    except (AnalysisError, ValueError, FloatingPointError):
        return None
    recorded = recorded or []
    amplitude = high - low
    aberration = None
    if percent > 0:
        level = (
            high + percent / 100 * amplitude if first.rising else low - percent / 100 * amplitude
        )
        aberration = Aberration(percent, level, _matching(percent, "%", recorded))
    duration = _matching(first.end - first.start, "s", recorded)
    others = [r for r in recorded if r is not duration]
    return EdgeMarks(
        rising=first.rising,
        start=first.start,
        middle=first.middle,
        end=first.end,
        low=low,
        high=high,
        aberration=aberration,
        settled=settled,
        step=step,
        block=block,
        duration_recorded=duration,
        settling_recorded=None
        if settled is None
        else _matching(settled - first.middle, "s", others),
    )
