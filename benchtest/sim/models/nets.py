"""The history of one net's voltage as first-order segments, evaluated fast with numpy.

Every change of a net (power-on ramp, new input level, power-off) appends a segment that starts
at the value the net had at that moment and settles exponentially towards a target after a
delay, or rings into it as an under-damped second-order step (`zeta` < 1). Evaluating a whole
record is vectorised, and trigger crossings are solved analytically (or by bisection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchtest.sim.models import step_response

FloatArray = npt.NDArray[np.float64]
MAX_SEGMENTS = 256


@dataclass(frozen=True)
class Segment:
    """From `t0` the net holds `v_start` for `delay` s, then settles to `target` with `tau` s
    (first order), or with damping ratio `zeta` < 1 and natural frequency `wn` rad/s."""

    t0: float
    v_start: float
    target: float
    delay: float = 0.0
    tau: float = 0.0
    zeta: float = 1.0
    wn: float = 0.0

    def value(self, t: float) -> float:
        x = t - self.t0 - self.delay
        if x < 0:
            return self.v_start
        if self.tau <= 0:
            return self.target
        if self.zeta < 1.0:
            ringing = step_response.decay(np.array([x]), np.array([self.zeta]), np.array([self.wn]))
            return self.target + (self.v_start - self.target) * float(ringing[0])
        return self.target + (self.v_start - self.target) * math.exp(-x / self.tau)

    def crossing(self, level: float, rising: bool) -> float | None:
        """The time this segment crosses `level` in the given direction, if it ever does."""
        if self.zeta < 1.0 and self.tau > 0:
            return self._ringing_crossing(level, rising)
        lo, hi = (self.v_start, self.target) if rising else (self.target, self.v_start)
        if not lo < level <= hi:
            return None
        start = self.t0 + self.delay
        if self.tau <= 0:
            return start
        if level == self.target:
            return None  # approached, never reached
        return start + self.tau * math.log((self.v_start - self.target) / (level - self.target))

    def _ringing_crossing(self, level: float, rising: bool) -> float | None:
        """Crossings before the first peak (the ringing after it is not searched)."""
        swing = self.target - self.v_start
        if swing == 0 or (swing > 0) != rising:
            return None
        after = step_response.crossing((level - self.v_start) / swing, self.zeta, self.wn)
        return None if after is None else self.t0 + self.delay + after


class NetHistory:
    """Piecewise first-order voltage of one net over time (not thread-safe; the World locks)."""

    def __init__(self, t0: float, value: float = 0.0) -> None:
        self._segments: list[Segment] = [Segment(t0, value, value)]
        self._packed: tuple[FloatArray, ...] | None = None  # built when a record needs it

    @property
    def target(self) -> float:
        """The value the net is settling towards now."""
        return self._segments[-1].target

    def value(self, t: float) -> float:
        if t >= self._segments[-1].t0:  # now or later: the newest segment, no search
            return self._segments[-1].value(t)
        index = int(np.searchsorted(self._arrays[0], t, side="right")) - 1
        return self._segments[max(index, 0)].value(t)

    def change(
        self, t: float, target: float, delay: float = 0.0, tau: float = 0.0, overshoot: float = 0.0
    ) -> None:
        """From time `t` settle towards `target` (a step when `tau` is 0), overshooting by the
        fraction `overshoot` of the swing (0: first order); no-op if unchanged."""
        if target == self.target:
            return
        zeta = step_response.damping_ratio(overshoot) if tau > 0 else 1.0
        wn = step_response.natural_frequency(tau, zeta) if zeta < 1.0 else 0.0
        self._segments.append(Segment(t, self.value(t), target, delay, tau, zeta, wn))
        del self._segments[:-MAX_SEGMENTS]
        self._packed = None

    def values(self, t: FloatArray) -> FloatArray:
        """The net at every (ascending) time in `t`, vectorised."""
        starts = self._arrays[0]
        if len(t) == 0:
            return np.empty(0, dtype=np.float64)
        first, last = (int(i) - 1 for i in np.searchsorted(starts, [t[0], t[-1]], side="right"))
        if first == last:  # the common case: the whole chunk lies in one segment
            index: npt.NDArray[np.intp] | int = max(first, 0)
        else:
            index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)
        return _evaluate(t, *(a[index] for a in self._arrays))

    def first_crossing(self, level: float, rising: bool | None, after: float) -> float | None:
        """First time >= `after` the net crosses `level` (rising, falling, or either when None)."""
        directions = (True, False) if rising is None else (rising,)
        ends = [s.t0 for s in self._segments[1:]] + [math.inf]
        for segment, end in zip(self._segments, ends, strict=True):
            hits = [segment.crossing(level, d) for d in directions]
            found = [t for t in hits if t is not None and after <= t < end]
            if found:
                return min(found)
        return None

    @property
    def _arrays(self) -> tuple[FloatArray, ...]:
        """The segments as numpy arrays, packed once per change (a sweep changes the net at
        every point but renders nothing in between)."""
        if self._packed is None:
            self._packed = self._pack()
        return self._packed

    def _pack(self) -> tuple[FloatArray, ...]:
        fields = ("t0", "v_start", "target", "delay", "tau", "zeta", "wn")
        return tuple(
            np.array([getattr(s, f) for s in self._segments], dtype=np.float64) for f in fields
        )


def _evaluate(t: FloatArray, *segment: FloatArray | np.float64) -> FloatArray:
    t0, v0, target, delay, tau, zeta, wn = segment
    x = t - t0 - delay
    settling = np.asarray(tau) > 0
    elapsed = np.maximum(x, 0.0)
    decay = np.exp(-elapsed / np.where(settling, tau, 1.0))
    ringing = np.asarray(zeta) < 1.0
    if np.any(ringing):
        rings = step_response.decay(elapsed, np.asarray(zeta), np.asarray(wn))
        decay = np.where(ringing, rings, decay)
    decay = np.where(settling, decay, 0.0)
    return np.where(x < 0, v0, target + (np.asarray(v0) - target) * decay).astype(np.float64)
