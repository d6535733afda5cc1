"""Absolute maximum ratings and the guard that checks every source request against them.

A DUT profile turns its ratings into one `SourceGuard` per instrument role; drivers call
`guard.check(...)` before any command that sources or sets a level is sent. An enforced guard
fails closed: a value that is not a finite number, or a quantity that no rating of the role
covers, is refused like a value beyond a rating. Only `NO_GUARD` (no DUT profile) lets every
request through. `docs/safety.md` states the promise in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NoReturn

from benchtest.values.errors import SafetyError

QUANTITY_OF_UNIT = {"V": "voltage", "A": "current", "degC": "temperature", "W": "power"}


def number_text(value: float) -> str:
    """A number for a message exactly as given (`6.000001`, `1e-06`); integral ones without
    `.0` (`6`)."""
    text = str(value) if isinstance(value, int) else repr(float(value))
    return text[:-2] if text.endswith(".0") else text


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
                f"{number_text(value)} {self.unit} exceeds the absolute maximum rating "
                f"{self.name} <= {number_text(self.max)} {self.unit}{part}"
            )
        if self.min is not None and value < self.min:
            return (
                f"{number_text(value)} {self.unit} is below the absolute minimum rating "
                f"{self.name} >= {number_text(self.min)} {self.unit}{part}"
            )
        return None


@dataclass(frozen=True)
class SourceGuard:
    """The ratings that bound what one instrument may source or set.

    `enforced` (the default) makes the guard fail closed; `NO_GUARD` is the one guard that is
    not enforced, for an instrument opened without a DUT profile.
    """

    ratings: tuple[Rating, ...] = ()
    role: str = ""
    enforced: bool = True

    def check(self, quantity: str, value: object, what: str = "") -> None:
        """Raise `SafetyError` unless sourcing `value` of `quantity` is within every rating of
        that quantity; on an enforced guard also when `value` is no finite number or when no
        rating covers `quantity`."""
        if not self.enforced:
            return
        action = what or f"set {quantity}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.refuse(action, f"{value!r} is not a number, so it cannot be checked")
        if not math.isfinite(value):
            self.refuse(action, f"{value!r} is not a finite number, so it cannot be checked")
        rated = [rating for rating in self.ratings if rating.quantity == quantity]
        if not rated:
            self.refuse(action, self._unrated(quantity))
        for rating in rated:
            problem = rating.violation(value)
            if problem:
                self.refuse(action, problem)

    def refuse(self, action: str, problem: str) -> NoReturn:
        """Raise the SafetyError that refuses `action` ("set voltage_setpoint to 7 V") for
        `problem`."""
        who = f"[{self.role}] " if self.role else ""
        raise SafetyError(f"{who}refused to {action}: {problem}; nothing was sent")

    def _unrated(self, quantity: str) -> str:
        covered = ", ".join(f"{r.name} ({r.quantity})" for r in self.ratings) or "nothing"
        return (
            f"no absolute maximum rating of {quantity} applies to this instrument (its "
            f"ratings: {covered}), so the request cannot be checked; add a rating in the DUT "
            "profile's absolute_maximum on a net this role drives"
        )


NO_GUARD = SourceGuard(enforced=False)
