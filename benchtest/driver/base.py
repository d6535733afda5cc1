"""The base every driver derives from: identity, safe state, and the absolute-maximum guard.

A driver is opened by its registry name through `benchtest.open_instrument`; the bench gives it
its role (for error messages) and a `SourceGuard` built from the DUT profile, which refuses any
request beyond the part's absolute maximum ratings before a command is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from benchtest.errors import SafetyError

QUANTITY_OF_UNIT = {"V": "voltage", "A": "current", "degC": "temperature", "W": "power"}


@dataclass(frozen=True)
class Identity:
    """What an instrument says it is (`*IDN?` fields)."""

    manufacturer: str
    model: str
    serial: str = ""
    firmware: str = ""

    @classmethod
    def from_idn(cls, reply: str) -> Identity:
        fields = [f.strip() for f in reply.strip().split(",")]
        fields += [""] * (4 - len(fields))
        return cls(fields[0], fields[1], fields[2], ",".join(fields[3:]).strip(","))

    def __str__(self) -> str:
        return ",".join((self.manufacturer, self.model, self.serial, self.firmware))


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


class Instrument:
    """Base of all drivers. Subclasses implement `open`, `identify`, `safe_state` and `close`.

    `driver_name` is the registry key (`keithley.k2450`); `capabilities` names the protocols
    of `instruments.capabilities` the driver provides (checked by a meta-test); `role` is the
    bench role the instrument fills, used in every error message; `guard` bounds what it may
    source.
    """

    driver_name: ClassVar[str] = ""
    capabilities: ClassVar[tuple[str, ...]] = ()
    role: str
    guard: SourceGuard

    def __init__(self, *, role: str = "", guard: SourceGuard = NO_GUARD) -> None:
        self.role = role
        self.guard = guard

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        """Connect to `resource` and return a ready driver."""
        raise NotImplementedError

    @classmethod
    def profile_options(cls, dut: Mapping[str, Any]) -> dict[str, Any]:
        """Options this driver takes from the DUT profile (a debug port's baud rate, ...).

        The bench file's options override them. Most instruments take none.
        """
        return {}

    def identify(self) -> Identity:
        raise NotImplementedError

    def safe_state(self) -> None:
        """Outputs off, sources to zero. Must be safe to call at any time, more than once."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.safe_state()
        finally:
            self.close()
