"""Simulated Rigol MSO5000 oscilloscope (MSO5074): the DS1000Z dialect on a 10-division grid.

The MSO5000 shares the DS1000Z's commands, preamble and TMC blocks; what differs is the model:
1000 screen points (XINC = TimeScale/100), deeper memory and faster ADC, wider probe ratios and
ranges. No per-read point limit is documented for it (a public tool reads whole records at once),
so this simulator serves any range of the record in one `:WAVeform:DATA?`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from benchtest.sim.server.timing import RIGOL_MSO5000, ScopeTiming
from benchtest.sim.simulators.rigol_ds1000z import RigolDS1000Z
from benchtest.sim.simulators.scope_acquisition import Memory

_DEPTHS_1CH = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 25_000_000, 50_000_000,
               100_000_000, 200_000_000)  # fmt: skip
MSO5000_MEMORY = Memory(
    divisions=10,
    depths={1: _DEPTHS_1CH, 2: _DEPTHS_1CH[:-1], 4: _DEPTHS_1CH[:-2]},
    max_rate={1: 8e9, 2: 4e9, 4: 2e9},
)
MSO5000_PROBE_RATIOS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
                        0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000,
                        50000)  # fmt: skip
WHOLE_RECORD = _DEPTHS_1CH[-1]


class RigolMSO5000(RigolDS1000Z):
    """`RIGOL TECHNOLOGIES,MSO5074`: four channels on the world's nets."""

    identity = "RIGOL TECHNOLOGIES,MSO5074,MS5A000000001,00.01.03.00.03"
    memory: ClassVar[Memory] = MSO5000_MEMORY
    screen_points: ClassVar[int] = 1000
    probe_ratios: ClassVar[tuple[float, ...]] = MSO5000_PROBE_RATIOS
    max_points_per_read: ClassVar[Mapping[str, int]] = {
        "BYTE": WHOLE_RECORD,
        "WORD": WHOLE_RECORD,
        "ASCII": WHOLE_RECORD,
    }
    scale_range: ClassVar[tuple[float, float]] = (5e-4, 10.0)
    timebase_range: ClassVar[tuple[float, float]] = (1e-9, 1000.0)
    timing_model: ClassVar[ScopeTiming] = RIGOL_MSO5000
