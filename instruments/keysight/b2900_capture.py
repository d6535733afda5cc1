"""Keysight B2900 current profiling: timer-paced sampling into the trace buffer, read as it fills.

The B2900's acquire trigger runs on its own timer (`:TRIGger<c>:ACQuire:SOURce TIMer`,
`:TRIGger<c>:ACQuire:TIMer <interval>`, at least 20 us on the B2901A/B2902A), so the samples
are equally spaced. A capture measures current and voltage on a fixed current range with an
aperture of half the interval (8 us at least) and feeds the trace buffer, emptied first: it keeps
an earlier capture's readings, an aborted capture leaves it writing, and `:CLEar`, `:FEED` and
`:POINts` work only while it does not (`:TRACe<c>:FEED:CONTrol NEVer`, `:TRACe<c>:CLEar`,
`:TRACe<c>:FEED SENSe`, `:TRACe<c>:POINts <n>`, `:TRACe<c>:FEED:CONTrol NEXT`, at most
100 000 points). It starts the acquisition
alone with `:INITiate:ACQuire (@<c>)` (the source stays at its DC level) and, while it runs,
reads `:TRACe<c>:POINts:ACTual?` and `:TRACe<c>:DATA? <offset>,<size>`, whose
`:FORMat:ELEMents:SENSe VOLTage,CURRent` come in the instrument's fixed order (voltage first,
whatever order they were named in). `:ABORt:ACQuire (@<c>)` ends a capture early.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import ClassVar

from benchtest.driver.buffered_capture import BufferedCapture
from benchtest.driver.profiler import StallWatch
from benchtest.driver.scpi import format_value, parse_int
from benchtest.driver.sweeps import parse_points
from benchtest.values.profile import ProfileChunk, range_changes

#: Points per `:TRACe:DATA?` read.
READ_POINTS = 10_000
MIN_APERTURE = 8e-6  # s


class KeysightB2900Capture(BufferedCapture):
    """`CurrentProfiler` for one B2900 channel (a mixin of `KeysightB2900`)."""

    max_sample_rate: ClassVar[float] = 50_000.0  # the 20 us minimum timer interval
    max_capture_points: ClassVar[int] = 100_000
    buffer_name: ClassVar[str] = "B2900's trace buffer"
    current_ranges: ClassVar[tuple[float, ...]] = (
        100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 1.5, 3.0,
    )  # fmt: skip
    channel: int = 1

    def capture_commands(self, count: int, sample_rate: float) -> list[str]:
        c = self.channel
        interval = 1.0 / sample_rate
        aperture = max(MIN_APERTURE, interval / 2)
        self.note(interval=interval)
        return [
            f':SENSe{c}:FUNCtion:ON "CURR","VOLT"',
            f":SENSe{c}:CURRent:RANGe:AUTO OFF",
            f":SENSe{c}:CURRent:RANGe {format_value(self.fixed_range())}",
            f":SENSe{c}:CURRent:APERture {format_value(aperture)}",
            f":SENSe{c}:VOLTage:APERture {format_value(aperture)}",
            ":FORMat:ELEMents:SENSe VOLTage,CURRent",
            f":TRIGger{c}:ACQuire:SOURce TIMer",
            f":TRIGger{c}:ACQuire:TIMer {format_value(interval)}",
            f":TRIGger{c}:ACQuire:DELay 0",
            f":TRIGger{c}:ACQuire:COUNt {count}",
            # writing off (FEED, POINts and CLEar need it), and no earlier capture's readings
            f":TRACe{c}:FEED:CONTrol NEVer",
            f":TRACe{c}:CLEar",
            f":TRACe{c}:FEED SENSe",
            f":TRACe{c}:POINts {count}",
            f":TRACe{c}:FEED:CONTrol NEXT",
        ]

    def start_command(self) -> str:
        return f":INITiate:ACQuire (@{self.channel})"

    def abort_command(self) -> str:
        return f":ABORt:ACQuire (@{self.channel})"

    def read_while_running(
        self, count: int, sample_rate: float, chunk_points: int
    ) -> Iterator[ProfileChunk]:
        c = self.channel
        watch = StallWatch(self.role, self.stall_timeout)
        got = 0
        per_read = min(READ_POINTS, chunk_points)
        while got < count:
            stored = self.query_value(f":TRACe{c}:POINts:ACTual?", parse_int)
            watch.progress(stored)
            if stored <= got:
                time.sleep(self.poll_interval)
                continue
            size = min(stored, count, got + per_read) - got
            rows = self.query_value(
                f":TRACe{c}:DATA? {got},{size}", partial(parse_points, width=2, count=size)
            )
            ranges = range_changes([(0, self.fixed_range())] if got == 0 else [])
            # the B2900 sends the elements in its own order: voltage, then current
            yield ProfileChunk(got, rows[:, 1].copy(), rows[:, 0].copy(), ranges)
            got += size
