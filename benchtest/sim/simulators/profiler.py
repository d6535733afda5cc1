"""The simulated current profiler: an autoranging profiler fed by the DUT model's power states.

It samples the `WakeSchedule` of one MCU or sensor unit (`power_profile`) at 1 MS/s divided by
a whole number, chunk by chunk. Two ways to reach it:

- `SimulatedProfiler(unit, vdd=...)`: an in-process `CurrentProfiler` on a model unit, paced
  like the device (`pace`: in real time; else as fast as it is computed), with faults as a
  real device has them: `stall_after` samples it stops sending (the capture ends in an error
  once `stall_timeout` passes on its clock), `unplug_after` samples it is unplugged.
- `ProfilerServer`: the `profiler` role of the simulated bench, a SCPI server on loopback TCP
  (driver `sim.profiler`, `instruments.simulated.profiler`), supplying the bench's part at its
  recommended `vdd` (typ) like a PPK2 or Otii that sources the DUT. Its dialect:
  `:SENSe:RATE <S/s>` (1 MS/s divided by a whole number), `:ACQuire:POINts <n>`, `:INITiate`
  (a new capture from sample 0), `:ABORt`, `:ACQuire:COUNt?` (samples taken so far: all at
  once with instant timing, at the sample rate with real timing) and
  `:FETCh:DATA? <first>,<count>` (at most `MAX_FETCH` samples), a definite-length block of
  little-endian float64, per sample the current (A), the voltage (V) and the full scale of the
  range it was taken on (A). Errors go to the queue (`:SYSTem:ERRor?`, `code,"message"`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Self

import numpy as np

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
from benchtest.sim.models.world import World
from benchtest.sim.server.scpi import (
    DATA_OUT_OF_RANGE,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    TOO_MUCH_DATA,
    Request,
    ScpiError,
    in_range,
    parse_float,
    parse_int,
)
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.values.errors import ConnectionLostError, InstrumentError
from benchtest.values.profile import ProfileChunk
from benchtest.values.ratings import NO_GUARD, SourceGuard

BASE_RATE = 1e6  # S/s: the converter's rate; lower rates are whole divisions of it
MAX_POINTS = 100_000_000  # samples in one capture of the served profiler (100 s at 1 MS/s)
MAX_FETCH = 100_000  # samples per :FETCh:DATA? (2.4 MB)


def divides_base_rate(sample_rate: float) -> bool:
    """Whether `sample_rate` is 1 MS/s divided by a whole number."""
    divider = BASE_RATE / float(sample_rate)
    return divider >= 1 - 1e-9 and abs(divider - round(divider)) <= 1e-9 * divider


class SimulatedProfiler(ProfilerBase, Instrument):
    """A simulated profiler on one MCU or sensor unit supplied at `vdd` V (module doc)."""

    capabilities: ClassVar[tuple[str, ...]] = ("CurrentProfiler",)
    driver_name: ClassVar[str] = ""  # not a bench-file driver (that is sim.profiler, the server)
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
            "this simulated profiler is built on a DUT model unit (SimulatedProfiler(unit, "
            f"vdd=...)), not opened from a resource such as {resource!r}; a bench file "
            "reaches the simulated bench's profiler with driver sim.profiler",
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
        if not divides_base_rate(sample_rate):
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


class ProfilerServer(ScpiServer):
    """The simulated bench's profiler role on loopback TCP (see the module doc): it supplies
    the world's part at `vdd` V and samples the part's power profile."""

    identity = "BENCHTEST,SIMULATED CURRENT PROFILER,{serial},1.0"

    def __init__(
        self, world: World, *, vdd: float | None, role: str = "profiler", seed: int = 0
    ) -> None:
        self.world = world
        self.vdd = vdd
        self.seed = seed
        self.sample_rate = BASE_RATE
        self.points = 1
        self._source: ProfileSource | None = None
        self._started: float | None = None  # monotonic time of :INITiate
        self._stopped_at: int | None = None  # samples taken when :ABORt came
        self._captures = 0
        super().__init__(role=role)
        self.identity = self.identity.format(serial=getattr(world.model, "serial", "") or "0")

    @classmethod
    def on_bench(
        cls, world: World, profile: Mapping[str, Any], *, role: str, seed: int
    ) -> ProfilerServer:
        """The profiler of a simulated bench: it supplies the part at the profile's
        recommended `vdd` (typ)."""
        vdd = ((profile.get("recommended_operating") or {}).get("vdd") or {}).get("typ")
        return cls(world, vdd=None if vdd is None else float(vdd), role=role, seed=seed)

    def format_error(self, code: int, message: str) -> str:
        return f'{code:+d},"{message}"'

    def reset(self) -> None:
        self.sample_rate, self.points = BASE_RATE, 1
        self._source, self._started, self._stopped_at = None, None, None

    def register(self) -> None:
        self.setting(":SENSe:RATE", lambda r: f"{self.sample_rate:.9g}", self._set_rate)
        self.setting(":ACQuire:POINts", lambda r: str(self.points), self._set_points)
        self.command(":ACQuire:COUNt?", lambda r: str(self.taken()))
        self.command(":INITiate[:IMMediate]", self._initiate)
        self.command(":ABORt", self._abort)
        self.command(":FETCh:DATA?", self._fetch)

    def _set_rate(self, request: Request) -> None:
        rate = parse_float(request.arg())
        if not (0 < rate <= BASE_RATE and divides_base_rate(rate)):
            raise ScpiError(DATA_OUT_OF_RANGE, f"{request.arg()} S/s is not 1 MS/s / n")
        self.sample_rate = rate

    def _set_points(self, request: Request) -> None:
        self.points = int(in_range(parse_int(request.arg()), 1, MAX_POINTS))

    def _initiate(self, request: Request) -> None:
        unit = self.world.unit()
        if not isinstance(unit, McuModel | SensorModel):
            raise ScpiError(
                SETTINGS_CONFLICT, f"the simulated {type(unit).__name__} has no power profile"
            )
        if self.vdd is None:
            raise ScpiError(SETTINGS_CONFLICT, "the DUT profile gives no recommended vdd (typ)")
        schedule = WakeSchedule.of(unit, self.vdd)
        self._captures += 1
        self._source = ProfileSource(schedule, self.sample_rate, seed=(self.seed, self._captures))
        self._started, self._stopped_at = time.monotonic(), None

    def _abort(self, request: Request) -> None:
        if self._source is not None and self._stopped_at is None:
            self._stopped_at = self.taken()

    def taken(self) -> int:
        """Samples of the present capture taken by now."""
        if self._source is None or self._started is None:
            return 0
        if self._stopped_at is not None:
            return self._stopped_at
        if not self.delays.real:
            return self.points
        elapsed = time.monotonic() - self._started
        return min(self.points, int(elapsed * self.sample_rate))

    def _fetch(self, request: Request) -> bytes:
        if len(request.args) != 2:
            raise ScpiError(MISSING_PARAMETER, request.text)
        first, count = parse_int(request.args[0]), parse_int(request.args[1])
        if count > MAX_FETCH:
            raise ScpiError(TOO_MUCH_DATA, f"{count} samples (at most {MAX_FETCH} per query)")
        taken = self.taken()
        if not (first >= 0 and count >= 1 and first + count <= taken) or self._source is None:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{first},{count} of {taken} samples taken")
        chunk, scale = self._source.readings(first, count)
        assert chunk.voltage is not None
        table = np.column_stack((chunk.current, chunk.voltage, scale)).astype("<f8")
        payload = table.tobytes()
        return b"#9%09d" % len(payload) + payload + b"\n"
