"""Builds the 346-byte WAVEDESC descriptor a simulated Siglent SDS2000X Plus sends for `:WAV:PRE?`.

The layout is LeCroy's little-endian WAVEDESC; the fields the SDS guide documents (array length,
point count, first point, sparsing, gain, offset, codes per division, ADC bits, interval, delay,
timebase index, probe) carry the scope's state, the rest the plain defaults of a live trace.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

LENGTH = 346
# The descriptor's timebase index counts 1-2-5 steps from 200 ps (index 0) to 1000 s.
TIMEBASE_TABLE = [m * 10.0**e for e in range(-10, 4) for m in (1, 2, 5)][1:-2]


@dataclass(frozen=True)
class Descriptor:
    """What the descriptor reports about the present source and transfer setup."""

    points: int
    first_point: int
    sparsing: int
    bytes_per_point: int
    gain: float  # V/div before the probe
    offset: float  # V before the probe
    codes_per_division: int
    adc_bits: int
    interval: float  # s between samples
    delay: float  # s, horizontal delay
    timebase: float  # s/div
    probe: float
    source: int  # 0 for C1

    def pack(self) -> bytes:
        data = bytearray(LENGTH)
        struct.pack_into("<16s16shhi", data, 0, b"WAVEDESC", b"WAVEACE", self.bytes_per_point - 1,
                         1, LENGTH)  # fmt: skip
        struct.pack_into("<i", data, 0x3C, self.points * self.bytes_per_point)
        struct.pack_into("<16s", data, 0x4C, b"SDS2104X Plus")
        struct.pack_into("<iiiiii", data, 0x74, self.points, self.points, 0,
                         max(self.points - 1, 0), self.first_point, self.sparsing)  # fmt: skip
        struct.pack_into("<i", data, 0x94, 1)  # sweeps per acquisition
        struct.pack_into("<ffffh", data, 0x9C, self.gain, self.offset, self.codes_per_division,
                         -self.codes_per_division, self.adc_bits)  # fmt: skip
        struct.pack_into("<fd", data, 0xB0, self.interval, self.delay)
        struct.pack_into("<48s48s", data, 0xC4, b"V", b"S")
        struct.pack_into("<hhf", data, 0x144, timebase_index(self.timebase), 0, self.probe)
        struct.pack_into("<h", data, 0x158, self.source)
        return bytes(data)


def timebase_index(seconds_per_division: float) -> int:
    """Position of the table's timebase nearest to `seconds_per_division`."""
    ratios = [abs(math.log(t / seconds_per_division)) for t in TIMEBASE_TABLE]
    return ratios.index(min(ratios))
