"""What happens after a transition: overshoot, undershoot and settling (IEEE Std 181-2011, 5.4).

The post-transition aberration region runs from the end of a transition (its upper reference
crossing) to the next transition or the end of the record. Overshoot is the aberration above the
final state level, undershoot the aberration below it, both in percent of the amplitude; settling
time runs from the 50 % instant until the waveform stays within a band around the final level.
The final level is the one the region settles to (see `Edges.final_level`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial

import numpy as np

from benchtest.analysis.estimators import extremum, twiced_average
from benchtest.analysis.levels import LevelSpec
from benchtest.analysis.trace import AnalysisError, Signal, as_trace
from benchtest.analysis.transitions import DEFAULT_REFERENCE, MID, EdgeKind, Edges, Which

SETTLING_NOISE = 0.01  # residual noise allowed after smoothing, fraction of the band
SETTLING_SMOOTHING = 2  # the smoothing spans at most half the transition duration


def overshoot(
    signal: Signal,
    *,
    edge: EdgeKind = "rising",
    levels: LevelSpec = "settled",
    transition: Which = 0,
) -> float:
    """Overshoot after an edge, % of the amplitude: how far the waveform goes above the level of
    the state it has just reached.

    After a rising edge (default) this is the familiar overshoot, (peak - high) / (high - low).
    After a falling edge it is IEEE 181's overshoot of the low state: the rebound above the low
    level that follows the first dip, (rebound - low) / (high - low). 0 when there is none.
    """
    edges = Edges.find(as_trace(signal), levels, DEFAULT_REFERENCE)
    return mean_of(_aberration(edges, k, above=True) for k in edges.select(edge, transition))


def undershoot(
    signal: Signal,
    *,
    edge: EdgeKind = "falling",
    levels: LevelSpec = "settled",
    transition: Which = 0,
) -> float:
    """Undershoot after an edge, % of the amplitude: how far the waveform goes below the level of
    the state it has just reached.

    After a falling edge (default) this is the familiar undershoot, (low - dip) / (high - low).
    After a rising edge it is IEEE 181's undershoot of the high state: the ringing dip below the
    high level that follows the overshoot peak, (high - dip) / (high - low). 0 when there is none.
    """
    edges = Edges.find(as_trace(signal), levels, DEFAULT_REFERENCE)
    return mean_of(_aberration(edges, k, above=False) for k in edges.select(edge, transition))


def settling_time(
    signal: Signal,
    *,
    tolerance: float = 2.0,
    edge: EdgeKind = "any",
    levels: LevelSpec = "settled",
    transition: Which = 0,
) -> float:
    """Seconds from an edge's 50 % instant until the waveform stays within +-`tolerance` % of the
    amplitude around the final state level (IEEE 181 settling duration).

    With noise, the waveform is first smoothed (a twiced running mean, see
    `estimators.twiced_average`) as long as the noise needs but never longer than half the
    transition duration, so ringing keeps its height. Noise still decides which ringing peak is
    the last outside the band when one comes within the noise of it.
    """
    if not 0.0 < tolerance < 50.0:
        raise ValueError(f"settling tolerance must be between 0 and 50 %, got {tolerance!r}")
    edges = Edges.find(as_trace(signal), levels, DEFAULT_REFERENCE)
    return mean_of(_settling(edges, k, tolerance) for k in edges.select(edge, transition))


def mean_of(values: Iterable[float]) -> float:
    return float(np.mean(list(values)))


def _aberration(edges: Edges, k: int, *, above: bool) -> float:
    first, stop = edges.after(k)
    final = edges.final_level(k)
    peak_of = partial(
        extremum,
        edges.trace.values,
        reference=final,
        noise=edges.noise,
        amplitude=edges.amplitude,
        span=int(edges.end[k] - edges.start[k]),
    )
    rising = bool(edges.rising[k])
    if rising != above:  # an aberration against the edge's direction follows its main peak
        first = peak_of(first, stop, maximum=rising)[1]
    peak = peak_of(first, max(stop, first + 1), maximum=above)[0]
    deviation = peak - final if above else final - peak
    return max(deviation, 0.0) / edges.amplitude * 100.0


def _settling(edges: Edges, k: int, tolerance: float) -> float:
    trace = edges.trace
    middle = float(edges.crossings(MID)[k])
    first, stop = math.ceil(middle), edges.after(k)[1]
    band = tolerance / 100 * edges.amplitude
    width = _smoothing(edges.noise, band, int(edges.end[k] - edges.start[k]))
    final = edges.final_level(k)
    deviation = np.abs(twiced_average(trace.values[first:stop], width) - final)
    outside = np.flatnonzero(deviation > band)
    if not outside.size:
        return (first - middle) * trace.dt
    last = int(outside[-1])
    if first + last + 1 >= edges.settled(k)[0]:
        until = "the next transition" if k + 1 < len(edges.start) else "the end of the record"
        raise AnalysisError(
            f"{trace.source} does not settle within ±{tolerance:g} % of the amplitude around "
            f"{trace.quantity(final)} in the first three quarters of the time before {until}"
        )
    fraction = float((deviation[last] - band) / (deviation[last] - deviation[last + 1]))
    return (first + last + fraction - middle) * trace.dt


def _smoothing(noise: float, band: float, duration: int) -> int:
    """Running-mean width that brings the noise well inside the band without blurring the edge."""
    needed = math.ceil((noise / (SETTLING_NOISE * band)) ** 2) if noise > 0 else 1
    return int(max(1, min(needed, duration // SETTLING_SMOOTHING)))
