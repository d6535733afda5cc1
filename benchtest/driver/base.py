"""The base every driver derives from: identity, safe state, and the absolute-maximum guard.

A driver is opened by its registry name through `benchtest.open_instrument`; the bench gives it
its role (for error messages) and a `SourceGuard` built from the DUT profile, which refuses any
request beyond the part's absolute maximum ratings before a command is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from benchtest.values.ratings import NO_GUARD, SourceGuard


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


class Instrument:
    """Base of all drivers. Subclasses implement `open`, `identify`, `safe_state` and `close`.

    `driver_name` is the registry key (`keithley.k2450`); `capabilities` names the protocols
    of `instruments.capabilities` the driver provides (checked by a meta-test); `role` is the
    bench role the instrument fills, used in every error message; `guard` bounds what it may
    source. `safe_state_sends` is False for a driver whose `safe_state` sends nothing (a scope,
    a meter, a debug port): it cannot hang, so the bench makes it safe without a thread of its
    own (a meta-test checks that such a driver's safe state sends nothing).
    """

    driver_name: ClassVar[str] = ""
    capabilities: ClassVar[tuple[str, ...]] = ()
    safe_state_sends: ClassVar[bool] = True
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
