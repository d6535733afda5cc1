"""`SweepResult`: what a source-measure sweep returns, as arrays with their units.

A sweep runs in the instrument's buffer (a linear or list sweep) and is read back in one
transfer; the result pairs every sourced level with the reading taken at it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SweepResult:
    """Sourced levels and readings of one sweep, point by point."""

    source: npt.NDArray[np.float64]
    measured: npt.NDArray[np.float64]
    source_unit: str
    measured_unit: str

    def __post_init__(self) -> None:
        if self.source.shape != self.measured.shape or self.source.ndim != 1:
            raise ValueError(
                f"sweep source {self.source.shape} and readings {self.measured.shape} "
                "must be 1-D arrays of the same length"
            )

    def __len__(self) -> int:
        return int(self.source.shape[0])


def is_linear(levels: npt.NDArray[np.float64], rel_tol: float = 1e-9) -> bool:
    """Whether `levels` are equally spaced (so an instrument's linear sweep can produce them)."""
    if len(levels) < 2:
        return False
    steps = np.diff(levels)
    span = float(np.max(np.abs(levels))) or 1.0
    return bool(np.all(np.abs(steps - steps[0]) <= rel_tol * span)) and steps[0] != 0
