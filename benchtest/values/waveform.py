"""`Waveform`: samples as the instrument delivered them, with the scaling and timing to read them.

A scope hands back integer codes; volts are `samples * scale + offset`. Keeping the codes (not
float64 volts) keeps transfers and files small, and the conversion is exact and documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Waveform:
    """A uniformly sampled record from one channel.

    samples: raw codes (integer dtype) or physical values (float dtype), one per point.
    dt: seconds between samples; t0: time of the first sample relative to the trigger, s.
    scale, offset: physical value = samples * scale + offset (1 and 0 for float samples).
    unit: unit of the physical value ("V", "A"); channel: the source ("CH1").
    settings: the instrument settings that produced the record (V/div, timebase, ...).
    """

    samples: npt.NDArray[Any]
    dt: float
    t0: float = 0.0
    scale: float = 1.0
    offset: float = 0.0
    unit: str = "V"
    channel: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.samples.ndim != 1:
            raise ValueError(f"waveform samples must be 1-D, got shape {self.samples.shape}")
        if not self.dt > 0:
            raise ValueError(f"waveform dt must be positive, got {self.dt!r}")

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    @property
    def values(self) -> npt.NDArray[np.float64]:
        """Samples in physical units (float64)."""
        return self.samples.astype(np.float64) * self.scale + self.offset

    @property
    def time(self) -> npt.NDArray[np.float64]:
        """Time of every sample in seconds, relative to the trigger."""
        return self.t0 + np.arange(len(self), dtype=np.float64) * self.dt

    @property
    def duration(self) -> float:
        return len(self) * self.dt
