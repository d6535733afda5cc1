"""Absolute maximum ratings and the guard that checks every source request against them.

A DUT profile turns its ratings into one `SourceGuard` per instrument role; drivers call
`guard.check(...)` before any command that sources or sets a level is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchtest.values.errors import SafetyError

QUANTITY_OF_UNIT = {"V": "voltage", "A": "current", "degC": "temperature", "W": "power"}


@dataclass(frozen=True)
class Rating:
    """One absolute maximum rating of the DUT, as it applies to an instrument's output."""

    name: str
    quantity: str  # "voltage", "current", "temperature"
    unit: str
    min: float | None = None
    max: float | None = None
    part: str = ""

    def violation(self, value: float) -> str | None:
        """Words explaining why `value` breaks this rating, or None when it does not."""
        part = f" of {self.part}" if self.part else ""
        if self.max is not None and value > self.max:
            return (
                f"{value:g} {self.unit} exceeds the absolute maximum rating "
                f"{self.name} <= {self.max:g} {self.unit}{part}"
            )
        if self.min is not None and value < self.min:
            return (
                f"{value:g} {self.unit} is below the absolute minimum rating "
                f"{self.name} >= {self.min:g} {self.unit}{part}"
            )
        return None


@dataclass(frozen=True)
class SourceGuard:
    """The ratings that bound what one instrument may source or set."""

    ratings: tuple[Rating, ...] = ()
    role: str = ""

    def check(self, quantity: str, value: float, what: str = "") -> None:
        """Raise `SafetyError` if sourcing `value` of `quantity` would break a rating."""
        for rating in self.ratings:
            if rating.quantity != quantity:
                continue
            problem = rating.violation(value)
            if problem:
                who = f"[{self.role}] " if self.role else ""
                action = what or f"set {quantity}"
                raise SafetyError(f"{who}refused to {action}: {problem}; nothing was sent")


NO_GUARD = SourceGuard()
