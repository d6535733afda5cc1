"""Energy per operation from a current profile: power states, charge per event, battery life.

A current trace (a `Waveform` in A, or a `(time, values)` pair) is split into power states by
current thresholds (`segment_states`): every sample gets the state whose band holds it, runs
shorter than `min_duration` (range-switching glitches, a noise spike) join the run before them.
An event is a maximal stretch out of the rest state (a wake-up with its active and burst
phases) between two rest segments; its charge is what it draws above the rest current,
integrated over the event widened by `tail` into the rests around it, so slow edges are counted
and the rest current adds no bias. Charges are sums of samples times the sampling interval (each
sample stands for its interval), in coulombs; energies in joules; battery capacities in coulombs
(1 mAh = 3.6 C).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import SupportsFloat, TypeAlias

import numpy as np
import numpy.typing as npt

from benchtest.analysis.trace import AnalysisError, FloatArray, Signal, Trace, as_trace
from benchtest.values.waveform import Waveform

DEFAULT_STATES = ("sleep", "active", "burst")
#: Adjacent current levels closer than this ratio are one state (automatic thresholds).
MIN_LEVEL_RATIO = 3.0
#: Currents below this are taken as this in the histogram of log(current), A.
CURRENT_FLOOR = 1e-12
#: Samples averaged, decades per bin, and the least share of the record, of a level found
#: without thresholds.
LEVEL_SMOOTHING = 16
LEVEL_BIN = 0.05
MIN_LEVEL_FRACTION = 2e-3
#: A stored segment and event (`EnergyProfile.tables`); text is UTF-8, truncated to its width.
SEGMENT_DTYPE = np.dtype(
    [
        ("state", "S16"),
        ("start", np.int64),
        ("stop", np.int64),
        ("time", np.float64),
        ("duration", np.float64),
        ("mean_current", np.float64),
        ("charge", np.float64),
    ]
)
EVENT_DTYPE = np.dtype(
    [
        ("time", np.float64),
        ("duration", np.float64),
        ("charge", np.float64),
        ("energy", np.float64),
        ("peak_current", np.float64),
        ("states", "S64"),
    ]
)
Voltage: TypeAlias = float | Waveform | npt.ArrayLike


@dataclass(frozen=True)
class Segment:
    """One run of samples `start`..`stop - 1` in one state; times in s, current in A."""

    state: str
    start: int
    stop: int
    time: float
    duration: float
    mean_current: float
    charge: float


@dataclass(frozen=True)
class Segmentation:
    """A trace split into power states. `states` are ordered by current, lowest first, and
    `thresholds[k]` (A) separates `states[k]` from `states[k + 1]`."""

    states: tuple[str, ...]
    thresholds: tuple[float, ...]
    segments: tuple[Segment, ...]
    t0: float
    dt: float
    points: int

    def duty_cycle(self) -> dict[str, float]:
        """Fraction of the record's time (0..1) spent in each state."""
        total = self.points * self.dt
        return {
            state: sum(s.duration for s in self.segments if s.state == state) / total
            for state in self.states
        }

    def of(self, state: str) -> tuple[Segment, ...]:
        """The segments in `state`."""
        if state not in self.states:
            raise AnalysisError(f"no state {state!r}; the states are {', '.join(self.states)}")
        return tuple(s for s in self.segments if s.state == state)


@dataclass(frozen=True)
class PowerEvent:
    """One excursion out of the rest state: from `time` for `duration` s (threshold to
    threshold), its charge and energy above the rest current (C, J; energy None without a
    voltage), the peak current (A) and the states it went through, in order."""

    time: float
    duration: float
    charge: float
    energy: float | None
    peak_current: float
    states: tuple[str, ...]
    start: int
    stop: int


@dataclass(frozen=True)
class Period:
    """From one event's start to the next one's: total charge and energy drawn (C, J)."""

    time: float
    duration: float
    charge: float
    energy: float | None


@dataclass(frozen=True)
class EnergyProfile:
    """Everything `energy_profile` measures on one trace."""

    segmentation: Segmentation
    state_currents: dict[str, float]
    events: tuple[PowerEvent, ...]
    periods: tuple[Period, ...]
    mean_current: float

    @property
    def duty_cycle(self) -> dict[str, float]:
        return self.segmentation.duty_cycle()

    def event_charge(self) -> float:
        """Mean charge per event, C."""
        if not self.events:
            raise AnalysisError("the trace holds no complete event (rest, excursion, rest)")
        return float(np.mean([e.charge for e in self.events]))

    def tables(self) -> dict[str, npt.NDArray[np.void]]:
        """The segmentation and the per-event values as structured arrays (SI units), as a
        run file stores them beside the samples."""
        segments = np.array(
            [
                (s.state.encode(), s.start, s.stop, s.time, s.duration, s.mean_current, s.charge)
                for s in self.segmentation.segments
            ],
            dtype=SEGMENT_DTYPE,
        )
        events = np.array(
            [
                (
                    e.time,
                    e.duration,
                    e.charge,
                    math.nan if e.energy is None else e.energy,
                    e.peak_current,
                    "+".join(e.states).encode(),
                )
                for e in self.events
            ],
            dtype=EVENT_DTYPE,
        )
        return {"segments": segments, "events": events}

    def event_energy(self) -> float:
        """Mean energy per event, J."""
        energies = [e.energy for e in self.events if e.energy is not None]
        if not energies:
            raise AnalysisError("no event energy: give the supply voltage, or no event found")
        return float(np.mean(energies))


# -- segmentation --------------------------------------------------------------------------


def segment_states(
    current: Signal,
    *,
    states: Sequence[str] = DEFAULT_STATES,
    thresholds: Sequence[float] | None = None,
    min_duration: float = 0.0,
    hysteresis: float = 0.0,
) -> Segmentation:
    """Split `current` into power states, lowest current first.

    `thresholds` (A, increasing, one fewer than `states`) set the bands; without them the
    levels are the fullest bins of a histogram of log(current) at least `MIN_LEVEL_RATIO`
    apart, and the thresholds the geometric means of adjacent levels (fewer levels than
    states: the lowest states are used). With `hysteresis` h (a fraction, 0 <= h < 1) a
    threshold t is crossed upwards at t (1 + h) and downwards below t (1 - h); a sample
    between keeps the side the last one outside the band was on (`state_labels`). Runs
    shorter than `min_duration` s join the run before them (the first run: the one after).
    """
    trace = as_trace(current)
    names = tuple(str(s) for s in states)
    if not names or len(set(names)) != len(names):
        raise AnalysisError(f"states must be distinct names, got {names!r}")
    if thresholds is None:
        bounds = _automatic_thresholds(trace.values, len(names))
        names = names[: len(bounds) + 1]
    else:
        bounds = _checked_thresholds(thresholds, len(names))
    labels, _ = state_labels(trace.values, bounds, checked_hysteresis(hysteresis, bounds))
    starts, codes = _runs(labels)
    starts, codes = _absorb_short(starts, codes, len(trace), min_duration / trace.dt)
    segments = _segments(trace, starts, codes, names)
    return Segmentation(names, tuple(bounds), segments, trace.t0, trace.dt, len(trace))


def state_labels(
    values: FloatArray,
    bounds: Sequence[float],
    hysteresis: float = 0.0,
    before: Sequence[bool] | None = None,
) -> tuple[npt.NDArray[np.int8], tuple[bool, ...]]:
    """The state index of each sample (how many thresholds it is above), and for each
    threshold the side the last sample is on. With `hysteresis` a sample inside a threshold's
    band keeps the side of the last sample outside it; `before` is that side for the samples
    before `values` (a chunk's predecessor), else the first sample's side of the threshold."""
    edges = np.asarray(bounds, dtype=np.float64)
    if not hysteresis or not len(values):
        labels = np.zeros(len(values), dtype=np.int8)
        for level in edges.tolist():  # counted in int8: no index array as large as the trace
            labels += values >= level
        return labels, tuple(bool(values[-1] >= t) for t in edges) if len(values) else ()
    labels = np.zeros(len(values), dtype=np.int8)
    sides = []
    for k, level in enumerate(edges.tolist()):
        above = values >= level * (1 + hysteresis)
        outside = above | (values < level * (1 - hysteresis))
        last = np.where(outside, np.arange(len(values)), -1)
        np.maximum.accumulate(last, out=last)
        start = bool(values[0] >= level) if before is None else bool(before[k])
        side = np.where(last >= 0, above[np.maximum(last, 0)], start)
        labels += side.astype(np.int8)
        sides.append(bool(side[-1]))
    return labels, tuple(sides)


def checked_hysteresis(hysteresis: float, bounds: Sequence[float]) -> float:
    """`hysteresis` when it is a fraction 0 <= h < 1 whose bands do not overlap."""
    h = float(hysteresis)
    if not (math.isfinite(h) and 0 <= h < 1):
        raise AnalysisError(f"hysteresis must be a fraction within [0, 1), got {hysteresis!r}")
    if any(a * (1 + h) >= b * (1 - h) for a, b in itertools.pairwise(bounds)):
        raise AnalysisError(
            f"hysteresis {h:g} makes the bands of thresholds {tuple(bounds)!r} overlap"
        )
    return h


def _checked_thresholds(thresholds: Sequence[float], count: int) -> tuple[float, ...]:
    bounds = tuple(float(t) for t in thresholds)
    if len(bounds) != count - 1:
        raise AnalysisError(f"{count} states need {count - 1} thresholds, got {len(bounds)}")
    if any(not math.isfinite(b) for b in bounds) or any(
        b >= a for a, b in zip(bounds[1:], bounds, strict=False)
    ):
        raise AnalysisError(f"thresholds must be finite and increasing, got {bounds!r}")
    return bounds


def _automatic_thresholds(values: FloatArray, count: int) -> tuple[float, ...]:
    """Thresholds between the most populated current levels: the fullest bins of a histogram
    of log10(current), in means of `LEVEL_SMOOTHING` samples, that lie `MIN_LEVEL_RATIO`
    apart and hold `MIN_LEVEL_FRACTION` of the record (edges and glitches do not)."""
    kernel = np.ones(LEVEL_SMOOTHING) / LEVEL_SMOOTHING
    smoothed = (
        np.convolve(values, kernel, mode="valid") if len(values) > LEVEL_SMOOTHING else values
    )
    stride = max(1, len(smoothed) // 500_000)  # a sub-sample places the levels well enough
    logs = np.log10(np.maximum(smoothed[::stride], CURRENT_FLOOR))
    logs = logs[logs > math.log10(CURRENT_FLOOR)]
    if not len(logs):
        raise AnalysisError("no positive current to find power states in")
    edges = np.arange(logs.min(), logs.max() + 2 * LEVEL_BIN, LEVEL_BIN)
    counts, edges = np.histogram(logs, bins=edges)
    centres = (edges[1:] + edges[:-1]) / 2
    spacing = math.log10(MIN_LEVEL_RATIO)
    picked: list[float] = []
    for index in np.argsort(counts)[::-1]:
        if counts[index] < MIN_LEVEL_FRACTION * len(logs) or len(picked) == count:
            break
        if all(abs(centres[index] - level) >= spacing for level in picked):
            picked.append(float(centres[index]))
    levels = sorted(float(np.mean(logs[np.abs(logs - p) < spacing / 2])) for p in picked)
    return tuple(10 ** ((a + b) / 2) for a, b in itertools.pairwise(levels))


def _runs(labels: npt.NDArray[np.int8]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int8]]:
    """Start index and label of each run of equal labels."""
    starts = np.concatenate(([0], np.flatnonzero(np.diff(labels)) + 1)).astype(np.intp)
    return starts, labels[starts]


def _absorb_short(
    starts: npt.NDArray[np.intp], codes: npt.NDArray[np.int8], n: int, min_points: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int8]]:
    """Drop runs shorter than `min_points` into their predecessor, then merge equal neighbours."""
    if min_points <= 1 or len(starts) == 1:
        return starts, codes
    lengths = np.diff(np.append(starts, n))
    keep = lengths >= min_points
    if not keep.any():
        keep[np.argmax(lengths)] = True
    kept_starts, kept_codes = starts[keep], codes[keep]
    kept_starts[0] = 0  # short runs at the start join the first kept run
    same = np.concatenate(([False], kept_codes[1:] == kept_codes[:-1]))
    return kept_starts[~same], kept_codes[~same]


def _segments(
    trace: Trace,
    starts: npt.NDArray[np.intp],
    codes: npt.NDArray[np.int8],
    names: tuple[str, ...],
) -> tuple[Segment, ...]:
    stops = np.append(starts[1:], len(trace))
    sums = np.add.reduceat(trace.values, starts)
    return tuple(
        Segment(
            state=names[int(code)],
            start=int(start),
            stop=int(stop),
            time=trace.time(int(start)),
            duration=float(stop - start) * trace.dt,
            mean_current=float(total) / float(stop - start),
            charge=float(total) * trace.dt,
        )
        for start, stop, code, total in zip(starts, stops, codes, sums, strict=True)
    )


# -- per state, per event, per period -------------------------------------------------------


def state_currents(
    current: Signal, segmentation: Segmentation, *, settle: float = 0.0
) -> dict[str, float]:
    """Mean current of each state that occurs, A: over all its segments, each without its
    first and last `settle` s (edges, range-switch settling); segments too short are skipped."""
    trace = as_trace(current)
    _check_matches(trace, segmentation)
    skip = math.ceil(settle / trace.dt - 1e-9)  # 20e-6 / 1e-6 is 20.000000000000004
    result: dict[str, float] = {}
    for state in segmentation.states:
        total, count = 0.0, 0
        for segment in segmentation.of(state):
            start, stop = segment.start + skip, segment.stop - skip
            if stop > start:
                total += float(np.sum(trace.values[start:stop]))
                count += stop - start
        if count:
            result[state] = total / count
    return result


def state_current(
    current: Signal, segmentation: Segmentation, state: str, *, settle: float = 0.0
) -> float:
    """Mean current in `state`, A (see `state_currents`); an error when there is none."""
    currents = state_currents(current, segmentation, settle=settle)
    if state not in currents:
        segmentation.of(state)  # an unknown state gets its own message
        raise AnalysisError(
            f"no {state!r} segment longer than {2 * settle:g} s in {as_trace(current).source}"
        )
    return currents[state]


def find_events(
    current: Signal,
    segmentation: Segmentation,
    *,
    rest: str | None = None,
    voltage: Voltage | None = None,
    tail: float | None = None,
    settle: float = 0.0,
) -> tuple[PowerEvent, ...]:
    """Every complete excursion out of the `rest` state (default: the lowest state).

    Charge and energy are above the rest current (measured with `settle`, see
    `state_currents`), over the event widened by `tail` s into each neighbouring rest
    segment (default and at most: half of it). `voltage` is the supply in V: a number, or a
    trace of the same length (energy is then the integral of I·V).
    """
    trace = as_trace(current)
    _check_matches(trace, segmentation)
    rest = segmentation.states[0] if rest is None else rest
    rest_level = state_current(current, segmentation, rest, settle=settle)
    volts = _voltage(voltage, len(trace))
    segments = segmentation.segments
    resting = [i for i, s in enumerate(segments) if s.state == rest]
    events = []
    for before, after in itertools.pairwise(resting):
        if after == before + 1:
            continue
        inner = segments[before + 1 : after]
        start, stop = inner[0].start, inner[-1].stop
        window = slice(
            start - _widen(segments[before], tail, trace.dt),
            stop + _widen(segments[after], tail, trace.dt),
        )
        excess = trace.values[window] - rest_level
        events.append(
            PowerEvent(
                time=trace.time(start),
                duration=(stop - start) * trace.dt,
                charge=float(np.sum(excess)) * trace.dt,
                energy=_energy_of(excess, volts, window, trace.dt),
                peak_current=float(np.max(trace.values[start:stop])),
                states=tuple(s.state for s in inner),
                start=start,
                stop=stop,
            )
        )
    return tuple(events)


def _energy_of(
    current: FloatArray, volts: FloatArray | None, window: slice, dt: float
) -> float | None:
    """The integral of current times the supply over `window` (None without a supply)."""
    if volts is None:
        return None
    v = volts if np.ndim(volts) == 0 else volts[window]
    return float(np.sum(current * v)) * dt


def _widen(segment: Segment, tail: float | None, dt: float) -> int:
    """Samples of the rest segment next to an event counted with the event."""
    half = (segment.stop - segment.start) // 2
    if tail is None:
        return half
    if tail < 0:
        raise AnalysisError(f"tail must be >= 0 s, got {tail!r}")
    return min(half, round(tail / dt))


def periods(
    current: Signal, events: Sequence[PowerEvent], *, voltage: Voltage | None = None
) -> tuple[Period, ...]:
    """Total charge and energy from each event's start to the next event's start."""
    trace = as_trace(current)
    volts = _voltage(voltage, len(trace))
    result = []
    for first, second in itertools.pairwise(events):
        window = slice(first.start, second.start)
        drawn = trace.values[window]
        result.append(
            Period(
                time=first.time,
                duration=second.time - first.time,
                charge=float(np.sum(drawn)) * trace.dt,
                energy=_energy_of(drawn, volts, window, trace.dt),
            )
        )
    return tuple(result)


def charge(current: Signal, *, start: float | None = None, stop: float | None = None) -> float:
    """Charge drawn from `start` to `stop` s (default: the whole record), C."""
    trace = as_trace(current)
    return float(np.sum(trace.values[_window(trace, start, stop)])) * trace.dt


def energy(
    current: Signal, voltage: Voltage, *, start: float | None = None, stop: float | None = None
) -> float:
    """Energy drawn from `start` to `stop` s, J: the integral of I·V (V a number or a trace)."""
    trace = as_trace(current)
    window = _window(trace, start, stop)
    joules = _energy_of(trace.values[window], _voltage(voltage, len(trace)), window, trace.dt)
    assert joules is not None  # a voltage was given
    return joules


def wakeup_time(
    current: Signal, trigger: float, *, low: float, high: float, fraction: float = 0.5
) -> float:
    """From `trigger` (s, the wake edge) to where the current first reaches
    `low + fraction (high - low)` (linearly interpolated), s."""
    trace = as_trace(current)
    if not high > low:
        raise AnalysisError(f"wake-up levels: high {high!r} A must exceed low {low!r} A")
    if not 0 < fraction < 1:
        raise AnalysisError(f"fraction must be within 0..1, got {fraction!r}")
    level = low + fraction * (high - low)
    trace_time = float(trigger)
    first = max(0, math.ceil((trace_time - trace.t0) / trace.dt))
    above = np.flatnonzero(trace.values[first:] >= level)
    if not len(above):
        raise AnalysisError(
            f"the current in {trace.source} never reaches {trace.quantity(level)} after "
            f"{trace_time:g} s"
        )
    index = first + int(above[0])
    if index == 0:
        return trace.t0 - trace_time
    before, after = trace.values[index - 1], trace.values[index]
    crossing = index - 1 + (level - before) / (after - before)
    return trace.time(crossing) - trace_time


def average_current(
    state_currents: Mapping[str, SupportsFloat],
    duty: Mapping[str, SupportsFloat],
    *,
    event_charge: float = 0.0,
    event_rate: float = 0.0,
) -> float:
    """Mean current of a duty profile, A: Σ duty[state] · current[state], plus the events'
    charge (C each) at `event_rate` per second. The duty fractions must add up to 1."""
    missing = sorted(set(duty) - set(state_currents))
    if missing:
        raise AnalysisError(f"duty profile: no current for state(s) {', '.join(missing)}")
    fractions = {name: float(value) for name, value in duty.items()}
    if any(not 0 <= f <= 1 for f in fractions.values()):
        raise AnalysisError(f"duty profile: each fraction must be within 0..1, got {fractions}")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
        raise AnalysisError(
            f"duty profile: the fractions add up to {sum(fractions.values()):.6g}, not 1"
        )
    if event_charge < 0 or event_rate < 0:
        raise AnalysisError("duty profile: event charge and rate must be >= 0")
    steady = sum(f * float(state_currents[s]) for s, f in fractions.items())
    return steady + float(event_charge) * float(event_rate)


def battery_life(
    capacity: float,
    state_currents: Mapping[str, SupportsFloat],
    duty: Mapping[str, SupportsFloat],
    *,
    event_charge: float = 0.0,
    event_rate: float = 0.0,
    usable: float = 1.0,
) -> float:
    """Seconds a cell of `capacity` coulombs (1 mAh = 3.6 C) lasts on the duty profile (see
    `average_current`), of which the fraction `usable` can be drawn."""
    if not capacity > 0 or not 0 < usable <= 1:
        raise AnalysisError(
            f"battery: capacity must be > 0 C and usable within (0, 1], got {capacity!r}, "
            f"{usable!r}"
        )
    mean = average_current(state_currents, duty, event_charge=event_charge, event_rate=event_rate)
    if not mean > 0:
        raise AnalysisError("battery: the duty profile draws no current")
    return float(capacity) * float(usable) / mean


def energy_profile(
    current: Signal,
    *,
    voltage: Voltage | None = None,
    states: Sequence[str] = DEFAULT_STATES,
    thresholds: Sequence[float] | None = None,
    min_duration: float = 0.0,
    settle: float = 0.0,
    tail: float | None = None,
    hysteresis: float = 0.0,
) -> EnergyProfile:
    """Segmentation, state currents, events and periods of one trace (see each function)."""
    trace = as_trace(current)
    segmentation = segment_states(
        current,
        states=states,
        thresholds=thresholds,
        min_duration=min_duration,
        hysteresis=hysteresis,
    )
    found = (
        find_events(current, segmentation, voltage=voltage, tail=tail, settle=settle)
        if len(segmentation.states) > 1
        else ()
    )
    return EnergyProfile(
        segmentation=segmentation,
        state_currents=state_currents(current, segmentation, settle=settle),
        events=found,
        periods=periods(current, found, voltage=voltage),
        mean_current=float(np.mean(trace.values)),
    )


def _window(trace: Trace, start: float | None, stop: float | None) -> slice:
    first = 0 if start is None else max(0, round((float(start) - trace.t0) / trace.dt))
    last = len(trace) if stop is None else round((float(stop) - trace.t0) / trace.dt)
    if last <= first:
        raise AnalysisError(f"empty window {start!r}..{stop!r} s in {trace.source}")
    return slice(first, min(last, len(trace)))


def _voltage(voltage: Voltage | None, n: int) -> FloatArray | None:
    if voltage is None:
        return None
    values = voltage.values if isinstance(voltage, Waveform) else np.asarray(voltage, np.float64)
    if values.ndim == 0:
        if not np.isfinite(values):
            raise AnalysisError(f"the supply voltage must be finite, got {float(values)!r}")
        return values
    if values.shape != (n,):
        raise AnalysisError(f"the voltage trace has {values.shape} samples; the current has {n}")
    return values


def _check_matches(trace: Trace, segmentation: Segmentation) -> None:
    if len(trace) != segmentation.points or not math.isclose(trace.dt, segmentation.dt):
        raise AnalysisError(
            f"the segmentation ({segmentation.points} points, dt {segmentation.dt:g} s) is not "
            f"of {trace.source} ({len(trace)} points, dt {trace.dt:g} s)"
        )
