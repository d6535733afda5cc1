"""Timing of periodic and pulse waveforms from their 50 % reference-level instants (IEEE 181, 5.3).

Mid-reference crossings are found with a hysteresis band around the 50 % level, so noise cannot
make false crossings, and placed like every reference-level instant (`estimators.crossings`).
The period is the mean over whole periods, from the first to the last crossing in one direction;
pulse width (IEEE 181 pulse duration) runs from one mid crossing to the next of opposite direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

from benchtest.analysis.estimators import (
    BAND,
    crossing_windows,
    fitted_crossings,
    hysteresis_transitions,
    noise_rms,
)
from benchtest.analysis.levels import LevelSpec, indistinct, resolve_levels
from benchtest.analysis.trace import AnalysisError, BoolArray, FloatArray, Signal, Trace, as_trace
from benchtest.analysis.transitions import Which

Polarity: TypeAlias = Literal["positive", "negative"]

DEFAULT_HYSTERESIS = 10.0  # percent of the amplitude, centred on the 50 % level


def period(
    signal: Signal, *, levels: LevelSpec = "settled", hysteresis: float = DEFAULT_HYSTERESIS
) -> float:
    """Mean period in seconds over all whole periods of the record.

    `hysteresis` (percent of the amplitude) is the band around 50 % a crossing must traverse.
    """
    return MidCrossings.find(as_trace(signal), levels, hysteresis).period()


def frequency(
    signal: Signal, *, levels: LevelSpec = "settled", hysteresis: float = DEFAULT_HYSTERESIS
) -> float:
    """1 / period, Hz."""
    return 1.0 / period(signal, levels=levels, hysteresis=hysteresis)


def duty_cycle(
    signal: Signal,
    *,
    polarity: Polarity = "positive",
    levels: LevelSpec = "settled",
    hysteresis: float = DEFAULT_HYSTERESIS,
) -> float:
    """Fraction of each period (0..1, not %) spent in the high (positive) or low state, over
    whole periods: total pulse width divided by the time those periods take."""
    found = MidCrossings.find(as_trace(signal), levels, hysteresis)
    leading = found.index[found.rising == (polarity == "positive")]
    found.require_periods(leading)
    widths = found.widths(polarity)
    return float(np.sum(widths[: len(leading) - 1]) / (leading[-1] - leading[0]))


def pulse_width(
    signal: Signal,
    *,
    polarity: Polarity = "positive",
    levels: LevelSpec = "settled",
    hysteresis: float = DEFAULT_HYSTERESIS,
    pulse: Which = "mean",
) -> float:
    """Seconds from a pulse's leading to its trailing 50 % instant: positive pulses rise first,
    negative ones fall first. `pulse` picks one complete pulse (0 the first) or the mean of all."""
    trace = as_trace(signal)
    found = MidCrossings.find(trace, levels, hysteresis)
    widths = found.widths(polarity)
    if not widths.size:
        raise AnalysisError(
            f"no complete {polarity} pulse on {trace.source}: it needs a "
            f"{'rising' if polarity == 'positive' else 'falling'} then an opposite crossing of "
            f"{trace.quantity(found.mid)}"
        )
    if pulse == "mean":
        return float(np.mean(widths)) * trace.dt
    if not -len(widths) <= pulse < len(widths):
        raise AnalysisError(f"{polarity} pulse {pulse} asked for, but there are {len(widths)}")
    return float(widths[pulse]) * trace.dt


@dataclass(frozen=True)
class MidCrossings:
    """Fractional sample indices of the 50 % crossings, alternating in direction."""

    trace: Trace
    mid: float
    index: FloatArray
    rising: BoolArray

    @classmethod
    def find(cls, trace: Trace, levels: LevelSpec, hysteresis: float) -> MidCrossings:
        if not 0.0 <= hysteresis < 100.0:
            raise ValueError(f"hysteresis must be 0..100 % of the amplitude, got {hysteresis!r}")
        noise = noise_rms(trace.values)
        low, high = resolve_levels(trace, levels, noise)
        mid = (low + high) / 2
        why = indistinct(trace, low, high, noise)
        if why:
            raise AnalysisError(f"no crossings of {trace.quantity(mid)} on {trace.source}{why}")
        band = hysteresis / 200 * (high - low)
        start, end, rising = hysteresis_transitions(trace.values, mid - band, mid + band)
        if not start.size:
            return cls(trace, mid, np.zeros(0), rising)
        windows = crossing_windows(start, end, len(trace), reach=2)
        fit_band = min(BAND * noise, (high - low) / 4)
        return cls(
            trace, mid, fitted_crossings(trace.values, mid, rising, windows, fit_band), rising
        )

    def require_periods(self, leading: FloatArray) -> None:
        if len(leading) < 2:
            raise AnalysisError(
                f"not enough periods on {self.trace.source}: a whole period needs two rising or "
                f"two falling crossings of {self.trace.quantity(self.mid)}, found "
                f"{int(np.sum(self.rising))} rising and {int(np.sum(~self.rising))} falling"
            )

    def whole_periods(self) -> tuple[float, float]:
        """First and last crossing (sample index) in the direction with more crossings."""
        rising, falling = self.index[self.rising], self.index[~self.rising]
        leading = rising if len(rising) >= len(falling) else falling
        self.require_periods(leading)
        return float(leading[0]), float(leading[-1])

    def period(self) -> float:
        """Mean period in seconds, from both directions' whole periods."""
        spans = [s for s in (self.index[self.rising], self.index[~self.rising]) if len(s) > 1]
        if not spans:
            self.require_periods(self.index[:0])
        total = sum(float(s[-1] - s[0]) for s in spans)
        return total / sum(len(s) - 1 for s in spans) * self.trace.dt

    def widths(self, polarity: Polarity) -> FloatArray:
        """Widths (in samples) of the complete pulses of this polarity, in time order."""
        leads = np.flatnonzero(self.rising[:-1] == (polarity == "positive"))
        return self.index[leads + 1] - self.index[leads]
