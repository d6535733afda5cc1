"""The simulated current profiler: an autoranging USB profiler fed by the DUT model's power states.

Real profilers (Joulescope, PPK2, Otii) are reached through their vendors' Python libraries, not
SCPI, so this one is an in-process `CurrentProfiler` rather than a socket server. It samples the
`WakeSchedule` of one MCU or sensor unit (`power_profile`) at 1 MS/s divided by a whole number,
up to tens of seconds, chunk by chunk, paced like the device (`pace`: in real time; else as
fast as it is computed). Faults as a real device has them: `stall_after` samples it stops
sending (the capture ends in an error once `stall_timeout` passes on its clock),
`unplug_after` samples it is unplugged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Self

from benchtest.driver.base import Identity, Instrument
from benchtest.driver.profiler import (
    DEFAULT_CHUNK_POINTS,
    DEFAULT_STALL_TIMEOUT,
    ProfilerBase,
    StallWatch,
)
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.power_profile import ProfileSource, WakeSchedule
from benchtest.sim.models.sensor import SensorModel
from benchtest.values.errors import ConnectionLostError, InstrumentError
from benchtest.values.profile import ProfileChunk
from benchtest.values.ratings import NO_GUARD, SourceGuard

BASE_RATE = 1e6  # S/s: the converter's rate; lower rates are whole divisions of it


class SimulatedProfiler(ProfilerBase, Instrument):
    """A simulated profiler on one MCU or sensor unit supplied at `vdd` V (module doc)."""

    capabilities: ClassVar[tuple[str, ...]] = ("CurrentProfiler",)
    driver_name: ClassVar[str] = "sim.profiler"
    safe_state_sends: ClassVar[bool] = False
    max_sample_rate: ClassVar[float] = BASE_RATE

    def __init__(
        self,
        unit: McuModel | SensorModel,
        *,
        vdd: float,
        role: str = "profiler",
        seed: int = 0,
        pace: bool = False,
        stall_after: int | None = None,
        unplug_after: int | None = None,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(role=role, guard=NO_GUARD)
        self.schedule = WakeSchedule.of(unit, vdd)
        self.serial = unit.serial or "typical"
        self.seed = seed
        self.pace = pace
        self.stall_after, self.unplug_after = stall_after, unplug_after
        self.stall_timeout = stall_timeout
        self.clock, self.sleep = clock, sleep
        self.closed = False

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        raise InstrumentError(
            "the simulated profiler is built on a DUT model unit (SimulatedProfiler(unit, "
            f"vdd=...)), not opened from a resource such as {resource!r}",
            role=role,
        )

    def identify(self) -> Identity:
        return Identity("benchtest", "simulated current profiler", self.serial, "1.0")

    def safe_state(self) -> None:
        """A profiler sources nothing: nothing to make safe."""

    def close(self) -> None:
        self.closed = True

    def settings(self) -> Mapping[str, float]:
        return {"base_rate": BASE_RATE, "vdd": self.schedule.supply}

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = DEFAULT_CHUNK_POINTS
    ) -> Iterator[ProfileChunk]:
        count = self.check_capture(duration, sample_rate, chunk_points)
        divider = BASE_RATE / float(sample_rate)
        if abs(divider - round(divider)) > 1e-9 * divider:
            raise InstrumentError(
                f"sample rate {sample_rate!r} S/s is not one this profiler delivers "
                f"({BASE_RATE:g} S/s divided by a whole number)",
                role=self.role,
            )
        if self.closed:
            raise ConnectionLostError("the profiler is closed", role=self.role)
        self.capture_info = {"ranges": "auto", "base_rate": BASE_RATE}
        source = ProfileSource(self.schedule, float(sample_rate), seed=(self.seed,))
        return self._chunks(source, count, int(chunk_points), float(sample_rate))

    def _chunks(
        self, source: ProfileSource, count: int, chunk_points: int, rate: float
    ) -> Iterator[ProfileChunk]:
        watch = StallWatch(self.role, self.stall_timeout, self.clock)
        started = self.clock()
        sent = 0
        while sent < count:
            size = min(chunk_points, count - sent)
            if self.unplug_after is not None and sent + size > self.unplug_after:
                size = self.unplug_after - sent
                if size <= 0:
                    raise ConnectionLostError(
                        f"the USB device was unplugged after {sent} samples", role=self.role
                    )
            if self.stall_after is not None and sent + size > self.stall_after:
                size = self.stall_after - sent
                if size <= 0:
                    self.sleep(self.stall_timeout / 4)  # waiting for data that never comes
                    watch.progress(sent)
                    continue
            if self.pace:
                self.sleep(max(0.0, started + (sent + size) / rate - self.clock()))
            yield source.chunk(sent, size)
            sent += size
            watch.progress(sent)
