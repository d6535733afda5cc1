"""A measurement is a value with its unit, limits and outcome, never a bare float.

`Limits` come from the DUT profile's parameter table or are given inline: min/max, one-sided,
nominal ± tolerance (absolute or percent), equality, and a marginal band inside the limits
that passes with a warning. `Limits.check` decides the outcome and `Measurement.explain`
says in words why a value failed or was marginal.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"
    # Within the limits but inside the marginal band next to one of them: passes, with a warning.
    MARGINAL = "marginal"
    FAIL = "fail"
    # Recorded without a pass/fail judgement (no limits given).
    INFO = "info"


@dataclass(frozen=True)
class Limits:
    """Acceptance limits in `unit`; either side may be open (None).

    `margin` (in `unit`, >= 0) is the width of the marginal band inside each limit: a value
    closer than `margin` to a limit passes as MARGINAL. `low == high` is an equality check.
    """

    low: float | None = None
    high: float | None = None
    unit: str = ""
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low limit {self.low:g} is above high limit {self.high:g}")
        if not self.margin >= 0:
            raise ValueError(f"marginal band must be >= 0, got {self.margin!r}")

    @classmethod
    def tolerance(
        cls,
        nominal: float,
        *,
        absolute: float | None = None,
        percent: float | None = None,
        unit: str = "",
        margin: float = 0.0,
    ) -> Limits:
        """`nominal` ± `absolute`, or ± `percent` % of |nominal|."""
        if (absolute is None) == (percent is None):
            raise ValueError("give exactly one of an absolute or a percent tolerance")
        width = absolute if absolute is not None else abs(nominal) * float(percent or 0) / 100
        if width < 0:
            raise ValueError(f"tolerance must be >= 0, got {width:g}")
        return cls(nominal - width, nominal + width, unit, margin)

    @classmethod
    def equal(cls, expected: float, unit: str = "") -> Limits:
        return cls(expected, expected, unit)

    @property
    def is_open(self) -> bool:
        return self.low is None and self.high is None

    def check(self, value: float) -> Outcome:
        if self.is_open:
            return Outcome.INFO
        if math.isnan(value):
            return Outcome.FAIL
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            return Outcome.FAIL
        if self.margin and (
            (self.low is not None and value < self.low + self.margin)
            or (self.high is not None and value > self.high - self.margin)
        ):
            return Outcome.MARGINAL
        return Outcome.PASS

    def describe(self) -> str:
        u = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.low == self.high:
            return f"== {self.low:.6g}{u}"
        if self.low is not None and self.high is not None:
            return f"[{self.low:.6g}, {self.high:.6g}]{u}"
        if self.low is not None:
            return f">= {self.low:.6g}{u}"
        if self.high is not None:
            return f"<= {self.high:.6g}{u}"
        return "no limits"


@dataclass(frozen=True)
class Measurement:
    """One recorded value of a named parameter."""

    name: str
    value: float
    unit: str
    limits: Limits
    outcome: Outcome
    timestamp: float = field(default_factory=time.time)
    conditions: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def judge(
        cls,
        name: str,
        value: float,
        unit: str,
        limits: Limits,
        *,
        conditions: dict[str, Any] | None = None,
        description: str = "",
    ) -> Measurement:
        return cls(
            name=name,
            value=float(value),
            unit=unit,
            limits=limits,
            outcome=limits.check(float(value)),
            conditions=dict(conditions or {}),
            description=description,
        )

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAIL

    def explain(self) -> str:
        """One line in words: value, unit, the limit it broke (or met)."""
        u = f" {self.unit}" if self.unit else ""
        shown = f"{self.name} = {self.value:.6g}{u}"
        lim = self.limits
        if self.outcome is Outcome.INFO:
            return f"{shown} (recorded, no limits)"
        if math.isnan(self.value):
            return f"{shown}: no valid value, limits {lim.describe()}"
        if lim.low is not None and lim.low == lim.high and self.value != lim.low:
            return f"{shown} is not the expected {lim.low:.6g}{u}"
        if lim.low is not None and self.value < lim.low:
            return f"{shown} is below the low limit {lim.low:.6g}{u}"
        if lim.high is not None and self.value > lim.high:
            return f"{shown} is above the high limit {lim.high:.6g}{u}"
        if self.outcome is Outcome.MARGINAL:
            return (
                f"{shown} passes within {lim.margin:.3g}{u} of its limits {lim.describe()} "
                "(marginal)"
            )
        return f"{shown} within {lim.describe()}"
