"""Rigol MSO5000 oscilloscope: the DS1000Z command set with the MSO5000's own limits.

The MSO5000 guide uses the DS1000Z's commands, preamble and TMC blocks, so this is the DS1000Z
driver with the model's facts: a 10-division grid (1000 screen points, read from the preamble),
probe ratios 0.0001x to 50000x, 1 ns to 1000 s/div and up to 200 Mpts of memory. No per-read
limit is documented, so deep memory is read in the DS1000Z's 250 000-point chunks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from benchtest.driver.scpi import (
    Control,
    strict_discrete_set,
    strict_int_range,
    strict_range,
)
from instruments.rigol.ds1000z import RigolChannel, RigolDS1000Z

if TYPE_CHECKING:
    from instruments.capabilities import Oscilloscope

T = TypeVar("T")
PROBE_RATIOS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000,
                50000)  # fmt: skip
MAX_MEMORY_POINTS = 200_000_000


def revalidated(prop: Control[T], validator: Callable[[T], T]) -> Control[T]:
    """The same command as `prop`, checked by another model's `validator`."""
    clone = copy.copy(prop)
    clone.validator = validator
    return clone


class Mso5000Channel(RigolChannel):
    """Vertical setup of one analog channel; the MSO5000 adds very low and high probe ratios."""

    probe = revalidated(RigolChannel.probe, strict_discrete_set(PROBE_RATIOS))


class RigolMSO5000(RigolDS1000Z):
    """Rigol MSO5000-series oscilloscope. Implements `Oscilloscope`."""

    driver_name = "rigol.mso5000"
    channel_class = Mso5000Channel

    timebase_scale = revalidated(RigolDS1000Z.timebase_scale, strict_range(1e-9, 1000.0))
    waveform_start = revalidated(
        RigolDS1000Z.waveform_start, strict_int_range(1, MAX_MEMORY_POINTS)
    )
    waveform_stop = revalidated(RigolDS1000Z.waveform_stop, strict_int_range(1, MAX_MEMORY_POINTS))


if TYPE_CHECKING:
    _capability: type[Oscilloscope] = RigolMSO5000
