"""Transitions between the two state levels and their durations (IEEE Std 181-2011, 5.3).

A transition runs from the lower to the upper reference level (10 % and 90 % of the amplitude by
default; the levels double as hysteresis, so a transition must span both). Its reference-level
instants are interpolated crossings, fitted through the noise (see `estimators.fitted_crossings`);
rise and fall time are the transition durations between them, for the first edge, a chosen one or
the mean over all. With the default "settled" state levels they are unbiased with noise: the mean
10-90 % time of 48 RC edges with 1 % noise is tau ln 9 to 0.01 % (standard error 0.03 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal, TypeAlias

import numpy as np

from benchtest.analysis.estimators import (
    BAND,
    crossing_windows,
    fitted_crossings,
    hysteresis_transitions,
    noise_rms,
    segment_argmax,
    trimmed_mean,
)
from benchtest.analysis.levels import LevelSpec, indistinct, resolve_levels
from benchtest.analysis.trace import (
    AnalysisError,
    BoolArray,
    FloatArray,
    IntArray,
    Signal,
    Trace,
    as_trace,
)

EdgeKind: TypeAlias = Literal["rising", "falling", "any"]
Which: TypeAlias = int | Literal["mean"]
Reference: TypeAlias = tuple[float, float]

DEFAULT_REFERENCE: Reference = (10.0, 90.0)
MID = 50.0
STATE_BOUNDARY = 2.0  # percent of the amplitude around a state level that counts as in the state


@dataclass(frozen=True)
class Transition:
    """One transition with its reference-level instants in seconds.

    `start` is the instant of the first reference level crossed (the lower one on a rising edge),
    `middle` the 50 % instant, `end` the instant of the second reference level.
    """

    rising: bool
    start: float
    middle: float
    end: float

    @property
    def duration(self) -> float:
        """Transition duration (rise or fall time), s."""
        return self.end - self.start


def transitions(
    signal: Signal, *, reference: Reference = DEFAULT_REFERENCE, levels: LevelSpec = "settled"
) -> list[Transition]:
    """Every complete transition of the signal, in time order."""
    return Edges.find(as_trace(signal), levels, reference).transitions()


def rise_time(
    signal: Signal,
    *,
    reference: Reference = DEFAULT_REFERENCE,
    levels: LevelSpec = "settled",
    transition: Which = 0,
) -> float:
    """Seconds a rising edge takes from the lower to the upper reference level (percent).

    `transition` picks the rising edge (0 the first, -1 the last) or "mean" averages all of them.
    """
    edges = Edges.find(as_trace(signal), levels, reference)
    return float(np.mean(edges.durations()[edges.select("rising", transition)]))


def fall_time(
    signal: Signal,
    *,
    reference: Reference = DEFAULT_REFERENCE,
    levels: LevelSpec = "settled",
    transition: Which = 0,
) -> float:
    """Seconds a falling edge takes from the upper to the lower reference level (percent)."""
    edges = Edges.find(as_trace(signal), levels, reference)
    return float(np.mean(edges.durations()[edges.select("falling", transition)]))


@dataclass(frozen=True)
class Edges:
    """The transitions of a trace: per transition the last sample before the lower reference
    level and the first past the upper one (`start`, `end`, as sample indices) and direction."""

    trace: Trace
    low: float
    high: float
    reference: Reference
    noise: float
    explicit: bool
    why_none: str
    start: IntArray
    end: IntArray
    rising: BoolArray

    @classmethod
    def find(cls, trace: Trace, levels: LevelSpec, reference: Reference) -> Edges:
        lower, upper = reference
        if not 0.0 < lower < upper < 100.0:
            raise ValueError(
                "reference levels must satisfy 0 < lower < upper < 100 (percent of the "
                f"amplitude), got {reference!r}"
            )
        noise = noise_rms(trace.values)
        low, high = resolve_levels(trace, levels, noise)
        why_none = indistinct(trace, low, high, noise)
        if why_none:
            empty = np.zeros(0, dtype=np.intp)
            found = (empty, empty, empty > 0)
        else:
            found = _complete_transitions(trace.values, (low, high), reference)
        explicit = not isinstance(levels, str)
        return cls(trace, low, high, reference, noise, explicit, why_none, *found)

    @property
    def amplitude(self) -> float:
        return self.high - self.low

    def level(self, percent: float) -> float:
        return self.low + percent / 100 * self.amplitude

    def select(self, kind: EdgeKind, which: Which) -> list[int]:
        """Indices of the `which`-th transition of this kind, or of all of them for "mean"."""
        if kind == "any":
            candidates = np.arange(len(self.rising))
        else:
            candidates = np.flatnonzero(self.rising == (kind == "rising"))
        name = "" if kind == "any" else f"{kind} "
        lower, upper = self.reference
        between = f"between {lower:g} % and {upper:g} % of {self.trace.span(self.low, self.high)}"
        if not candidates.size:
            raise AnalysisError(f"no {name}edge {between}{self.why_none}")
        if which == "mean":
            return [int(k) for k in candidates]
        if not -len(candidates) <= which < len(candidates):
            raise AnalysisError(
                f"{name}edge {which} asked for, but there are only {len(candidates)} {between}"
            )
        return [int(candidates[which])]

    def transitions(self) -> list[Transition]:
        lower, upper = (self.crossings(percent) for percent in self.reference)
        middle = self.crossings(MID)
        start = np.where(self.rising, lower, upper)
        end = np.where(self.rising, upper, lower)
        times = [self.trace.t0 + index * self.trace.dt for index in (start, middle, end)]
        return [
            Transition(bool(rising), float(s), float(m), float(e))
            for rising, s, m, e in zip(self.rising, *times, strict=True)
        ]

    def durations(self) -> FloatArray:
        """Transition durations in seconds, between the two reference levels."""
        lower, upper = (self.crossings(percent) for percent in self.reference)
        return np.abs(upper - lower) * self.trace.dt

    def crossings(self, percent: float) -> FloatArray:
        """Fractional sample index at which each transition crosses `percent` of the amplitude,
        fitted over BAND noise rms around the level but at most half way to a state level."""
        band = min(BAND * self.noise, min(percent, 100.0 - percent) / 200 * self.amplitude)
        level = self.level(percent)
        return fitted_crossings(self.trace.values, level, self.rising, self.windows, band)

    @cached_property
    def windows(self) -> tuple[IntArray, IntArray]:
        """Samples around each transition: one duration either side, from the last extreme before
        it to the first extreme after it (so ringing of the states is never counted)."""
        first, stop = crossing_windows(self.start, self.end, len(self.trace), reach=1)
        sign = np.where(self.rising, 1.0, -1.0)
        values = self.trace.values
        first = segment_argmax(values, first, self.start + 1, -sign)
        stop = segment_argmax(values, self.end, stop, sign) + 1
        return first, stop

    def shortest(self) -> int:
        """Samples of the fastest transition (between its reference-level passages), the time
        scale below which the waveform has no features; the record length if it has none."""
        if not len(self.start):
            return len(self.trace)
        return int(np.min(self.end - self.start))

    def after(self, k: int) -> tuple[int, int]:
        """Samples after transition k (its post-transition region): from its end to one transition
        duration before the next one starts, or to the end of the record."""
        first = int(self.end[k])
        if k + 1 < len(self.start):
            duration = int(self.end[k + 1] - self.start[k + 1])
            return first, max(first + 2, int(self.start[k + 1]) - duration)
        return first, len(self.trace)

    def final_level(self, k: int) -> float:
        """The level transition k settles to: the explicit state level if levels were given, else
        the trimmed mean of its own settled region (each pulse's level, even when the states
        drift from pulse to pulse), started from the median."""
        if self.explicit:
            return self.high if self.rising[k] else self.low
        first, stop = self.settled(k)
        samples = self.trace.values[first:stop]
        return trimmed_mean(samples, float(np.median(samples)), self.noise)

    def settled(self, k: int) -> tuple[int, int]:
        """The last quarter of the post-transition region, where the waveform must have settled."""
        first, stop = self.after(k)
        return first + 3 * (stop - first) // 4, stop


def _complete_transitions(
    values: FloatArray, levels: tuple[float, float], reference: Reference
) -> tuple[IntArray, IntArray, BoolArray]:
    """Transitions through both reference levels (as hysteresis), without a first one that does
    not leave a state the record shows (within STATE_BOUNDARY of its level) or a last one that
    does not reach one: a record that starts or ends inside an edge does not make a transition."""
    low, high = levels
    amplitude = high - low
    lower, upper = (low + percent / 100 * amplitude for percent in reference)
    start, end, rising = hysteresis_transitions(values, lower, upper)
    keep = np.ones(len(start), dtype=bool)
    if len(start):
        boundary = STATE_BOUNDARY / 100 * amplitude
        initial = low if rising[0] else high
        keep[0] = bool(np.any(np.abs(values[: start[0] + 1] - initial) <= boundary))
        final = high if rising[-1] else low
        keep[-1] &= bool(np.any(np.abs(values[end[-1] :] - final) <= boundary))
    return start[keep], end[keep], rising[keep]
