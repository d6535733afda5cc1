"""The simulated bench's current profiler (`benchtest.sim.simulators.profiler.ProfilerServer`).

Real profilers are reached through their vendors' libraries; the simulated one is a SCPI server
on loopback TCP, so a `--sim` run reaches its `profiler` role through PyVISA like any other
instrument. Its dialect: `:SENSe:RATE <S/s>` (1 MS/s divided by a whole number),
`:ACQuire:POINts <n>`, `:INITiate`, `:ABORt`, `:ACQuire:COUNt?` (samples taken so far) and
`:FETCh:DATA? <first>,<count>`, a definite-length block of little-endian float64 with, per
sample, the current (A), the voltage (V) and the full scale of its range (A). It autoranges:
the range changes are read from the per-sample full scales.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from benchtest.driver.profiler import (
    DEFAULT_CHUNK_POINTS,
    DEFAULT_STALL_TIMEOUT,
    ProfilerBase,
    StallWatch,
)
from benchtest.driver.scpi import ScpiInstrument, format_value, parse_int
from benchtest.values.errors import InstrumentError, ProtocolError
from benchtest.values.profile import ProfileChunk, range_changes

BASE_RATE = 1e6  # S/s; the profiler delivers this divided by a whole number
MAX_POINTS = 100_000_000  # samples in one capture
READ_POINTS = 100_000  # samples per :FETCh:DATA?
COLUMNS = 3  # current, voltage, range full scale


class SimProfiler(ScpiInstrument, ProfilerBase):
    """The simulated bench's autoranging current profiler. Implements `CurrentProfiler`."""

    driver_name: ClassVar[str] = "sim.profiler"
    capabilities: ClassVar[tuple[str, ...]] = ("CurrentProfiler",)
    safe_state_sends: ClassVar[bool] = False  # it supplies a simulated part: nothing to switch
    max_sample_rate: ClassVar[float] = BASE_RATE
    poll_interval: float = 0.02  # s between polls of the samples taken
    stall_timeout: float = DEFAULT_STALL_TIMEOUT

    def safe_state(self) -> None:
        """Nothing to make safe (see `safe_state_sends`)."""

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
        if count > MAX_POINTS:
            raise InstrumentError(
                f"{count} samples are beyond one capture of this profiler ({MAX_POINTS})",
                role=self.role,
            )
        self.capture_info = {"ranges": "auto", "base_rate": BASE_RATE}
        commands = [f":SENSe:RATE {format_value(float(sample_rate))}", f":ACQuire:POINts {count}"]
        for command in commands:
            self.write(command, check=False)
        self.check_errors(after=commands[-1])
        return self._run(count, min(int(chunk_points), READ_POINTS))

    def _run(self, count: int, per_read: int) -> Iterator[ProfileChunk]:
        self.write(":INITiate")  # an error (a part without a power profile) is raised here
        try:
            yield from self._read(count, per_read)
        except BaseException:
            with contextlib.suppress(InstrumentError):  # the failure itself is what counts
                self.write(":ABORt", check=False)
            raise

    def _read(self, count: int, per_read: int) -> Iterator[ProfileChunk]:
        watch = StallWatch(self.role, self.stall_timeout)
        got, last_range = 0, math.nan
        while got < count:
            taken = self.query_value(":ACQuire:COUNt?", parse_int)
            watch.progress(taken)
            if taken <= got:
                time.sleep(self.poll_interval)
                continue
            size = min(taken, count, got + per_read) - got
            command = f":FETCh:DATA? {got},{size}"
            payload = self.read_block(command)
            if len(payload) != size * COLUMNS * 8:
                raise ProtocolError(
                    f"expected {size * COLUMNS * 8} bytes ({size} samples), got {len(payload)}",
                    role=self.role,
                    command=command,
                )
            table = np.frombuffer(payload, dtype="<f8").reshape(size, COLUMNS)
            scale = table[:, 2]
            previous = np.concatenate(([last_range], scale[:-1]))
            changed = np.flatnonzero(scale != previous)
            rows = [(got + int(i), float(scale[i])) for i in changed]
            yield ProfileChunk(
                got, table[:, 0].astype(np.float64), table[:, 1].astype(np.float64),
                range_changes(rows),
            )  # fmt: skip
            last_range = float(scale[-1])
            got += size
