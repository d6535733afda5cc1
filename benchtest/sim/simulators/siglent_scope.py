"""What the simulated Siglent oscilloscopes share: settings, acquisition and signed codes.

Both Siglent dialects drive the simulated Rigol's machinery (the acquisition state machine,
record geometry and rendering of `scope_acquisition`) with Siglent's conventions: the record
spans the whole grid, codes are signed and centred on 0 (volts = code / codes-per-division x
V/div - offset), and a read may take every n-th point. A subclass registers one dialect.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from benchtest.sim.simulators.scope_acquisition import Record, TriggerSettings
from benchtest.sim.simulators.scope_measure import value
from benchtest.sim.simulators.scope_server import ScopeServer

VERTICAL_DIVISIONS = 8
MEASURE_POINTS = 1000  # a measurement looks at the record decimated to about this many points
Codes = npt.NDArray[np.int8] | npt.NDArray[np.int16]


def three_digits(number: float) -> float:
    """A setting as the scope keeps and reports it: three significant digits."""
    return float(f"{number:.2E}")


class SiglentScope(ScopeServer):
    """A four-channel Siglent scope on the world's nets (`channel_nets`: channel -> net)."""

    codes_per_division: ClassVar[int] = 25
    probe_ratios: ClassVar[tuple[float, ...]] = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200,
                                                 500, 1000, 2000, 5000, 10000)  # fmt: skip
    scale_range: ClassVar[tuple[float, float]] = (5e-4, 10.0)
    offset_ranges: ClassVar[tuple[float, float, float]] = (0.1, 2.0, 40.0)
    timebase_range: ClassVar[tuple[float, float]] = (1e-9, 100.0)

    def _defaults(self) -> None:
        super()._defaults()
        self.adc_bits = 8

    def kept(self, value: float) -> float:
        return three_digits(value)

    # -- acquisition -------------------------------------------------------------------------

    def trigger_settings(self) -> TriggerSettings:
        """The edge trigger in effect (a dialect may keep level and slope per channel)."""
        return self.trigger

    def refresh(self) -> Record:
        """Advance the acquisition (a single one may complete now) and return its record."""
        geometry = self.geometry()
        was_running = self.acquisition.running
        self.acquisition.update(self.trigger_settings(), geometry)
        if was_running and not self.acquisition.running:
            self.acquired()
        return self.acquisition.record(geometry)

    def acquired(self) -> None:
        """Called when a single acquisition completes."""

    def arm_single(self) -> None:
        self.trigger.sweep = "SINGLE"
        self.acquisition.run()

    def stop_acquisition(self) -> None:
        self.refresh()
        self.acquisition.stop(self.geometry())

    # -- data --------------------------------------------------------------------------------

    @property
    def full_codes_per_division(self) -> int:
        """Codes per division at the ADC's resolution (8-bit codes scaled up)."""
        return self.codes_per_division << (self.adc_bits - 8)

    def codes(
        self, record: Record, channel: int, first: int, count: int, step: int, bits: int
    ) -> Codes:
        """Points first, first+step, ... of a channel's record as signed codes in `bits`-bit
        words (8: the top 8 bits of the ADC's code; 16: the whole code)."""
        settings = self.channels[channel]
        if settings.coupling == "GND":
            volts = np.zeros(count)
        else:
            volts = self.acquisition.volts(record, channel, True, first, count, step)
        per_volt = self.full_codes_per_division / settings.scale
        full = np.rint((volts + settings.offset) * per_volt)
        limit = 1 << (self.adc_bits - 1)
        shift = max(self.adc_bits - bits, 0)
        clipped = np.clip(full, -limit, limit - 1).astype(np.int16) >> shift
        return clipped.astype(np.int8) if bits <= 8 else clipped

    def measured(self, item: str, channel: int) -> float | None:
        """`item` (a key of scope_measure.ITEMS) of the channel's record, None if unmeasurable."""
        settings = self.channels[channel]
        record = self.refresh()
        if not settings.display:
            return None
        g = record.geometry
        step = max(1, g.points // MEASURE_POINTS)
        codes = self.codes(record, channel, 0, math.ceil(g.points / step), step, self.adc_bits)
        per_code = settings.scale / self.full_codes_per_division
        volts = codes.astype(np.float64) * per_code - settings.offset
        return value(item, volts, step / g.srate, VERTICAL_DIVISIONS * settings.scale)

    def sparse_points(self, record: Record, first: int, step: int) -> int:
        """How many points a read from `first`, taking every `step`-th, can return."""
        return max(0, math.ceil((record.geometry.points - first) / step))
