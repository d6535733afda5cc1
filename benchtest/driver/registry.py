"""The driver registry: registry names (`keithley.k2450`) to driver classes, via entry points.

Drivers are found through the entry-point group `benchtest.instruments` and imported only
when asked for, so a bench never imports vendor modules it does not use. A driver with a
`channel` option drives one channel of a multi-channel instrument: the roles on its other
channels share this process's claim on it and its one connection (`claim_for`, `open_driver`).
"""

from __future__ import annotations

import functools
import inspect
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from benchtest.driver.base import Instrument
from benchtest.driver.ownership import ChannelClaim, ResourceLock, resource_key
from benchtest.driver.scpi import ScpiInstrument
from benchtest.driver.shared_connection import ChannelTransport, SharedConnection
from benchtest.values import stops
from benchtest.values.errors import DriverNotFoundError, InstrumentError
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
    The channels of one multi-channel instrument, each opened with its own `channel`, share
    the claim and the connection until the last of them is closed.
    """
    cls = driver_class(driver)
    lock = claim_for(cls, resource, role=role or driver, plan=plan).acquire()
    try:
        instrument = open_driver(cls, resource, role=role or driver, guard=guard, **options)
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


def takes_channel(cls: type[Instrument]) -> bool:
    """Whether `cls` drives one channel of a multi-channel instrument (a `channel` option)."""
    return "channel" in getattr(cls, "driver_options", ())


def claim_for(cls: type[Instrument], resource: str, *, role: str, plan: str = "") -> ResourceLock:
    """The claim a role of driver `cls` takes on `resource`: its own, or for a channel of a
    multi-channel instrument a share of the one its channel roles hold (`ChannelClaim`)."""
    kind = ChannelClaim if takes_channel(cls) else ResourceLock
    return kind(resource, role=role, plan=plan)


#: The connections of this process to multi-channel instruments, by `resource_key`.
_CONNECTIONS: dict[str, SharedConnection] = {}
_CONNECTIONS_LOCK = threading.Lock()


def open_driver(
    cls: type[Instrument],
    resource: str,
    *,
    role: str,
    guard: SourceGuard = NO_GUARD,
    **options: Any,
) -> Instrument:
    """`cls.open(resource, ...)`; for a channel of a multi-channel instrument, a driver on the
    connection its other channel roles use when one is open (nothing is sent then: the
    instrument is set up already). The connection closes with the last of them. Another role
    on the channel, or other connection settings, are refused."""
    if not (takes_channel(cls) and issubclass(cls, ScpiInstrument)):
        return cls.open(resource, role=role, guard=guard, **options)
    try:
        key = resource_key(resource)
    except ValueError as exc:
        raise InstrumentError(f"{resource} is not a usable resource: {exc}", role=role) from None
    channel = options.get("channel", _default_channel(cls))
    settings = {name: value for name, value in options.items() if name != "channel"}
    opened: ScpiInstrument | None = None  # the first channel's driver, on the connection it opened
    connection: SharedConnection | None = None
    transport: ChannelTransport | None = None
    free = False  # whether the channel was free when this call joined it
    try:
        with _CONNECTIONS_LOCK:
            connection = _CONNECTIONS.get(key)
            if connection is None or connection.closed:
                opened = cls.open(resource, role=role, guard=guard, **options)
                connection = SharedConnection(
                    opened.transport, driver=cls.driver_name, settings=settings
                )
                connection.on_closed = functools.partial(_forget, key, connection)
                _CONNECTIONS[key] = connection
            else:
                _check_joinable(connection, cls, role, resource, settings)
            free = channel not in connection.users
            transport = connection.join(role, channel)
        if opened is not None:
            opened.transport = transport
            return opened
        own = {name: options[name] for name in cls.driver_options if name in options}
        return cls(transport, role=role, guard=guard, **own)
    except BaseException:
        with stops.held:  # what this call took is let go, also after a Ctrl-C
            if transport is None and free and connection is not None:
                transport = _joined(connection, channel, role)
            _let_go(key, opened, connection, transport)
        raise


def _joined(connection: SharedConnection, channel: object, role: str) -> ChannelTransport | None:
    """The transport of a `join` that took the channel but was stopped before it returned."""
    return (
        ChannelTransport(connection, role, channel)
        if connection.users.get(channel) == role
        else None
    )


def _let_go(
    key: str,
    opened: ScpiInstrument | None,
    connection: SharedConnection | None,
    transport: ChannelTransport | None,
) -> None:
    """Undo what `open_driver` did before it failed: leave the channel it joined (the last
    role closes the connection) and close a connection it opened that no role joined."""
    if connection is None:
        return
    if transport is not None:
        transport.close()
    elif opened is not None:
        _forget(key, connection)
        connection.closed = True
        opened.close()


def _check_joinable(
    connection: SharedConnection,
    cls: type[Instrument],
    role: str,
    resource: str,
    settings: dict[str, Any],
) -> None:
    roles = ", ".join(repr(name) for name in connection.users.values())
    if cls.driver_name != connection.driver:
        raise InstrumentError(
            f"{resource} is open as a {connection.driver} (role {roles}), not a "
            f"{cls.driver_name}; its channel roles use one driver",
            role=role,
        )
    if settings != connection.settings:
        raise InstrumentError(
            f"{resource} is open for role {roles} with options {connection.settings}, and its "
            f"channel roles share that connection: give this role the same options, not "
            f"{settings} (only `channel` may differ)",
            role=role,
        )


def _default_channel(cls: type[Instrument]) -> object:
    parameter = inspect.signature(cls.__init__).parameters.get("channel")
    return None if parameter is None else parameter.default


def _forget(key: str, connection: SharedConnection) -> None:
    with _CONNECTIONS_LOCK:
        if _CONNECTIONS.get(key) is connection:
            del _CONNECTIONS[key]
