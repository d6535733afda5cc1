"""WAVEDESC, the binary waveform descriptor of the Siglent `:WAVeform:PREamble?` reply.

346 little-endian bytes in the LeCroy layout; the fields a reader needs sit at the offsets the
SDS programming guide documents. Codes per division and ADC bits are read from it, never
assumed: volts = code / codes_per_div x (gain x probe) - offset x probe, and the first point
lies at -tdiv x 10/2 + delay, with tdiv from the timebase index table (200 ps to 1000 s, 1-2-5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

NAME = b"WAVEDESC"
LENGTH = 346
TIMEBASES = tuple(
    float(f"{mantissa}e{exponent}") for exponent in range(-10, 4) for mantissa in (1, 2, 5)
)[1:-2]  # 200 ps ... 1000 s
FIELDS = (  # name, offset, struct format
    ("data_bytes", 0x3C, "<i"),  # WAVE_ARRAY_1: bytes of data
    ("points", 0x74, "<i"),  # WAVE_ARRAY_COUNT
    ("first_point", 0x84, "<i"),
    ("sparsing", 0x88, "<i"),
    ("vertical_gain", 0x9C, "<f"),  # V/div before the probe
    ("vertical_offset", 0xA0, "<f"),  # V before the probe
    ("codes_per_division", 0xA4, "<f"),
    ("adc_bits", 0xAC, "<h"),
    ("sample_interval", 0xB0, "<f"),  # s
    ("horizontal_delay", 0xB4, "<d"),  # s
    ("timebase_index", 0x144, "<h"),
    ("probe", 0x148, "<f"),
)


@dataclass(frozen=True)
class WaveDescriptor:
    """The fields of one descriptor, as the instrument sent them."""

    data_bytes: int
    points: int
    first_point: int
    sparsing: int
    vertical_gain: float
    vertical_offset: float
    codes_per_division: float
    adc_bits: int
    sample_interval: float
    horizontal_delay: float
    timebase_index: int
    probe: float

    @classmethod
    def parse(cls, data: bytes) -> WaveDescriptor:
        """Parse a descriptor; ValueError when it is short, mislabelled or implausible."""
        if len(data) < LENGTH or not data.startswith(NAME):
            raise ValueError(f"not a {LENGTH}-byte WAVEDESC descriptor ({len(data)} bytes)")
        fields = {name: struct.unpack_from(fmt, data, offset)[0] for name, offset, fmt in FIELDS}
        descriptor = cls(**fields)
        descriptor._validate()
        return descriptor

    def _validate(self) -> None:
        if not 0 <= self.timebase_index < len(TIMEBASES):
            raise ValueError(f"timebase index {self.timebase_index} is outside the table")
        for name in ("vertical_gain", "codes_per_division", "sample_interval", "probe"):
            if not getattr(self, name) > 0:
                raise ValueError(f"descriptor field {name} must be positive")

    @property
    def volts_per_division(self) -> float:
        return self.vertical_gain * self.probe

    @property
    def offset_volts(self) -> float:
        return self.vertical_offset * self.probe

    @property
    def timebase_scale(self) -> float:
        return TIMEBASES[self.timebase_index]

    @property
    def width(self) -> str:
        """`:WAVeform:WIDTh` for this ADC: WORD (int16) above 8 bits, else BYTE (int8)."""
        return "WORD" if self.adc_bits > 8 else "BYTE"

    @property
    def dtype(self) -> str:
        return "<i2" if self.adc_bits > 8 else "i1"
