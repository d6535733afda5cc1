"""A requested source-measure sweep, checked before anything is sent, and its reply parsing.

`SweepPlan` holds the levels, compliance limit, delay and NPLC of one `sweep_voltage` or
`sweep_current` call, knows whether the levels form a linear sweep and splits a source list
into the commands of at most 100 values that list sweeps take. `parse_values` reads an ASCII
reply of many numbers into an array, with 9.9E37 / 9.91E37 ("no value") as NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from benchtest.driver.numbers import as_number, finite_number, format_value
from benchtest.driver.scpi import NAN_THRESHOLD
from benchtest.values.sweep import SweepResult, is_linear

Function = Literal["voltage", "current"]
FloatArray = npt.NDArray[np.float64]
KEYWORD: dict[str, str] = {"voltage": "VOLTage", "current": "CURRent"}
UNIT: dict[str, str] = {"voltage": "V", "current": "A"}
OTHER: dict[Function, Function] = {"voltage": "current", "current": "voltage"}
LIST_CHUNK = 100  # values per :SOURce:LIST command (Keithley 2400/2450)
# The longest a sweep point may take, for the wait for a sweep to complete: the longest auto
# source delay (Keithley 2450, 10 nA and 100 nA ranges: 50 ms), the integration time at 50 Hz
# (the longer line cycle) counted three times (autozero adds a reference and a zero reading),
# 5 ms for the rest (trigger model, range change, storing the reading), and half as much again.
AUTO_DELAY_MAX = 0.05  # s
LINE_FREQUENCY_MIN = 50.0  # Hz
APERTURES_MAX = 3
POINT_OVERHEAD = 0.005  # s
SWEEP_MARGIN = 1.5


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
        """Check the shape of the request (ValueError or TypeError when it is not a sweep).

        Levels, limit, delay and NPLC may be numbers of any kind (numpy scalars and arrays of
        any dtype, as `np.linspace` gives them); each becomes the plain number it spells.
        """
        array = as_levels(levels)
        if not np.all(np.isfinite(array)):
            raise ValueError("sweep levels must be finite numbers")
        wait = None if delay is None else _setting("delay", delay)
        if wait is not None and wait < 0:
            raise ValueError(f"a sweep delay must be a number of seconds >= 0, not {delay!r}")
        speed = None if nplc is None else _setting("NPLC", nplc)
        return cls(source, array, float(_setting("limit", limit)), wait, speed)

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

    def duration(self, nplc: float, *, delay_adds: bool = False) -> float:
        """The longest the instrument may take to run this sweep at `nplc`, in s:
        points x (source delay + integration time), with the margins above. The sweep's
        `delay` replaces the automatic source delay, or with `delay_adds` follows it (a
        trigger-to-measure delay)."""
        given = self.delay or 0.0
        automatic = delay_adds or self.delay is None  # the auto source delay comes first
        delay = AUTO_DELAY_MAX + given if automatic else given
        integration = APERTURES_MAX * nplc / LINE_FREQUENCY_MIN
        return SWEEP_MARGIN * self.points * (delay + integration + POINT_OVERHEAD)

    def list_commands(self, command: str, size: int = LIST_CHUNK) -> list[str]:
        """`command v1,...` for the first `size` levels, then `command:APPend ...` for the rest."""
        chunks = [self.levels[i : i + size] for i in range(0, self.points, size)]
        texts = [",".join(format_value(v) for v in chunk) for chunk in chunks]
        return [f"{command} {texts[0]}"] + [f"{command}:APPend {text}" for text in texts[1:]]

    def result(self, source: FloatArray, measured: FloatArray) -> SweepResult:
        return SweepResult(source, measured, UNIT[self.source], UNIT[self.measured])


def _setting(name: str, value: object) -> int | float:
    """One setting of a sweep as a plain finite number; a ValueError naming it otherwise."""
    try:
        return finite_number(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the sweep {name} must be a finite number: {exc}") from None


def as_levels(levels: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Sweep levels as a 1-d float64 array: each level the plain number it spells (a float32
    3.3 is 3.3), so the levels sent are the levels checked. TypeError or ValueError when they
    are not a non-empty sequence of numbers."""
    raw = np.asarray(levels, dtype=object if not isinstance(levels, np.ndarray) else None)
    if raw.ndim != 1 or len(raw) == 0:
        raise ValueError("a sweep needs a non-empty sequence of levels")
    if raw.dtype == np.float64:
        return raw.copy()
    return np.array([as_number(level) for level in raw], dtype=np.float64)


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
