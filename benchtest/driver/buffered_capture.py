"""The current-profile flow of an SCPI instrument that fills a reading buffer and is read as it
fills (the Keithley 2450's `defbuffer1`, the Keysight B2900's trace buffer).

A model declares its buffer's size, the commands that set a capture up, the command that
starts it and the one that aborts it, and how it reads what is stored; this base checks the
request, sends the set-up and reads the error queue once, starts the capture, and aborts it
when reading fails or the consumer stops early. Captures use a fixed range: autoranging
between readings is far too slow for a wake-up. `current_range` (A) is the current the range
must hold; `fixed_range` is the model's smallest range that does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar

from benchtest.driver.profiler import DEFAULT_CHUNK_POINTS, DEFAULT_STALL_TIMEOUT, ProfilerBase
from benchtest.driver.scpi import ScpiInstrument
from benchtest.values.errors import InstrumentError
from benchtest.values.profile import ProfileChunk


class BufferedCapture(ScpiInstrument, ProfilerBase):
    """A `CurrentProfiler` on an SCPI reading buffer (see the module doc)."""

    max_capture_points: ClassVar[int] = 0
    buffer_name: ClassVar[str] = "reading buffer"
    current_ranges: ClassVar[tuple[float, ...]] = ()
    poll_interval: float = 0.05  # s between polls of the stored count
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    current_range: float = 100e-3

    def capture_commands(self, count: int, sample_rate: float) -> list[str]:
        """The set-up of a capture of `count` samples at `sample_rate`."""
        raise NotImplementedError

    def start_command(self) -> str:
        raise NotImplementedError

    def abort_command(self) -> str:
        raise NotImplementedError

    def read_while_running(
        self, count: int, sample_rate: float, chunk_points: int
    ) -> Iterator[ProfileChunk]:
        """Poll the stored count and yield what is new until `count` samples are read."""
        raise NotImplementedError

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = DEFAULT_CHUNK_POINTS
    ) -> Iterator[ProfileChunk]:
        count = self.check_capture(duration, sample_rate, chunk_points)
        if count > self.max_capture_points:
            raise InstrumentError(
                f"{count} samples do not fit the {self.buffer_name} "
                f"({self.max_capture_points}); capture for less time or at a lower rate",
                role=self.role,
            )
        self.capture_info = {"current_range": self.fixed_range()}  # set-up may add to it
        commands = self.capture_commands(count, float(sample_rate))
        for command in commands:
            self.write(command, check=False)
        self.check_errors(after="the capture set-up: " + "; ".join(commands))
        return self._run(count, float(sample_rate), int(chunk_points))

    def _run(self, count: int, sample_rate: float, chunk_points: int) -> Iterator[ProfileChunk]:
        start = self.start_command()
        self.write(start, check=False)
        try:
            yield from self.read_while_running(count, sample_rate, chunk_points)
        except BaseException:
            with contextlib.suppress(InstrumentError):  # the failure itself is what counts
                self.write(self.abort_command(), check=False)
            raise
        self.check_errors(after=start)

    def fixed_range(self) -> float:
        """The smallest current range that holds `current_range`."""
        wanted = float(self.current_range)
        for full_scale in self.current_ranges:
            if wanted <= full_scale * 1.0001:
                return full_scale
        raise InstrumentError(
            f"current range {wanted!r} A is beyond the largest range "
            f"({max(self.current_ranges, default=0):g} A)",
            role=self.role,
        )
