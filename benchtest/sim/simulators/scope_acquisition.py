"""Acquisition model of the simulated scopes: memory geometry, run/stop/trigger, sample codes.

A model's `Memory` and the scope's settings decide the sample rate and record length; the run
state machine arms on `:RUN`/`:SINGle`, finds the trigger edge on the world's net analytically,
and freezes a `Record` when a single acquisition completes, its post-trigger part after the
trigger. With real timing (`rearm` set) a trigger counts only after the re-arm time and the
record's pre-trigger part. Codes are rendered per requested chunk, so a 24 M-point memory never
exists as a whole.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchtest.sim.models import noise
from benchtest.sim.models.world import World

DIVISIONS = 12  # horizontal
SCREEN_POINTS = 1200
CODES_PER_DIV = 25
Y_REFERENCE = 127
DEPTHS = {
    1: (12_000, 120_000, 1_200_000, 12_000_000, 24_000_000),
    2: (6_000, 60_000, 600_000, 6_000_000, 12_000_000),
    4: (3_000, 30_000, 300_000, 3_000_000, 6_000_000),
}
MAX_RATE = {1: 1e9, 2: 5e8, 4: 2.5e8}


def channel_group(displayed: int) -> int:
    """Channels share the ADC in groups of 1, 2 or 4."""
    return 1 if displayed <= 1 else 2 if displayed == 2 else 4


@dataclass(frozen=True)
class Memory:
    """A model's horizontal layout: grid divisions, memory depths and ADC rates by channel group."""

    divisions: int
    depths: Mapping[int, tuple[int, ...]]
    max_rate: Mapping[int, float]


DS1000Z_MEMORY = Memory(DIVISIONS, DEPTHS, MAX_RATE)


@dataclass
class ChannelSettings:
    """Vertical settings of one channel; scale and offset already include the probe ratio."""

    display: bool = False
    scale: float = 1.0
    offset: float = 0.0
    coupling: str = "DC"
    probe: float = 1.0
    bwlimit: str = "OFF"

    @property
    def yinc(self) -> float:
        return self.scale / CODES_PER_DIV

    @property
    def yorigin(self) -> int:
        return round(self.offset / self.yinc)

    def to_codes(self, volts: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
        """Volts to unsigned 8-bit codes: volts = (code - yorigin - yref) * yinc."""
        codes = np.rint(volts / self.yinc) + (self.yorigin + Y_REFERENCE)
        clipped: npt.NDArray[np.uint8] = np.clip(codes, 0, 255).astype(np.uint8)
        return clipped

    def to_volts(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        return (codes.astype(np.float64) - self.yorigin - Y_REFERENCE) * self.yinc

    def change_probe(self, ratio: float) -> None:
        """A new probe ratio: the displayed scale and offset follow it."""
        factor = ratio / self.probe
        self.probe, self.scale, self.offset = ratio, self.scale * factor, self.offset * factor


@dataclass(frozen=True)
class Geometry:
    """Horizontal set-up of one acquisition (s, Sa/s, points)."""

    scale: float
    offset: float
    srate: float
    points: int
    divisions: int = DIVISIONS

    @classmethod
    def of(
        cls,
        scale: float,
        offset: float,
        depth: int | None,
        displayed: int,
        memory: Memory = DS1000Z_MEMORY,
    ) -> Geometry:
        """Memory depth = sample rate x the grid, the rate capped by the ADC (AUTO: smallest)."""
        group = channel_group(displayed)
        depths = memory.depths[group]
        depth = min(depth or depths[0], depths[-1])
        window = memory.divisions * scale
        srate = min(memory.max_rate[group], depth / window)
        return cls(scale, offset, srate, max(1, round(srate * window)), memory.divisions)

    @property
    def raw_xorigin(self) -> float:
        """Time of the first memory point relative to the trigger, s."""
        return self.offset - self.points / (2 * self.srate)

    @property
    def screen_xorigin(self) -> float:
        return self.offset - self.divisions * self.scale / 2

    @property
    def screen_xinc(self) -> float:
        return self.scale / 100

    @property
    def end_after_trigger(self) -> float:
        return self.offset + self.points / (2 * self.srate)

    @property
    def before_trigger(self) -> float:
        """How much of the record lies before the trigger, s (what must be filled first)."""
        return max(0.0, -self.raw_xorigin)


@dataclass(frozen=True)
class Record:
    """One acquisition: its geometry, the clock time of its trigger, and its noise seed."""

    geometry: Geometry
    t_trigger: float
    seed: tuple[int, ...]


@dataclass
class TriggerSettings:
    mode: str = "EDGE"
    source: int = 1
    slope: str = "POSITIVE"  # POSITIVE, NEGATIVE, RFALL
    level: float = 0.0
    sweep: str = "AUTO"  # AUTO, NORMAL, SINGLE

    @property
    def rising(self) -> bool | None:
        return {"POSITIVE": True, "NEGATIVE": False}.get(self.slope)


def unit_gain(channel: int) -> float:
    """A channel that shows its net as it is."""
    return 1.0


class Acquisition:
    """Run/stop state machine of the scope against the world's nets.

    `rearm` None (instant timing): a trigger counts from the moment of arming. A time in s
    (real timing): only after that dead time and the record's pre-trigger part. `gain(channel)`
    is what the channel shows per unit of its net (a probe's and the scope's scaling).
    """

    def __init__(
        self,
        world: World,
        channel_nets: dict[int, str],
        seed: int = 0,
        gain: Callable[[int], float] = unit_gain,
    ) -> None:
        self.world = world
        self.channel_nets = channel_nets
        self.gain = gain
        self.rearm: float | None = None
        self._seed = seed
        self._counter = itertools.count()
        self.running = True
        self._arm_time = world.clock()
        self._trigger_time: float | None = None
        self._frozen: Record | None = None
        self._acquisition = next(self._counter)

    def run(self) -> None:
        self.running, self._frozen = True, None
        self._arm_time, self._trigger_time = self.world.clock(), None
        self._acquisition = next(self._counter)

    def stop(self, geometry: Geometry) -> None:
        if self.running:
            self._frozen = self.record(geometry)
            self.running = False

    def force(self) -> None:
        if self.running and self._trigger_time is None:
            self._trigger_time = self.world.clock()

    def armed_at(self, geometry: Geometry) -> float:
        """Clock time from which a trigger edge counts."""
        if self.rearm is None:
            return self._arm_time
        return self._arm_time + self.rearm + geometry.before_trigger

    def update(self, trigger: TriggerSettings, geometry: Geometry) -> None:
        """Look for the trigger edge; complete a single acquisition once its record is full."""
        if not self.running:
            return
        now = self.world.clock()
        net = self.channel_nets.get(trigger.source)
        if self._trigger_time is None and net is not None:
            after = self.armed_at(geometry)
            level = trigger.level / self.gain(trigger.source)
            t = self.world.first_crossing(net, level, trigger.rising, after)
            self._trigger_time = t if t is not None and t <= now else None
        done = (
            self._trigger_time is not None
            and now >= self._trigger_time + geometry.end_after_trigger
        )
        if trigger.sweep == "SINGLE" and done:
            self.stop(geometry)

    def status(self, trigger: TriggerSettings, geometry: Geometry) -> str:
        """STOP, TD (triggered), ARM (filling the pre-trigger part), AUTO or WAIT."""
        if not self.running:
            return "STOP"
        if self._trigger_time is not None:
            return "TD"
        if self.world.clock() < self.armed_at(geometry):
            return "ARM"
        return "AUTO" if trigger.sweep == "AUTO" else "WAIT"

    def record(self, geometry: Geometry) -> Record:
        """The frozen record when stopped; while running the live one (untriggered: ending now)."""
        if self._frozen is not None:
            return self._frozen
        t = self._trigger_time
        if t is None:
            t = self.world.clock() - geometry.end_after_trigger
        return Record(geometry, t, (self._seed, self._acquisition))

    def volts(
        self, record: Record, channel: int, raw: bool, start: int, count: int, step: int = 1
    ) -> npt.NDArray[np.float64]:
        """Points `start, start+step, ...` (`count` of them, 0-based) of the channel, from RAW
        memory or the screen grid. A sparse read (`step` > 1) is the grid of every step-th
        point through `start`."""
        g = record.geometry
        xorigin, dt = (g.raw_xorigin, 1 / g.srate) if raw else (g.screen_xorigin, g.screen_xinc)
        phase, first = start % step, start // step
        seed = (*record.seed, channel, int(raw), *((step, phase) if step > 1 else ()))
        net = self.channel_nets.get(channel)
        if net is None:  # an unconnected input shows only its noise
            return noise.gaussian(seed, first, count, self.world.noise_rms())
        t_first = record.t_trigger + xorigin + phase * dt
        return self.world.render(net, t_first, dt * step, first, count, seed) * self.gain(channel)
