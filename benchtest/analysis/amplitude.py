"""Amplitude measurements of a whole waveform: mean, rms and peak-to-peak, in the signal's unit.

Mean and rms are taken over whole periods when the waveform is periodic (from the first to the
last 50 % crossing in one direction, IEEE Std 181-2011 5.3, integrating the linear interpolant so
partial samples count exactly) and over the record otherwise. Peak-to-peak fits each extreme with
a parabola over as many samples as the noise needs, so sample noise does not inflate it.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal, TypeAlias

import numpy as np

from benchtest.analysis.estimators import extremum, interval_mean
from benchtest.analysis.levels import LevelSpec
from benchtest.analysis.pulses import DEFAULT_HYSTERESIS, MidCrossings
from benchtest.analysis.trace import AnalysisError, Signal, Trace, as_trace
from benchtest.analysis.transitions import DEFAULT_REFERENCE, Edges

Span: TypeAlias = Literal["auto", "periods", "record"]


def mean(
    signal: Signal,
    *,
    over: Span = "auto",
    levels: LevelSpec = "settled",
    hysteresis: float = DEFAULT_HYSTERESIS,
) -> float:
    """Mean value over whole periods ("periods"), the whole record ("record"), or whole periods
    when the waveform has at least one and the record otherwise ("auto")."""
    return _average(as_trace(signal), over, levels, hysteresis, power=1)


def rms(
    signal: Signal,
    *,
    over: Span = "auto",
    levels: LevelSpec = "settled",
    hysteresis: float = DEFAULT_HYSTERESIS,
) -> float:
    """Root mean square including the mean (total rms), over the span chosen as for `mean`."""
    return math.sqrt(_average(as_trace(signal), over, levels, hysteresis, power=2))


def peak_to_peak(signal: Signal, *, method: Literal["fit", "samples"] = "fit") -> float:
    """Highest minus lowest value of the waveform.

    "fit" (default) fits a parabola to each extreme over as many samples as the noise needs, but
    no wider than the waveform's fastest transition allows: the peaks of the underlying waveform,
    not of its noise. "samples" is the raw max - min.
    """
    trace = as_trace(signal)
    values = trace.values
    top, bottom = float(values.max()), float(values.min())
    if method == "samples" or top == bottom:
        return top - bottom
    edges = Edges.find(trace, "settled", DEFAULT_REFERENCE)
    peak_of = partial(
        extremum,
        values,
        0,
        len(values),
        reference=(top + bottom) / 2,
        noise=edges.noise,
        amplitude=top - bottom,
        span=edges.shortest(),
    )
    return peak_of(maximum=True)[0] - peak_of(maximum=False)[0]


def _average(trace: Trace, over: Span, levels: LevelSpec, hysteresis: float, power: int) -> float:
    if over not in ("auto", "periods", "record"):
        raise ValueError(f"over must be auto, periods or record, got {over!r}")
    if over == "record":
        return _record_average(trace, power)
    try:
        start, stop = MidCrossings.find(trace, levels, hysteresis).whole_periods()
    except AnalysisError:
        if over == "periods":
            raise
        return _record_average(trace, power)
    return interval_mean(trace.values, start, stop, power)


def _record_average(trace: Trace, power: int) -> float:
    values = trace.values
    if power == 1:
        return float(np.mean(values))
    return float(np.dot(values, values) / len(values))
