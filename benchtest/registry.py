"""The driver registry: registry names (`keithley.k2450`) to driver classes, via entry points.

Drivers are found through the entry-point group `benchtest.instruments` and imported only
when asked for, so a bench never imports vendor modules it does not use.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from benchtest.driver.base import NO_GUARD, Instrument, SourceGuard
from benchtest.errors import DriverNotFoundError

GROUP = "benchtest.instruments"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def driver_names() -> list[str]:
    """Every registered driver name, sorted."""
    return sorted(_entry_points())


def driver_class(name: str) -> type[Instrument]:
    """The driver class registered under `name`."""
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none (is benchtest installed?)"
        raise DriverNotFoundError(f"unknown driver {name!r}; registered drivers: {known}")
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Instrument)):
        raise DriverNotFoundError(
            f"driver {name!r} ({eps[name].value}) is not a benchtest Instrument class"
        )
    return cls


def open_instrument(
    driver: str,
    resource: str,
    *,
    role: str = "",
    guard: SourceGuard = NO_GUARD,
    **options: Any,
) -> Instrument:
    """Connect to `resource` with the driver registered as `driver` and return it.

    >>> smu = open_instrument("keithley.k2450", "TCPIP::192.168.1.20::5025::SOCKET")
    """
    return driver_class(driver).open(resource, role=role or driver, guard=guard, **options)
