"""The instruments of a bench, opened on first use and made safe together.

`InstrumentPool` opens each role's driver lazily with the DUT's absolute-maximum guard, and
`make_safe` returns every opened instrument to its safe state, each in its own thread with its
own timeout, so one instrument that hangs cannot keep the others from being made safe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.driver.base import Instrument
from benchtest.driver.ownership import ResourceLock
from benchtest.driver.registry import driver_class
from benchtest.values.errors import BenchtestError
from benchtest.values.events import Event, InstrumentIdentified, SafeStateApplied, utc_now

DEFAULT_SAFE_STATE_TIMEOUT = 5.0


class CalibrationWarning(UserWarning):
    """An instrument of the bench is past its calibration due date."""


class InstrumentPool:
    """The bench's instruments by role; what plans get through the `bench` fixture.

    A role shared by the sites of a multi-site bench (`bench.shared`) is claimed for one test
    at a time: `get` waits for the other sites to let go (up to `shared_wait` seconds), and
    `release_shared` makes it safe and lets go at the end of the test.
    """

    def __init__(
        self,
        bench: Bench,
        dut: DutProfile,
        emit: Callable[[Event], None],
        *,
        shared_wait: float = 600.0,
    ) -> None:
        self.bench = bench
        self.dut = dut
        self._emit = emit
        self.shared_wait = shared_wait
        self._open: dict[str, Instrument] = {}
        self._locks: dict[str, ResourceLock] = {}
        self._lock = threading.Lock()

    @property
    def roles(self) -> list[str]:
        return list(self.bench.roles)

    def __contains__(self, role: object) -> bool:
        return role in self.bench.roles

    def __getitem__(self, role: str) -> Instrument:
        return self.get(role)

    def __iter__(self) -> Iterator[str]:
        return iter(self.bench.roles)

    def get(self, role: str) -> Instrument:
        """The instrument filling `role`, connected on first use."""
        with self._lock:
            if role in self._open:
                return self._open[role]
            if role not in self.bench.roles:
                raise BenchtestError(
                    f"bench {self.bench.name!r} ({self.bench.path}) has no role {role!r}; "
                    f"its roles: {', '.join(self.bench.roles)}"
                )
            instrument = self._connect(role)
            self._open[role] = instrument
        return instrument

    def _connect(self, role: str) -> Instrument:
        cfg = self.bench.roles[role]
        cls = driver_class(cfg.driver)
        options: dict[str, Any] = {**cls.profile_options(self.dut.data), **cfg.options}
        shared = role in self.bench.shared
        # Sites claim a shared instrument by its bench-file name; everything else by address.
        claim = cfg.claim if shared else cfg.resource
        lock = ResourceLock(claim, role=role).acquire(self.shared_wait if shared else 0.0)
        try:
            instrument = cls.open(
                cfg.resource, role=role, guard=self.dut.guard_for(role), **options
            )
        except BaseException:
            lock.release()
            raise
        try:
            identity = str(instrument.identify())
        except BaseException:
            instrument.close()
            lock.release()
            raise
        self._locks[role] = lock
        due = cfg.calibration_due or ""
        if due and dt.date.fromisoformat(due) < dt.date.today():
            warnings.warn(
                CalibrationWarning(f"{role} ({identity}): calibration was due on {due}"),
                stacklevel=2,
            )
        self._emit(InstrumentIdentified(role, cfg.driver, cfg.resource, identity, due))
        return instrument

    def make_safe(
        self, timeout: float = DEFAULT_SAFE_STATE_TIMEOUT, *, record: bool = True
    ) -> list[SafeStateApplied]:
        """Put every opened instrument in its safe state, concurrently, each within `timeout`.

        The outcome of each is emitted as a SafeStateApplied event unless `record` is off
        (a last resort from another thread, while the recorder may be busy).
        """
        with self._lock:
            opened = list(self._open.items())
        results: dict[str, SafeStateApplied] = {}

        def apply(role: str, instrument: Instrument) -> None:
            try:
                instrument.safe_state()
            except Exception as exc:  # recorded, never raised: the others must still be made safe
                results[role] = SafeStateApplied(
                    role, False, utc_now(), f"{type(exc).__name__}: {exc}"
                )
            else:
                results[role] = SafeStateApplied(role, True, utc_now(), "safe state applied")

        threads = [
            threading.Thread(target=apply, args=item, name=f"safe-state-{item[0]}", daemon=True)
            for item in opened
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        events = [
            results.get(role)
            or SafeStateApplied(
                role, False, utc_now(), f"safe state did not finish within {timeout:g} s"
            )
            for role, _ in opened
        ]
        for event in events if record else ():
            self._emit(event)
        return events

    def close(self) -> list[SafeStateApplied]:
        """Make everything safe, then close every connection."""
        events = self.make_safe()
        self._disconnect(list(self._open))
        return events

    def release_shared(self) -> None:
        """Let the other sites have the shared instruments (after `make_safe`)."""
        self._disconnect([role for role in self._open if role in self.bench.shared])

    def _disconnect(self, roles: list[str]) -> None:
        with self._lock:
            opened = [self._open.pop(role) for role in roles if role in self._open]
            locks = [self._locks.pop(role) for role in roles if role in self._locks]
        for instrument in opened:
            with contextlib.suppress(Exception):  # a connection already gone needs no closing
                instrument.close()
        for lock in locks:
            lock.release()
