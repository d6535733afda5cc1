"""Keithley 2450 current profiling: a fast reading buffer streamed while it fills.

The 2450 has no sample clock: it takes readings back to back, each taking its aperture plus a
conversion overhead (3000 readings per second at 0.01 PLC and 60 Hz with autozero off), after
the trigger model's delay. A capture therefore sets the current function on a fixed range,
autozero off and the aperture that fits the requested rate (half of each interval, from the
line frequency `:SYSTem:LFRequency?`), source readback on, sizes and clears `defbuffer1`,
loads the predefined trigger model
`:TRIGger:LOAD "SimpleLoop", <count>, <delay>, "defbuffer1"` with the delay that fills the rest
of each interval (`READING_OVERHEAD` is the overhead taken), and starts it with `:INITiate`. A
rate faster than 0.01 PLC plus the overhead at the line frequency is refused. While it
runs, `:TRACe:ACTual?` says how many readings are stored and
`:TRACe:DATA? <first>,<last>,"defbuffer1",READ,SOUR,REL` reads them with the source readback
voltage and the relative time stamp; the mean interval of the first readings' time stamps is
checked against the requested rate (within `RATE_TOLERANCE`). `:ABORt` ends a capture early.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from benchtest.driver.buffered_capture import BufferedCapture
from benchtest.driver.profiler import StallWatch
from benchtest.driver.scpi import format_value, parse_int, parse_number
from benchtest.driver.sweeps import parse_points
from benchtest.values.errors import InstrumentError
from benchtest.values.profile import ProfileChunk, range_changes

BUFFER = '"defbuffer1"'
#: Readings per `:TRACe:DATA?` (an ASCII reply of 3 elements each stays below ~1 MB).
READ_POINTS = 10_000
#: Fraction of each reading interval given to the aperture (the rest is conversion overhead).
APERTURE_SHARE = 0.5
#: How far the rate the time stamps show may be from the requested one.
RATE_TOLERANCE = 0.1
#: s a reading takes beyond its aperture with autozero off (3000 readings/s at 0.01 PLC, 60 Hz).
READING_OVERHEAD = 1 / 3000 - 0.01 / 60
MIN_NPLC, MAX_NPLC = 0.01, 10.0


class Keithley2450Capture(BufferedCapture):
    """`CurrentProfiler` for the 2450 (a mixin of `Keithley2450`)."""

    max_sample_rate: ClassVar[float] = 3000.0
    max_capture_points: ClassVar[int] = 1_000_000
    buffer_name: ClassVar[str] = "2450's defbuffer1"
    current_ranges: ClassVar[tuple[float, ...]] = (
        10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0,
    )  # fmt: skip

    def capture_commands(self, count: int, sample_rate: float) -> list[str]:
        """Current function on the fixed range, autozero off, the aperture for the rate,
        source readback on, the buffer sized and cleared, the SimpleLoop trigger model with
        the delay that paces the readings at the rate."""
        line = self.query_value(":SYSTem:LFRequency?", parse_number)
        interval = 1.0 / sample_rate
        fastest = MIN_NPLC / line + READING_OVERHEAD
        if interval < fastest * (1 - 1e-9):
            raise InstrumentError(
                f"sample rate {sample_rate:g} S/s is beyond the 2450 at {line:g} Hz line "
                f"frequency: at most {1 / fastest:.4g} readings/s (0.01 PLC, autozero off)",
                role=self.role,
            )
        nplc = round(min(MAX_NPLC, max(MIN_NPLC, APERTURE_SHARE * line / sample_rate)), 4)
        delay = round(max(0.0, interval - nplc / line - READING_OVERHEAD), 9)
        self.note(nplc=nplc, trigger_delay=delay)
        return [
            ':SENSe:FUNCtion "CURRent"',
            f":SENSe:CURRent:RANGe {format_value(self.fixed_range())}",
            ":SENSe:CURRent:AZERo OFF",
            f":SENSe:CURRent:NPLCycles {format_value(nplc)}",
            ":SOURce:VOLTage:READ:BACK ON",
            f":TRACe:POINts {count},{BUFFER}",
            f":TRACe:CLEar {BUFFER}",
            f':TRIGger:LOAD "SimpleLoop",{count},{format_value(delay)},{BUFFER}',
        ]

    def start_command(self) -> str:
        return ":INITiate"

    def abort_command(self) -> str:
        return ":ABORt"

    def read_while_running(
        self, count: int, sample_rate: float, chunk_points: int
    ) -> Iterator[ProfileChunk]:
        watch = StallWatch(self.role, self.stall_timeout)
        got, checked = 0, False
        per_read = min(READ_POINTS, chunk_points)
        while got < count:
            stored = self.query_value(f":TRACe:ACTual? {BUFFER}", parse_int)
            watch.progress(stored)
            if stored <= got:
                time.sleep(self.poll_interval)
                continue
            last = min(stored, count, got + per_read)
            query = f":TRACe:DATA? {got + 1},{last},{BUFFER},READ,SOUR,REL"
            rows = self.query_value(query, partial(parse_points, width=3, count=last - got))
            if not checked and len(rows) >= 2:
                self.note(measured_interval=self._interval(rows, sample_rate))
                checked = True
            ranges = range_changes([(0, self.fixed_range())] if got == 0 else [])
            yield ProfileChunk(got, rows[:, 0].copy(), rows[:, 1].copy(), ranges)
            got = last

    def _interval(self, rows: npt.NDArray[np.float64], sample_rate: float) -> float:
        """The mean reading interval the time stamps show; an error when it is off the rate."""
        stamps = rows[:, 2]
        interval = float(stamps[-1] - stamps[0]) / (len(stamps) - 1)
        rate = 1.0 / interval if interval > 0 else float("inf")
        if abs(rate - sample_rate) > RATE_TOLERANCE * sample_rate:
            raise InstrumentError(
                f"the 2450 takes {rate:.4g} readings/s, not the {sample_rate:g} S/s asked for "
                "(its reading rate follows the aperture; choose a lower rate)",
                role=self.role,
                command=":TRACe:DATA?",
            )
        return interval
