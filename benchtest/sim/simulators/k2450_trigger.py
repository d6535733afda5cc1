"""The simulated Keithley 2450's reading buffer and its `SimpleLoop` trigger model (profiling).

`:TRACe:POINts <n>[,"<buffer>"]` sizes a buffer (1 to 1 000 000 readings; resizing clears
it), `:TRIGger:LOAD "SimpleLoop", <count>[, <delay>[, "<buffer>"]]` loads the predefined loop
(count 1 to 268 435 455, delay 0 to 10 000 s before each measurement) and `:INITiate` runs it:
readings back to back, each taking its aperture (NPLC / line frequency), twice that with
autozero on, plus `READING_OVERHEAD`, plus the delay. The buffer fills once and stops when
full. Each reading is the mean over its aperture of the current the output's load draws: the
periodic wake-ups of an MCU or sensor (`WakeSchedule.window_means`), else the load's present
current, with the range's noise, and 9.9E37 beyond a fixed range. With instant timing every
reading is stored at once; with real timing one per reading interval. Stored readings carry
the source level and the time relative to the first (`REL`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from benchtest.sim.models import noise
from benchtest.sim.models.power_profile import WakeSchedule
from benchtest.sim.server.scpi import DATA_OUT_OF_RANGE, ScpiError

FloatArray = npt.NDArray[np.float64]

MAX_BUFFER = 1_000_000  # readings a 2450 reading buffer holds (2450-901-01 Rev. B, p. 2-27)
DEFAULT_BUFFER = 10_000  # a default buffer's capacity after a reset (p. 6-115)
MAX_LOOP_COUNT = 268_435_455
MAX_DELAY = 10_000.0  # s
#: s a reading takes beyond its aperture with autozero off: 3000 readings/s at 0.01 PLC, 60 Hz.
READING_OVERHEAD = 1 / 3000 - 0.01 / 60
NOISE_FRACTION = 2e-5  # of the fixed range's full scale, RMS
OVERFLOW = 9.9e37
BLOCK = 65_536  # readings computed at a time


@dataclass
class Readings:
    """One reading buffer: source level, reading and relative time of each stored reading."""

    capacity: int = DEFAULT_BUFFER
    columns: list[FloatArray] = field(default_factory=list)  # blocks of (n, 3)

    def __len__(self) -> int:
        return sum(len(block) for block in self.columns)

    def clear(self) -> None:
        self.columns = []

    def extend(self, rows: FloatArray, *, fill_once: bool = True) -> None:
        """Store `rows` (source, reading, relative time): as many as there is room for, or
        (a sweep: a default buffer fills continuously) all of them, the newest `capacity`
        kept and the oldest overwritten."""
        if not len(rows):
            return
        if fill_once:
            room = self.capacity - len(self)
            if room > 0:
                self.columns.append(np.asarray(rows[:room], dtype=np.float64))
            return
        self.columns.append(np.asarray(rows, dtype=np.float64))
        if len(self) > self.capacity:
            self.columns = [np.concatenate(self.columns)[-self.capacity :]]

    def rows(self, start: int, end: int) -> FloatArray:
        """Readings `start` .. `end - 1` (0-based) as an (n, 3) array."""
        table = np.concatenate(self.columns) if len(self.columns) > 1 else self.columns[0]
        self.columns = [table]
        return table[start:end]


@dataclass(frozen=True)
class SimpleLoop:
    """A loaded `SimpleLoop`: `count` readings, `delay` s before each."""

    count: int
    delay: float


@dataclass
class LoopRun:
    """One run of a `SimpleLoop`: what each reading integrates and when it is due.

    `current(starts, aperture)` gives the mean current over `[t, t + aperture)` for each
    start time; `level` is the source level stored with each reading."""

    loop: SimpleLoop
    interval: float
    aperture: float
    full_scale: float | None  # None: autorange
    level: float
    current: Callable[[FloatArray, float], FloatArray]
    phase: float  # s of the load's own time at the first reading
    seed: tuple[int, ...]
    started: float = field(default_factory=time.monotonic)
    made: int = 0  # readings computed so far
    stopped: int | None = None  # readings taken when it was aborted

    def due(self, real: bool) -> int:
        """Readings taken by now (all of them at once with instant timing)."""
        if self.stopped is not None:
            return self.stopped
        if not real:
            return self.loop.count
        return min(self.loop.count, int((time.monotonic() - self.started) / self.interval) + 1)

    def next_rows(self, count: int) -> FloatArray:
        """The next `count` readings as rows (source, reading, relative time)."""
        index = np.arange(self.made, self.made + count, dtype=np.float64)
        relative = index * self.interval
        values = self.current(self.phase + relative, self.aperture)
        if self.full_scale is not None:
            values = values + noise.gaussian(self.seed, self.made, count, 1.0) * (
                NOISE_FRACTION * self.full_scale
            )
            values = np.where(np.abs(values) > 1.05 * self.full_scale, OVERFLOW, values)
        self.made += count
        return np.column_stack((np.full(count, self.level), values, relative))


def loop_from_args(args: tuple[str, ...], parse_int: Callable[[str], int],
                   parse_float: Callable[[str], float]) -> SimpleLoop:  # fmt: skip
    """The `SimpleLoop` of `:TRIGger:LOAD "SimpleLoop", <count>[, <delay>[, "<buffer>"]]`'s
    arguments after the name; out-of-range values are the instrument's -222."""
    count = parse_int(args[0])
    if not 1 <= count <= MAX_LOOP_COUNT:
        raise ScpiError(DATA_OUT_OF_RANGE, f"count {args[0]}")
    delay = parse_float(args[1]) if len(args) > 1 else 0.0
    if not (math.isfinite(delay) and 0 <= delay <= MAX_DELAY):
        raise ScpiError(DATA_OUT_OF_RANGE, f"delay {args[1]}")
    return SimpleLoop(count, delay)


def constant(level: float) -> Callable[[FloatArray, float], FloatArray]:
    """A load that draws `level` A whatever the time."""
    return lambda starts, aperture: np.full(len(starts), level)


def scheduled(schedule: WakeSchedule) -> Callable[[FloatArray, float], FloatArray]:
    """A part's periodic wake-ups, as an integrating meter sees them."""
    return schedule.window_means
