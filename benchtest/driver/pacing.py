"""Pacing: a minimum interval between the exchanges on one connection, for slow instruments.

Some instruments drop commands that follow each other too closely (the Siglent SPD3303X wants
10–100 ms between commands). `PacedTransport` wraps any `Transport` and waits until `interval`
seconds have passed since the previous exchange ended before it sends the next command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from benchtest.driver.transport import Transport

T = TypeVar("T")


class Pacer:
    """Keeps `interval` seconds between the end of one exchange and the start of the next.

    `clock` and `sleep` are injectable so tests can measure the pacing with a fake clock.
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not interval >= 0:
            raise ValueError(f"a pacing interval must be >= 0 s, got {interval!r}")
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep until `interval` has passed since the last `mark()`."""
        if self._last is not None:
            remaining = self._last + self.interval - self._clock()
            if remaining > 0:
                self._sleep(remaining)

    def mark(self) -> None:
        """An exchange has just ended."""
        self._last = self._clock()


class PacedTransport:
    """A `Transport` that paces every command of `inner` with `pacer`."""

    def __init__(self, inner: Transport, pacer: Pacer) -> None:
        self.inner = inner
        self.pacer = pacer
        self.role = inner.role

    def write(self, command: str) -> None:
        self._exchange(self.inner.write, command)

    def query(self, command: str) -> str:
        return self._exchange(self.inner.query, command)

    def read_block(self, command: str) -> bytes:
        return self._exchange(self.inner.read_block, command)

    def resync(self) -> None:
        self.pacer.wait()
        try:
            self.inner.resync()
        finally:
            self.pacer.mark()

    @property
    def timeout(self) -> float | None:
        """The inner transport's read timeout in s (None when it has none)."""
        return getattr(self.inner, "timeout", None)

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        if hasattr(self.inner, "timeout"):
            self.inner.timeout = seconds

    def _exchange(self, send: Callable[[str], T], command: str) -> T:
        self.pacer.wait()
        try:
            return send(command)
        finally:
            self.pacer.mark()

    def close(self) -> None:
        self.inner.close()
