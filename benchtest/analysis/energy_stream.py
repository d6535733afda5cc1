"""Energy per operation chunk by chunk: the `energy_profile` of a trace too long to hold.

`energy_profile_chunked(current, dt=..., thresholds=...)` reads `current` (anything that slices
into numpy arrays: an array, an h5py dataset of a run file, a memory map) `chunk_points`
samples at a time, twice, and gives what `energy_profile` gives on the whole trace, up to the
rounding of sums:

1. The first pass labels every sample with its state and follows runs of equal labels across
   chunk boundaries (`StateRuns`): the side of each threshold's hysteresis band the last
   sample was on, the open run, and the short runs (shorter than `min_duration`) that join
   the segment before them, are carried from one chunk to the next, so a segment or a glitch
   straddling a boundary is one run. Segment sums (charge, mean
   current) and the record's total accumulate as the chunks go by.
2. The second pass integrates the windows the segmentation defines (`WindowSums`): each
   segment without its `settle` edges (the state currents), each event widened into the rests
   around it (charge; energy with the supply), each event's peak, each period. A window may
   span any number of chunks.

Peak memory is a few chunks of samples (the chunk, its labels, its product with the voltage)
plus the segment and event tables, whatever the length of the trace. The thresholds must be
given: the automatic levels of `segment_states` need the whole record's histogram.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from benchtest.analysis.energy import (
    DEFAULT_STATES,
    EnergyProfile,
    Period,
    PowerEvent,
    Segment,
    Segmentation,
    _checked_thresholds,
    checked_hysteresis,
    state_labels,
)
from benchtest.analysis.trace import AnalysisError, FloatArray
from benchtest.values.waveform import Waveform

#: Samples read at a time unless asked otherwise (8 MB of float64).
DEFAULT_CHUNK_POINTS = 1 << 20


class Sliceable(Protocol):
    """A 1-D sequence of samples that slices into arrays (numpy array, h5py dataset)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice, /) -> Any: ...


@dataclass
class _Run:
    """A run of equal labels: `code`, first sample, end (exclusive), sum of the samples."""

    code: int
    start: int
    stop: int
    total: float


@dataclass
class StateRuns:
    """Runs of state labels followed across chunks, short ones absorbed (first pass).

    `feed(labels, values, offset)` takes one chunk; `finish(points)` returns the segments as
    `_Run`s. A run shorter than `min_points` joins the segment before it (runs before the first
    long one join that one), exactly as `segment_states` does on the whole record.
    """

    min_points: float
    segments: list[_Run] = field(default_factory=list)
    _open: _Run | None = None  # the raw run the last chunk ended in
    _current: _Run | None = None  # the segment being built
    _prefix: float = 0.0  # sum of the short runs before the first long one
    _longest: tuple[int, int] = (-1, 0)  # (length, code) of the first longest raw run

    def feed(self, labels: np.ndarray[Any, Any], values: FloatArray, offset: int) -> None:
        cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        sums = np.add.reduceat(values, starts)
        stops = np.append(cuts, len(values))
        for start, stop, total in zip(starts.tolist(), stops.tolist(), sums.tolist(), strict=True):
            code = int(labels[start])
            run = self._open
            if run is not None and run.code == code and run.stop == offset + start:
                run.stop, run.total = offset + stop, run.total + total
                continue
            if run is not None:
                self._close(run)
            self._open = _Run(code, offset + start, offset + stop, total)

    def finish(self, points: int) -> list[_Run]:
        if self._open is not None:
            self._close(self._open)
            self._open = None
        if self._current is None:  # no run is long enough: the longest one's state throughout
            self._current = _Run(self._longest[1], 0, points, self._prefix)
        self.segments.append(self._current)
        self._current = None
        return self.segments

    def _close(self, run: _Run) -> None:
        length = run.stop - run.start
        if length > self._longest[0]:
            self._longest = (length, run.code)
        current = self._current
        if self.min_points > 1 and length < self.min_points:  # a glitch: joins what is before
            if current is None:
                self._prefix += run.total
            else:
                current.stop, current.total = run.stop, current.total + run.total
        elif current is None:
            self._current = _Run(run.code, 0, run.stop, self._prefix + run.total)
        elif current.code == run.code:
            current.stop, current.total = run.stop, current.total + run.total
        else:
            self.segments.append(current)
            self._current = _Run(run.code, run.start, run.stop, run.total)


@dataclass
class WindowSums:
    """Sums (and maxima) of the samples over windows `[start, stop)`, read chunk by chunk
    (second pass). `add` registers a window and returns its index; `feed` takes a chunk."""

    starts: list[int] = field(default_factory=list)
    stops: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # "current", "power", "voltage", "peak"
    results: list[float] = field(default_factory=list)
    _order: list[int] = field(default_factory=list)
    _next: int = 0
    _active: list[int] = field(default_factory=list)

    def add(self, start: int, stop: int, kind: str) -> int:
        self.starts.append(start)
        self.stops.append(stop)
        self.kinds.append(kind)
        self.results.append(-math.inf if kind == "peak" else 0.0)
        return len(self.starts) - 1

    def feed(self, values: FloatArray, volts: FloatArray | None, offset: int) -> None:
        if not self._order and self.starts:
            self._order = sorted(range(len(self.starts)), key=self.starts.__getitem__)
        end = offset + len(values)
        while self._next < len(self._order) and self.starts[self._order[self._next]] < end:
            self._active.append(self._order[self._next])
            self._next += 1
        still = []
        for index in self._active:
            lo = max(self.starts[index], offset) - offset
            hi = min(self.stops[index], end) - offset
            if hi > lo:
                self.results[index] = self._combine(index, values, volts, lo, hi)
            if self.stops[index] > end:
                still.append(index)
        self._active = still

    def _combine(
        self,
        index: int,
        values: FloatArray,
        volts: FloatArray | None,
        lo: int,
        hi: int,
    ) -> float:
        kind, before = self.kinds[index], self.results[index]
        if kind == "peak":
            return max(before, float(np.max(values[lo:hi])))
        if kind == "current":
            return before + float(np.sum(values[lo:hi]))
        if kind == "power" and volts is not None:  # a dot product: no I·V array
            return before + float(np.dot(values[lo:hi], volts[lo:hi]))
        if kind == "voltage" and volts is not None:
            return before + float(np.sum(volts[lo:hi]))
        return before


def energy_profile_chunked(
    current: Waveform | Sliceable,
    *,
    dt: float | None = None,
    t0: float = 0.0,
    voltage: float | Waveform | Sliceable | None = None,
    states: Sequence[str] = DEFAULT_STATES,
    thresholds: Sequence[float] | None = None,
    min_duration: float = 0.0,
    settle: float = 0.0,
    tail: float | None = None,
    hysteresis: float = 0.0,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
) -> EnergyProfile:
    """`energy_profile` of `current` (A) read `chunk_points` samples at a time (module doc).

    `dt` and `t0` (s) come from a `Waveform`, else must be given; `voltage` is the supply in V:
    a number, or a trace of the same length read alongside.
    """
    samples, dt, t0 = _samples(current, dt, t0)
    points = len(samples)
    names = tuple(str(s) for s in states)
    if not names or len(set(names)) != len(names):
        raise AnalysisError(f"states must be distinct names, got {names!r}")
    if thresholds is None:
        raise AnalysisError(
            "a chunked analysis needs the thresholds between states (the automatic levels "
            "need the whole record)"
        )
    bounds = _checked_thresholds(thresholds, len(names))
    if int(chunk_points) < 1:
        raise AnalysisError(f"chunk_points must be >= 1, got {chunk_points!r}")
    if points < 3:
        raise AnalysisError(f"the current has {points} samples; at least 3 are needed")
    if tail is not None and tail < 0:
        raise AnalysisError(f"tail must be >= 0 s, got {tail!r}")
    supply = _supply(voltage, points)
    band = checked_hysteresis(hysteresis, bounds)

    runs = StateRuns(min_duration / dt)
    total = 0.0
    sides: tuple[bool, ...] | None = None  # each threshold's side at the last chunk's end
    for offset, values, _ in _chunks(samples, None, int(chunk_points)):
        labels, sides = state_labels(values, bounds, band, sides)
        runs.feed(labels, values, offset)
        total += float(np.sum(values))
    segments = tuple(
        Segment(
            state=names[run.code],
            start=run.start,
            stop=run.stop,
            time=t0 + run.start * dt,
            duration=(run.stop - run.start) * dt,
            mean_current=run.total / (run.stop - run.start),
            charge=run.total * dt,
        )
        for run in runs.finish(points)
    )
    segmentation = Segmentation(names, bounds, segments, t0, dt, points)
    plan = _Windows(segmentation, settle, tail, supply)
    volts = supply if not isinstance(supply, float) else None
    for offset, values, chunk_volts in _chunks(samples, volts, int(chunk_points)):
        plan.sums.feed(values, chunk_volts, offset)
    return plan.profile(total / points)


class _Windows:
    """The second pass's windows for one segmentation, and the profile they make."""

    def __init__(
        self,
        segmentation: Segmentation,
        settle: float,
        tail: float | None,
        supply: float | Sliceable | None,
    ) -> None:
        self.segmentation, self.tail, self.supply = segmentation, tail, supply
        self.sums = WindowSums()
        dt = segmentation.dt
        skip = math.ceil(settle / dt - 1e-9)
        self.settled = [
            (s.state, self.sums.add(s.start + skip, s.stop - skip, "current"), s.stop - s.start)
            for s in segmentation.segments
            if s.stop - skip > s.start + skip
        ]
        self.skip = skip
        self.events = self._event_windows() if len(segmentation.states) > 1 else []
        self.periods = [
            (first, second, self._integrals(first[0], second[0]))
            for first, second in itertools.pairwise(self.events)
        ]

    def _integrals(self, start: int, stop: int) -> tuple[int, int, int]:
        """Windows of the current, current times voltage and voltage over `[start, stop)`."""
        power = self.sums.add(start, stop, "power") if self.supply is not None else -1
        volts = self.sums.add(start, stop, "voltage") if self.supply is not None else -1
        return self.sums.add(start, stop, "current"), power, volts

    def _event_windows(self) -> list[tuple[int, int, int, int, tuple[int, int, int], int]]:
        """Per event: start, stop, first and last segment, its widened window's integrals and
        its peak window."""
        segments = self.segmentation.segments
        rest = self.segmentation.states[0]
        resting = [i for i, s in enumerate(segments) if s.state == rest]
        found = []
        for before, after in itertools.pairwise(resting):
            if after == before + 1:
                continue
            start, stop = segments[before + 1].start, segments[after - 1].stop
            window = (
                start - self._widen(segments[before]),
                stop + self._widen(segments[after]),
            )
            peak = self.sums.add(start, stop, "peak")
            found.append((start, stop, before + 1, after, self._integrals(*window), peak))
        return found

    def _widen(self, segment: Segment) -> int:
        half = (segment.stop - segment.start) // 2
        return half if self.tail is None else min(half, round(self.tail / self.segmentation.dt))

    def profile(self, mean_current: float) -> EnergyProfile:
        segmentation, results = self.segmentation, self.sums.results
        state_sums: dict[str, list[float]] = {}
        for state, index, length in self.settled:
            entry = state_sums.setdefault(state, [0.0, 0.0])
            entry[0] += results[index]
            entry[1] += length - 2 * self.skip
        currents = {
            state: state_sums[state][0] / state_sums[state][1]
            for state in segmentation.states
            if state in state_sums
        }
        events = self._events(currents)
        periods = tuple(
            Period(
                time=segmentation.t0 + first[0] * segmentation.dt,
                duration=(second[0] - first[0]) * segmentation.dt,
                charge=results[sums[0]] * segmentation.dt,
                energy=self._energy(sums, 0.0),
            )
            for first, second, sums in self.periods
        )
        return EnergyProfile(segmentation, currents, events, periods, mean_current)

    def _events(self, currents: dict[str, float]) -> tuple[PowerEvent, ...]:
        segmentation, results, dt = self.segmentation, self.sums.results, self.segmentation.dt
        if not self.events:
            return ()
        rest = segmentation.states[0]
        if rest not in currents:
            raise AnalysisError(
                f"no {rest!r} segment longer than {2 * self.skip * dt:g} s in the current"
            )
        level = currents[rest]
        found = []
        for start, stop, first, after, sums, peak in self.events:
            window = self.sums.stops[sums[0]] - self.sums.starts[sums[0]]
            found.append(
                PowerEvent(
                    time=segmentation.t0 + start * dt,
                    duration=(stop - start) * dt,
                    charge=(results[sums[0]] - level * window) * dt,
                    energy=self._energy(sums, level),
                    peak_current=results[peak],
                    states=tuple(s.state for s in segmentation.segments[first:after]),
                    start=start,
                    stop=stop,
                )
            )
        return tuple(found)

    def _energy(self, sums: tuple[int, int, int], level: float) -> float | None:
        """The integral of (I - level) V over a window, J (None without a supply)."""
        if self.supply is None:
            return None
        results, dt = self.sums.results, self.segmentation.dt
        if isinstance(self.supply, float):
            window = self.sums.stops[sums[0]] - self.sums.starts[sums[0]]
            return (results[sums[0]] - level * window) * self.supply * dt
        return (results[sums[1]] - level * results[sums[2]]) * dt


def _samples(
    current: Waveform | Sliceable, dt: float | None, t0: float
) -> tuple[Any, float, float]:
    if isinstance(current, Waveform):
        return current.values, float(current.dt), float(current.t0)
    if dt is None or not (math.isfinite(float(dt)) and float(dt) > 0):
        raise AnalysisError(f"the sampling interval dt must be a number of seconds > 0, got {dt!r}")
    return current, float(dt), float(t0)


def _supply(voltage: float | Waveform | Sliceable | None, points: int) -> float | Sliceable | None:
    if voltage is None:
        return None
    if isinstance(voltage, Waveform):
        voltage = voltage.values
    if isinstance(voltage, int | float | np.number) or getattr(voltage, "ndim", 1) == 0:
        volts = float(voltage)  # type: ignore[arg-type]
        if not math.isfinite(volts):
            raise AnalysisError(f"the supply voltage must be finite, got {volts!r}")
        return volts
    if len(voltage) != points:
        raise AnalysisError(
            f"the voltage trace has {len(voltage)} samples; the current has {points}"
        )
    return voltage


def _chunks(
    samples: Sliceable, volts: Sliceable | None, size: int
) -> Iterator[tuple[int, FloatArray, FloatArray | None]]:
    """(offset, current, voltage or None) for each run of `size` samples, read into one
    buffer each that is reused: a chunk is valid until the next one is read."""
    points = len(samples)
    current = np.empty(min(size, points))
    voltage = None if volts is None else np.empty(min(size, points))
    for offset in range(0, points, size):
        count = min(size, points - offset)
        _read_into(current, samples, offset, count)
        if volts is not None and voltage is not None:
            _read_into(voltage, volts, offset, count)
        yield offset, current[:count], None if voltage is None else voltage[:count]


def _read_into(buffer: FloatArray, samples: Sliceable, offset: int, count: int) -> None:
    """Samples `offset` .. `offset + count - 1` into the start of `buffer`; an HDF5 dataset
    decompresses straight into it (`read_direct`)."""
    read_direct = getattr(samples, "read_direct", None)
    if read_direct is not None and getattr(samples, "dtype", None) == np.float64:
        read_direct(buffer, np.s_[offset : offset + count], np.s_[0:count])
    else:
        buffer[:count] = samples[offset : offset + count]
