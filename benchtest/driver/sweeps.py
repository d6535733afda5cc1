"""A requested source-measure sweep, checked before anything is sent, and its reply parsing.

`SweepPlan` holds the levels, compliance limit, delay and NPLC of one `sweep_voltage` or
`sweep_current` call, knows whether the levels form a linear sweep and splits a source list
into the commands of at most 100 values that list sweeps take. `parse_values` reads an ASCII
reply of many numbers into an array, with 9.9E37 / 9.91E37 ("no value") as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from benchtest.driver.scpi import NAN_THRESHOLD, format_value
from benchtest.values.sweep import SweepResult, is_linear

Function = Literal["voltage", "current"]
FloatArray = npt.NDArray[np.float64]
KEYWORD: dict[str, str] = {"voltage": "VOLTage", "current": "CURRent"}
UNIT: dict[str, str] = {"voltage": "V", "current": "A"}
OTHER: dict[Function, Function] = {"voltage": "current", "current": "voltage"}
LIST_CHUNK = 100  # values per :SOURce:LIST command (Keithley 2400/2450)


@dataclass(frozen=True)
class SweepPlan:
    """One sweep: source `levels` of `source`, limiting the other quantity to `limit`."""

    source: Function
    levels: FloatArray
    limit: float
    delay: float | None = None
    nplc: float | None = None

    @classmethod
    def create(
        cls,
        source: Function,
        levels: Sequence[float],
        limit: float,
        delay: float | None = None,
        nplc: float | None = None,
    ) -> SweepPlan:
        """Check the shape of the request (ValueError when it is not a sweep at all)."""
        array = np.array(levels, dtype=np.float64)
        if array.ndim != 1 or len(array) == 0:
            raise ValueError("a sweep needs a non-empty sequence of levels")
        if not np.all(np.isfinite(array)):
            raise ValueError("sweep levels must be finite numbers")
        if delay is not None and not (math.isfinite(delay) and delay >= 0):
            raise ValueError(
                f"a sweep delay must be a finite number of seconds >= 0, not {delay!r}"
            )
        return cls(source, array, float(limit), delay, nplc)

    @property
    def measured(self) -> Function:
        return OTHER[self.source]

    @property
    def keyword(self) -> str:
        """The SCPI keyword of the source function (`VOLTage`)."""
        return KEYWORD[self.source]

    @property
    def measured_keyword(self) -> str:
        return KEYWORD[self.measured]

    @property
    def linear(self) -> bool:
        """Equally spaced levels, so the instrument's linear sweep can produce them."""
        return is_linear(self.levels)

    @property
    def points(self) -> int:
        return len(self.levels)

    @property
    def start(self) -> float:
        return float(self.levels[0])

    @property
    def stop(self) -> float:
        return float(self.levels[-1])

    @property
    def level_name(self) -> str:
        """The declared property that sets the source level (`voltage_setpoint`)."""
        return f"{self.source}_setpoint"

    @property
    def limit_name(self) -> str:
        """The declared property that sets the compliance limit (`current_limit`)."""
        return f"{self.measured}_limit"

    def list_commands(self, command: str, size: int = LIST_CHUNK) -> list[str]:
        """`command v1,...` for the first `size` levels, then `command:APPend ...` for the rest."""
        chunks = [self.levels[i : i + size] for i in range(0, self.points, size)]
        texts = [",".join(format_value(float(v)) for v in chunk) for chunk in chunks]
        return [f"{command} {texts[0]}"] + [f"{command}:APPend {text}" for text in texts[1:]]

    def result(self, source: FloatArray, measured: FloatArray) -> SweepResult:
        return SweepResult(source, measured, UNIT[self.source], UNIT[self.measured])


def parse_values(reply: str) -> FloatArray:
    """Comma-separated ASCII numbers; 9.9E37 and above ("no value", overflow) become NaN."""
    values = np.array([float(text) for text in reply.split(",")], dtype=np.float64)
    values[np.abs(values) >= NAN_THRESHOLD] = np.nan
    return values


def columns(values: FloatArray, width: int) -> FloatArray:
    """`values` as one row per point of `width` elements (a ValueError if they do not fit)."""
    if len(values) % width:
        raise ValueError(f"{len(values)} values do not split into points of {width} elements")
    return values.reshape(-1, width)


def parse_points(reply: str, width: int, count: int) -> FloatArray:
    """`count` points of `width` elements each from one ASCII reply (ValueError otherwise)."""
    rows = columns(parse_values(reply), width)
    if len(rows) != count:
        raise ValueError(f"expected {count} points of {width} values, got {len(rows)}")
    return rows
