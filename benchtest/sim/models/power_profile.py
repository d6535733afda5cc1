"""What a current profiler sees of an MCU that wakes up periodically: sleep, wake-up, active, radio.

`WakeSchedule` is one unit's cycle, from its model (a sensor's: a conversion every
`conversion_period`). An MCU's: stop-mode current (floor plus
leakage, which spreads from unit to unit), a wake edge in the middle of each period, the
current rising after the wake-up latency to the run current, a radio burst centred in the
active time, and back to stop mode. Every change is a first-order step with the model's
`current_tau`, so the charge of a wake-up above the sleep current is exactly the rectangles:
(I_active - I_sleep) t_active + (I_radio - I_active) t_radio (`event_charge`).

`ProfileSource` turns the schedule into samples as an autoranging profiler delivers them, for
any run of sample indices: each sample is the exact mean of the current over its interval, the
range is the smallest that holds it, the noise is a fixed fraction of the range's full scale,
and for `GLITCH_POINTS` samples after a range switch the reading misbehaves (clipped at the
old full scale going up, the old range's larger noise going down). Noise is addressed by sample
index (`noise.gaussian`), so a capture read in chunks of any size is the same capture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchtest.sim.models import noise
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.sensor import SensorModel
from benchtest.values.errors import SimulatorError
from benchtest.values.profile import ProfileChunk, range_changes

FloatArray = npt.NDArray[np.float64]

#: Full scales of the profiler's current ranges, A (a Joulescope-like set).
RANGES = (18e-6, 180e-6, 1.8e-3, 18e-3, 180e-3, 2.0)
#: Noise RMS as a fraction of the present range's full scale (0.9 nA on the 18 uA range).
NOISE_FRACTION = 5e-5
#: Samples after a range switch that read wrong, and how much noisier they are going down.
GLITCH_POINTS = 3
GLITCH_NOISE = 10.0
#: Time constants after which a first-order step counts as settled.
SETTLED_TAUS = 40.0


@dataclass(frozen=True)
class WakeSchedule:
    """One unit's periodic wake-up: times in s (from the start of each period), currents in A,
    `supply` in V."""

    period: float
    wake_at: float
    latency: float
    active_time: float
    radio_time: float
    sleep_current: float
    active_current: float
    radio_current: float
    tau: float
    supply: float
    supply_noise: float = 0.0

    @classmethod
    def of(cls, unit: McuModel | SensorModel, vdd: float) -> WakeSchedule:
        """The schedule of `unit` supplied at `vdd` volts: an MCU woken from stop mode, or a
        sensor converting continuously."""
        if isinstance(unit, SensorModel):
            return cls.of_sensor(unit, vdd)
        schedule = cls(
            period=unit.wake_period,
            wake_at=unit.wake_period / 2,
            latency=unit.wakeup("deepsleep"),
            active_time=unit.active_time,
            radio_time=unit.radio_time if unit.idd_radio > 0 else 0.0,
            sleep_current=unit.mode_current("deepsleep", vdd),
            active_current=unit.mode_current("active", vdd),
            radio_current=unit.idd_radio,
            tau=unit.current_tau,
            supply=float(vdd),
            supply_noise=unit.vdd_noise,
        )
        schedule.check()
        return schedule

    @classmethod
    def of_sensor(cls, unit: SensorModel, vdd: float) -> WakeSchedule:
        """A sensor converting every `conversion_period`: standby current between conversions,
        the active current for each conversion (no latency, no burst)."""
        schedule = cls(
            period=unit.conversion_period,
            wake_at=unit.conversion_period / 2,
            latency=0.0,
            active_time=unit.t_conversion,
            radio_time=0.0,
            sleep_current=unit.idd_standby,
            active_current=unit.idd_active,
            radio_current=0.0,
            tau=unit.current_tau,
            supply=float(vdd),
        )
        schedule.check()
        return schedule

    def check(self) -> None:
        if not self.period > 0:
            raise SimulatorError(f"model.wake_period: expected > 0 s, got {self.period!r}")
        if self.latency + self.active_time + SETTLED_TAUS * self.tau >= self.period / 2:
            raise SimulatorError(
                f"model.active_time: the wake-up latency and {self.active_time:g} s awake must "
                f"end within half the wake period ({self.period / 2:g} s)"
            )
        if self.radio_time > self.active_time:
            raise SimulatorError(
                f"model.radio_time: {self.radio_time:g} s is longer than the active time "
                f"{self.active_time:g} s"
            )

    @property
    def event_charge(self) -> float:
        """Charge of one wake-up above the sleep current, C (the model's integral)."""
        return (self.active_current - self.sleep_current) * self.active_time + (
            self.radio_current - self.active_current
        ) * self.radio_time

    @property
    def average_current(self) -> float:
        """Mean current over whole periods, A."""
        return self.sleep_current + self.event_charge / self.period

    def window_means(self, starts: FloatArray, width: float) -> FloatArray:
        """The exact mean current over `[t, t + width)` for each time `t` in `starts`
        (increasing, s): what an integrating meter with that aperture reads, A."""
        count = len(starts)
        if not count:
            return np.zeros(0)
        margin = SETTLED_TAUS * self.tau + width
        first_time, end_time = float(starts[0]), float(starts[-1]) + width
        times, sizes = self.steps(
            math.floor((first_time - margin) / self.period) - 1, math.floor(end_time / self.period)
        )
        settled = times < first_time - margin
        values = np.full(count, self.sleep_current + float(np.sum(sizes[settled])))
        step_after = np.zeros(count + 1)
        for time, size in zip(times[~settled], sizes[~settled], strict=True):
            if time >= end_time:
                break
            lo = int(np.searchsorted(starts, time - width, side="left"))
            hi = int(np.searchsorted(starts, time + margin, side="right"))
            local = starts[lo:hi] - time
            rise = _settled_integral(local + width, self.tau) - _settled_integral(local, self.tau)
            values[lo:hi] += size * rise / width
            step_after[hi] += size
        return values + np.cumsum(step_after[:count])

    def wake_edges(self, first: int, last: int) -> FloatArray:
        """Times of the wake edges of periods `first` .. `last`, s."""
        return np.arange(first, last + 1, dtype=np.float64) * self.period + self.wake_at

    def steps(self, first: int, last: int) -> tuple[FloatArray, FloatArray]:
        """Times (s) and sizes (A) of the current steps of periods `first` .. `last`."""
        rise = self.wake_edges(first, last) + self.latency
        radio_start = rise + (self.active_time - self.radio_time) / 2
        columns = [
            (rise, self.active_current - self.sleep_current),
            (rise + self.active_time, self.sleep_current - self.active_current),
        ]
        if self.radio_time > 0:
            columns += [
                (radio_start, self.radio_current - self.active_current),
                (radio_start + self.radio_time, self.active_current - self.radio_current),
            ]
        times = np.concatenate([t for t, _ in columns])
        sizes = np.concatenate([np.full(len(t), d) for t, d in columns])
        order = np.argsort(times, kind="stable")
        return times[order], sizes[order]


def _settled_integral(x: FloatArray, tau: float) -> FloatArray:
    """Integral from 0 to x of a unit first-order step with time constant `tau`, 0 for x <= 0."""
    positive = np.maximum(x, 0.0)
    if tau <= 0:
        return positive
    return positive + tau * np.expm1(-positive / tau)


def supply_schedule(unit: object, vdd: float) -> WakeSchedule | None:
    """The periodic power profile of an MCU or sensor `unit` supplied at `vdd` V (None for
    another part, or one not powered)."""
    if not isinstance(unit, McuModel | SensorModel) or not vdd > 0:
        return None
    return WakeSchedule.of(unit, vdd)


class ProfileSource:
    """Samples of a `WakeSchedule` at `sample_rate`, as an autoranging profiler gives them."""

    def __init__(
        self,
        schedule: WakeSchedule,
        sample_rate: float,
        *,
        seed: Sequence[int] = (0,),
        ranges: Sequence[float] = RANGES,
        noise_fraction: float = NOISE_FRACTION,
        glitch_points: int = GLITCH_POINTS,
    ) -> None:
        self.schedule = schedule
        self.dt = 1.0 / float(sample_rate)
        self.seed = tuple(int(s) for s in seed)
        self.ranges = np.asarray(ranges, dtype=np.float64)
        self.noise_fraction = float(noise_fraction)
        self.glitch_points = int(glitch_points)

    def mean_current(self, start: int, count: int) -> FloatArray:
        """The exact mean current over each sample interval `start` .. `start + count - 1`;
        negative indices are before the capture (the schedule runs before it too)."""
        s, dt = self.schedule, self.dt
        first_time, end_time = start * dt, (start + count) * dt
        margin = SETTLED_TAUS * s.tau + dt
        times, sizes = s.steps(
            math.floor((first_time - margin) / s.period) - 1, math.floor(end_time / s.period)
        )
        settled = times < first_time - margin
        values = np.full(count, s.sleep_current + float(np.sum(sizes[settled])))
        step_after = np.zeros(count + 1)
        width = math.ceil(margin / dt) + 2
        edges = first_time + np.arange(width + 1, dtype=np.float64) * dt
        for time, size in zip(times[~settled], sizes[~settled], strict=True):
            if time >= end_time:
                break
            i0 = max(0, math.floor((time - first_time) / dt))
            i1 = min(count, i0 + width)
            local = edges[: i1 - i0 + 1] + i0 * dt - time
            values[i0:i1] += size * np.diff(self._settled_integral(local)) / dt
            step_after[i1] += size
        return values + np.cumsum(step_after[:count])

    def _settled_integral(self, x: FloatArray) -> FloatArray:
        return _settled_integral(x, self.schedule.tau)

    def range_index(self, current: FloatArray) -> npt.NDArray[np.intp]:
        """The smallest range that holds each current."""
        index = np.searchsorted(self.ranges, np.abs(current), side="left")
        return np.minimum(index, len(self.ranges) - 1)

    def chunk(self, start: int, count: int) -> ProfileChunk:
        """Samples `start` .. `start + count - 1` as the profiler reads them."""
        return self.readings(start, count)[0]

    def readings(self, start: int, count: int) -> tuple[ProfileChunk, FloatArray]:
        """The chunk of samples `start` .. `start + count - 1`, and the full scale (A) of the
        range each sample was taken on."""
        look = self.glitch_points
        true = self.mean_current(start - look - 1, count + look + 1)
        index = self.range_index(true)
        full_scale = self.ranges[index]
        values = true[look + 1 :] + noise.gaussian(self.seed, start, count, 1.0) * (
            full_scale[look + 1 :] * self.noise_fraction
        )
        switches = np.flatnonzero(index[1:] != index[:-1]) + 1  # in the window
        extra = noise.gaussian((*self.seed, 1), start, count, GLITCH_NOISE * self.noise_fraction)
        for at in switches.tolist():
            old, new = float(full_scale[at - 1]), float(full_scale[at])
            # the glitch covers window samples at .. at + look - 1, chunk samples lo .. hi - 1
            lo, hi = max(at - look - 1, 0), min(at - 1, count)
            if hi <= lo:
                continue
            if new > old:
                values[lo:hi] = np.minimum(values[lo:hi], old)
            else:
                values[lo:hi] += extra[lo:hi] * old
        local = switches[switches >= look + 1] - look - 1
        rows = [(start + int(i), float(full_scale[i + look + 1])) for i in local]
        if start == 0:
            rows.insert(0, (0, float(full_scale[look + 1])))
        volts = self.schedule.supply + noise.gaussian(
            (*self.seed, 2), start, count, self.schedule.supply_noise
        )
        return ProfileChunk(start, values, volts, range_changes(rows)), full_scale[look + 1 :]
