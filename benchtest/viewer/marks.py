"""The analysis values marked on a waveform: rise time, overshoot and settling time.

They are computed with `benchtest.analysis` (IEEE Std 181) from the whole record, so only for
records up to `MAX_POINTS`; a longer record, or one without such an edge, gets no marks and a
note saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchtest.analysis import (
    AnalysisError,
    overshoot,
    settling_time,
    state_levels,
    transitions,
)
from benchtest.results import StoredWaveform
from benchtest.values.errors import ResultFileError

#: Longest record analysed for marks (it is read whole).
MAX_POINTS = 4_000_000


@dataclass(frozen=True)
class Marks:
    """Instants (s) and levels (physical unit) to draw on a waveform's first rising edge."""

    rise_start: float  # 10 % crossing
    rise_end: float  # 90 % crossing
    low: float  # base state level
    high: float  # top state level
    overshoot: float  # % of the amplitude
    peak: float  # the overshoot's level
    settled: float  # instant the waveform stays within 2 % of the top level
    unit: str

    @property
    def rise_time(self) -> float:
        return self.rise_end - self.rise_start


def analyse(waveform: StoredWaveform) -> tuple[Marks | None, str]:
    """The marks of `waveform`'s first rising edge, or None and why there are none."""
    if len(waveform) > MAX_POINTS:
        return None, f"no analysis marks: {len(waveform)} points (marks up to {MAX_POINTS})"
    try:
        wf = waveform.to_waveform()
        edges = [t for t in transitions(wf) if t.rising]
        if not edges:
            return None, "no analysis marks: the waveform has no rising edge"
        edge = edges[0]
        low, high = state_levels(wf)
        over = overshoot(wf)
        settle = settling_time(wf, edge="rising")
    except (AnalysisError, ValueError, ResultFileError) as exc:
        return None, f"no analysis marks: {exc}"
    peak = high + over / 100.0 * (high - low)
    marks = Marks(edge.start, edge.end, low, high, over, peak, edge.middle + settle, waveform.unit)
    return marks, ""
