"""The driver registry: registry names (`keithley.k2450`) to driver classes, via entry points.

Drivers are found through the entry-point group `benchtest.instruments` and imported only
when asked for, so a bench never imports vendor modules it does not use.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from benchtest.driver.base import Instrument
from benchtest.driver.ownership import ResourceLock
from benchtest.values.errors import DriverNotFoundError
from benchtest.values.ratings import NO_GUARD, SourceGuard

GROUP = "benchtest.instruments"


def ensure_own_instruments_package() -> None:
    """Fail with one clear sentence if `import instruments` is another distribution's package.

    InstrumentKit also installs a top-level `instruments`; with both installed, drivers
    would silently come from the wrong place.
    """
    import instruments

    if not getattr(instruments, "__benchtest__", False):
        where = getattr(instruments, "__file__", None) or "an unknown location"
        raise DriverNotFoundError(
            f"the package 'instruments' imported from {where} is not benchtest's (InstrumentKit "
            "uses the same name); uninstall it or use a separate virtual environment"
        )


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    """The registered drivers, read once per process (scanning every installed distribution's
    metadata takes ~20 ms, and a bench connects its instruments again and again)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def driver_names() -> list[str]:
    """Every registered driver name, sorted."""
    return sorted(_entry_points())


def driver_class(name: str) -> type[Instrument]:
    """The driver class registered under `name`."""
    ensure_own_instruments_package()
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
    plan: str = "",
    **options: Any,
) -> Instrument:
    """Connect to `resource` with the driver registered as `driver` and return it.

    >>> smu = open_instrument("keithley.k2450", "TCPIP::192.168.1.20::5025::SOCKET")

    The process owns the instrument until `close()` (see `benchtest.driver.ownership`): a second
    process asking for it, however it writes the resource, gets an error naming this one and
    what it runs (`plan`, by default the command line). Nothing is sent before the lock is taken.
    """
    cls = driver_class(driver)
    lock = ResourceLock(resource, role=role or driver, plan=plan).acquire()
    try:
        instrument = cls.open(resource, role=role or driver, guard=guard, **options)
    except BaseException:
        lock.release()
        raise
    close = instrument.close

    def close_and_release() -> None:  # the claim ends with the connection
        try:
            close()
        finally:
            lock.release()

    instrument.close = close_and_release  # type: ignore[method-assign]
    return instrument
