"""The rows of a measurement table as the viewer shows them: value, limits, margin, outcome.

The margin is how far the value is inside its nearest limit, in the measurement's unit; it is
negative when the value is outside. A measurement without limits has no margin (NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from benchtest.results import TestRecord

COLUMNS = ("test", "name", "value", "unit", "low", "high", "margin", "outcome")


@dataclass(frozen=True)
class Row:
    """One measurement of a test with its margin to the nearest limit."""

    test: str
    name: str
    value: float
    unit: str
    low: float
    high: float
    outcome: str

    @property
    def margin(self) -> float:
        return margin(self.value, self.low, self.high)

    @property
    def relative_margin(self) -> float:
        """The margin as a fraction of the limits' span (of the one limit's magnitude when
        there is one), so that margins in different units sort together."""
        return relative_margin(self.value, self.low, self.high)

    def cell(self, column: str) -> float | str:
        """The value of `column` (one of COLUMNS)."""
        return self.margin if column == "margin" else getattr(self, column)


def margin(value: float, low: float, high: float) -> float:
    """Distance from `value` to the nearer of its limits, negative outside (NaN: no limits)."""
    sides = [d for d in (value - low, high - value) if not math.isnan(d)]
    return min(sides) if sides and not math.isnan(value) else math.nan


def relative_margin(value: float, low: float, high: float) -> float:
    """`margin` divided by the span of the limits, or by the magnitude of the one limit (1
    when that limit is 0); NaN without limits."""
    if not math.isnan(low) and not math.isnan(high) and high > low:
        reference = high - low
    else:
        limit = low if math.isnan(high) else high
        reference = abs(limit) or 1.0
    return margin(value, low, high) / reference


def rows_of(tests: list[TestRecord]) -> list[Row]:
    """The measurements of `tests`, in recording order."""
    rows: list[Row] = []
    for test in tests:
        table = test.measurements
        for k in range(len(table)):
            row = table[k]
            rows.append(
                Row(
                    test.id.rsplit("::", 1)[-1],
                    str(row["name"]),
                    float(row["value"]),
                    str(row["unit"]),
                    float(row["low"]),
                    float(row["high"]),
                    str(row["outcome"]),
                )
            )
    return rows
