"""One connection to a multi-channel instrument, shared by the drivers of its channel roles.

USB-TMC, GPIB and most LAN instruments take one session at a time, and two sessions would
interleave their commands, so the roles that drive the channels of one instrument (both
channels of a B2902A) talk through one transport. Each role gets its own `ChannelTransport`
on the `SharedConnection`: an exchange holds the connection's lock from its command to the
last byte of its reply, so a role's safe state, run in a thread of its own, never splits
another role's exchange; an error is raised naming the role whose exchange it was; the
connection closes when the last role's transport closes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from benchtest.driver.transport import Transport
from benchtest.values import stops
from benchtest.values.errors import ConnectionLostError, InstrumentError

T = TypeVar("T")


class SharedConnection:
    """`transport`, used by the channel roles listed in `users` (channel -> role).

    `driver` and `settings` are what it was opened with: another role may join it only with
    the same driver and the same connection settings. `on_closed` runs once the last role has
    closed its transport, and the connection with it.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        driver: str,
        settings: Mapping[str, Any],
    ) -> None:
        self.transport = transport
        self.driver = driver
        self.settings = dict(settings)
        self.lock = threading.RLock()
        self.users: dict[object, str] = {}
        self.closed = False
        self.on_closed: Callable[[], None] = lambda: None

    def join(self, role: str, channel: object) -> ChannelTransport:
        """A transport for `role`, which drives `channel`; refused when another role has it."""
        with self.lock:
            if self.closed:
                raise ConnectionLostError("connection is closed", role=role)
            holder = self.users.get(channel)
            if holder is not None:
                raise InstrumentError(
                    f"channel {channel} of this {self.driver} is already role {holder!r}'s; "
                    "give each role its own channel",
                    role=role,
                )
            self.users[channel] = role
        return ChannelTransport(self, role, channel)

    def leave(self, channel: object) -> None:
        """`channel`'s role is done with the connection; the last one closes it (whole: a
        Ctrl-C meanwhile is raised once it is closed)."""
        with stops.held:
            with self.lock:
                if self.users.pop(channel, None) is None or self.users:
                    return
                self.closed = True
            try:
                self.transport.close()
            finally:
                self.on_closed()

    def exchange(self, role: str, action: Callable[[], T]) -> T:
        """Run `action` (one exchange on `transport`) alone, with errors naming `role`."""
        with self.lock:
            layer: Any = self.transport
            while layer is not None:  # a paced transport and the one it paces
                layer.role = role
                layer = getattr(layer, "inner", None)
            return action()


class ChannelTransport:
    """One role's `Transport` on a `SharedConnection`."""

    def __init__(self, connection: SharedConnection, role: str, channel: object) -> None:
        self.connection = connection
        self.role = role
        self.channel = channel
        self._open = True

    def write(self, command: str) -> None:
        inner = self._inner()
        self.connection.exchange(self.role, lambda: inner.write(command))

    def query(self, command: str) -> str:
        inner = self._inner()
        return self.connection.exchange(self.role, lambda: inner.query(command))

    def read_block(self, command: str) -> bytes:
        inner = self._inner()
        return self.connection.exchange(self.role, lambda: inner.read_block(command))

    def resync(self) -> None:
        self.connection.exchange(self.role, self._inner().resync)

    @property
    def timeout(self) -> float | None:
        """The connection's read timeout in s (None when it has none)."""
        return getattr(self.connection.transport, "timeout", None)

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        inner: Any = self._inner()
        if hasattr(inner, "timeout"):
            with self.connection.lock:
                inner.timeout = seconds

    def close(self) -> None:
        """Let go of the connection (closed with the last role's)."""
        with stops.held:
            if self._open:
                self._open = False
                self.connection.leave(self.channel)

    def _inner(self) -> Transport:
        if not self._open:
            raise ConnectionLostError("connection is closed", role=self.role)
        return self.connection.transport


@contextlib.contextmanager
def exclusive(transport: object) -> Iterator[None]:
    """No other role's exchange on `transport`'s connection meanwhile (when it is shared): for
    a sequence whose parts belong together, such as a safe state and the error queue read
    after it."""
    if isinstance(transport, ChannelTransport):
        with transport.connection.lock:
            yield
    else:
        yield
