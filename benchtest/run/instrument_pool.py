"""The instruments of a bench, opened on first use and made safe together.

`InstrumentPool` opens each role's driver lazily with the DUT's absolute-maximum guard, and
`make_safe` returns every opened instrument to its safe state, each in its own thread (kept
while the instrument is open) with its own timeout, so one instrument that hangs cannot keep the
others from being made safe; one whose safe state sends nothing (`safe_state_sends` off) is made
safe in the calling thread, as it cannot hang.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.driver.base import Instrument
from benchtest.driver.ownership import ResourceLock
from benchtest.driver.registry import claim_for, driver_class, open_driver
from benchtest.values import stops
from benchtest.values.errors import BenchtestError, InstrumentError
from benchtest.values.events import Event, InstrumentIdentified, SafeStateApplied, utc_now
from benchtest.values.probe import probes_of

DEFAULT_SAFE_STATE_TIMEOUT = 5.0
#: s the next use of an instrument waits for a safe state still running after `make_safe`
#: stopped waiting for it (an instrument slower than its timeout, a reconnection), before the
#: connection is closed under it.
LATE_SAFE_STATE_WAIT = 30.0


class CalibrationWarning(UserWarning):
    """An instrument of the bench is past its calibration due date."""


class InstrumentOpenError(InstrumentError):
    """An instrument of the bench could not be opened, or a strict bench refused it; the
    message is one line naming the role, the driver, the resource and the cause."""


class MissingRoleError(BenchtestError):
    """A test requires a role that a strict bench lacks."""


def missing_roles_message(bench: Bench, missing: list[str]) -> str:
    """Why a test that requires the `missing` roles is skipped: "no chamber on this bench
    (lab 3)"."""
    return f"no {', '.join(missing)} on this bench ({bench.name})"


def _open_error(role: str, driver: str, resource: str, exc: Exception) -> InstrumentOpenError:
    cause = str(exc) if isinstance(exc, BenchtestError) else f"{type(exc).__name__}: {exc}"
    cause = cause.removeprefix(f"[{role}] ").removeprefix(f"cannot open {resource}: ")
    return InstrumentOpenError(f"cannot open {driver} at {resource}: {cause}", role=role)


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
        self._locks: dict[str, ResourceLock] = {}  # the claims held, by role
        self._claims: dict[str, ResourceLock] = {}  # every role's claim, held or not
        self._workers: dict[str, _Worker] = {}  # the safe-state thread of each open role
        self._lock = threading.Lock()
        self._later: list[Callable[[], None]] = []  # jobs waiting for the shared claims to end
        # Safe states still running when `make_safe` stopped waiting: role -> (done, outcome).
        self._unfinished: dict[str, tuple[threading.Event, dict[str, SafeStateApplied]]] = {}

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
        """The instrument filling `role`, connected on first use; never while its safe state
        still runs (see `_await_safe_state`)."""
        if role in self._unfinished:
            self._await_safe_state(role)
        with self._lock:
            if role in self._open:
                return self._open[role]
            if role not in self.bench.roles:
                raise BenchtestError(
                    f"bench {self.bench.name!r} ({self.bench.path}) has no role {role!r}; "
                    f"its roles: {', '.join(self.bench.roles)}"
                )
            return self._connect(role)

    def await_safe_states(self) -> None:
        """Wait for every safe state that `make_safe` stopped waiting for (before a test
        begins: its fixtures may hold an instrument from an earlier test); the first
        InstrumentError is raised once all have been waited for."""
        failure: InstrumentError | None = None
        for role in list(self._unfinished):
            try:
                self._await_safe_state(role)
            except InstrumentError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _await_safe_state(self, role: str) -> None:
        """Wait for `role`'s safe state that `make_safe` stopped waiting for, so that none of
        its exchanges reaches the instrument while a test uses it (its outcome is recorded
        then). Still running after LATE_SAFE_STATE_WAIT s: the connection is closed under it
        (its exchange fails, which ends it) and InstrumentError is raised; the next `get`
        opens the instrument afresh."""
        found = self._unfinished.get(role)
        if found is None:  # waited for already
            return
        done, outcome = found
        started = time.monotonic()
        finished = done.wait(LATE_SAFE_STATE_WAIT)
        with self._lock:
            self._unfinished.pop(role, None)
        if finished:
            late = outcome[role]
            waited = time.monotonic() - started
            self._emit(
                SafeStateApplied(
                    role,
                    late.ok,
                    late.time,
                    f"{late.message} (finished late: the next use waited {waited:.1f} s for it)",
                )
            )
            return
        self.disconnect(role)
        raise InstrumentError(
            f"the safe state begun after the previous test has not finished after another "
            f"{LATE_SAFE_STATE_WAIT:g} s: its connection is closed, and opened afresh by the "
            "next use",
            role=role,
        )

    def _connect(self, role: str) -> Instrument:
        cfg = self.bench.roles[role]
        due = cfg.calibration_due or ""
        expired = bool(due) and dt.date.fromisoformat(due) < dt.date.today()
        if expired and self.bench.strict:
            raise InstrumentOpenError(
                f"{cfg.driver} at {cfg.resource}: calibration was due on {due}; a strict bench "
                "uses no instrument past its calibration due date",
                role=role,
            )
        cls = driver_class(cfg.driver)
        options: dict[str, Any] = {**cls.profile_options(self.dut.data), **cfg.options}
        probes = probes_of(self.dut.nets, role)
        if probes:  # the DUT profile's probe of a channel wins over one in the bench's options
            options["probes"] = {**dict(options.get("probes") or {}), **probes}
        shared = role in self.bench.shared
        # Sites claim a shared instrument by its bench-file name; everything else by address.
        claim = cfg.claim if shared else cfg.resource
        lock = self._claims.get(role)
        if lock is None:  # made once: a shared role is claimed again for every test
            lock = self._claims[role] = claim_for(cls, claim, role=role)  # channels share
        # Opened, identified and known to the pool at once: an instrument the pool does not
        # know is one it would never make safe or close (a Ctrl-C landing in between included).
        instrument: Instrument | None = None
        try:
            lock.acquire(self.shared_wait if shared else 0.0)
            instrument = open_driver(  # the channel roles of one instrument share its connection
                cls, cfg.resource, role=role, guard=self.dut.guard_for(role), **options
            )
            identity = str(instrument.identify())
            self._open[role], self._locks[role] = instrument, lock
        except BaseException as exc:
            with stops.held:  # closed and let go whole, a second Ctrl-C included
                self._open.pop(role, None)
                self._locks.pop(role, None)
                if instrument is not None:
                    with contextlib.suppress(Exception):  # the error that got here says why
                        instrument.close()
                lock.release()
            if isinstance(exc, Exception):
                raise _open_error(role, cfg.driver, cfg.resource, exc) from exc
            raise
        if expired:
            warnings.warn(
                CalibrationWarning(f"{role} ({identity}): calibration was due on {due}"),
                stacklevel=2,
            )
        self._emit(InstrumentIdentified(role, cfg.driver, cfg.resource, identity, due))
        return instrument

    def make_safe(
        self,
        timeout: float = DEFAULT_SAFE_STATE_TIMEOUT,
        *,
        record: bool = True,
        release_shared: bool = False,
    ) -> list[SafeStateApplied]:
        """Put every opened instrument in its safe state, concurrently, each within `timeout`.

        The outcome of each is emitted as a SafeStateApplied event unless `record` is off
        (a last resort from another thread, while the recorder may be busy). A Ctrl-C (or a
        stop signal) meanwhile does not abandon it: the wait goes on, the outcomes are
        recorded, and then the interrupt is raised (one that lands before every instrument was
        given its safe state, too: each instrument still gets it). With `release_shared` (the
        end of a test) each shared instrument is let go as soon as its own safe state is done,
        so the other sites need not wait for this site's other instruments (see
        `release_shared`).
        """
        with stops.held:  # the wait is bounded by `timeout`; jobs kept by `after_shared` too
            return self._make_safe(timeout, record, release_shared)

    def _make_safe(
        self, timeout: float, record: bool, release_shared: bool
    ) -> list[SafeStateApplied]:
        with self._lock:
            opened = list(self._open.items())
        if not opened:  # the usual test that opened nothing: no outcome to wait for
            return []
        results: dict[str, SafeStateApplied] = {}
        finished = {role: threading.Event() for role, _ in opened}

        def apply(role: str, instrument: Instrument) -> None:
            try:
                instrument.safe_state()
            except Exception as exc:  # recorded, never raised: the others must still be made safe
                results[role] = SafeStateApplied(
                    role, False, utc_now(), f"{type(exc).__name__}: {exc}"
                )
            else:
                results[role] = SafeStateApplied(role, True, utc_now(), "safe state applied")
            finally:
                finished[role].set()

        for role, instrument in opened:
            if instrument.safe_state_sends:
                self._submit(role, instrument, functools.partial(apply, role, instrument))
        for role, instrument in opened:
            if not instrument.safe_state_sends:  # sends nothing, so it cannot hang: no thread
                apply(role, instrument)
        failure: BaseException | None = None
        if release_shared:  # those made safe already: the others are let go after the wait
            self._disconnect(
                [r for r, _ in opened if r in self.bench.shared and finished[r].is_set()]
            )
            try:  # what waited for the claims to end, while the others are made safe
                self._run_later()
            except BaseException as exc:
                failure = exc
        interrupt = _wait_all(list(finished.values()), time.monotonic() + timeout)
        if release_shared:
            try:
                self.release_shared()
            except BaseException as exc:
                failure = failure or exc
        events = [
            results.get(role)
            or SafeStateApplied(
                role, False, utc_now(), f"safe state did not finish within {timeout:g} s"
            )
            for role, _ in opened
        ]
        with self._lock:  # still running: the next use of the instrument waits for them
            for role, instrument in opened:
                if not finished[role].is_set() and self._open.get(role) is instrument:
                    self._unfinished[role] = (finished[role], results)
        for event in events if record else ():
            self._emit(event)
        if interrupt is not None:
            raise interrupt
        if failure is not None:
            raise failure
        return events

    def _submit(self, role: str, instrument: Instrument, job: Callable[[], None]) -> None:
        """Run `job` in the thread of `role`'s instrument: its own, kept while it is open (a
        thread started for every test costs more than the safe state itself); a one-off
        thread for an instrument no longer open."""
        with self._lock:
            kept = self._open.get(role) is instrument
            worker = self._workers.get(role) if kept else None
            if worker is None:
                worker = _Worker(f"safe-state-{role}")
                if kept:
                    self._workers[role] = worker
        worker.submit(job)
        if not kept:
            worker.stop()

    def close(self) -> list[SafeStateApplied]:
        """Make everything safe, then close every connection (also after an interrupt: one
        that lands meanwhile is raised once all are closed)."""
        with stops.held:
            try:
                return self.make_safe()
            finally:
                self._disconnect(list(self._open))
                self._run_later()

    @property
    def holds_shared(self) -> bool:
        """Whether this site holds a shared instrument (between `get` and the end of the
        test)."""
        with self._lock:
            return any(role in self.bench.shared for role in self._locks)

    def after_shared(self, job: Callable[[], None]) -> None:
        """Run `job` once this site holds no shared instrument any more: at once when it holds
        none, else when the last shared claim is let go (at the end of the test, after the
        shared instruments are safe). For work that needs no instrument, such as storing a
        waveform, so that the other sites do not wait for it to get a shared scope. The jobs
        run in order; the first error is raised once all have run."""
        with self._lock:
            holding = any(role in self.bench.shared for role in self._locks)
            if holding:
                self._later.append(job)
        if not holding:
            job()

    def _run_later(self) -> None:
        """Run the jobs `after_shared` kept, once no shared claim is held."""
        with self._lock:
            if any(role in self.bench.shared for role in self._locks):
                return
            jobs, self._later = self._later, []
        failure: BaseException | None = None
        for job in jobs:
            try:
                job()
            except BaseException as exc:  # the other jobs still run: each stores a record
                failure = failure or exc
        if failure is not None:
            raise failure

    def release_shared(self) -> None:
        """Let the other sites have the shared instruments (after `make_safe`)."""
        if not self.bench.shared:
            return
        self._disconnect([role for role in self._open if role in self.bench.shared])
        self._run_later()

    def disconnect(self, role: str) -> None:
        """Close `role`'s connection and let go of its claim (after `make_safe`): the next
        `get` opens it afresh and identifies it again (a retry after an instrument error)."""
        self._disconnect([role])
        self._run_later()

    def _disconnect(self, roles: list[str]) -> None:
        # Whole, a Ctrl-C meanwhile included: a connection the pool forgot is never closed.
        with stops.held:
            with self._lock:
                opened = [self._open.pop(role) for role in roles if role in self._open]
                locks = [self._locks.pop(role) for role in roles if role in self._locks]
                workers = [self._workers.pop(role) for role in roles if role in self._workers]
                for role in roles:  # closed under it: its exchange fails, which ends it
                    self._unfinished.pop(role, None)
            for worker in workers:
                worker.stop()  # once its last job is done
            for instrument in opened:
                with contextlib.suppress(Exception):  # a connection already gone needs no closing
                    instrument.close()
            for lock in locks:
                lock.release()


class _Worker:
    """A daemon thread that runs the jobs it is given, one after the other, until stopped."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def stop(self) -> None:
        """End the thread once the jobs submitted so far are done."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()


def _wait_all(events: list[threading.Event], deadline: float) -> KeyboardInterrupt | None:
    """Wait until every event is set or `deadline` (time.monotonic()) has passed; an interrupt
    meanwhile is returned, not raised, once the wait is over. (Not `Thread.join`: interrupted,
    it can take a running thread for finished.)"""
    interrupt: KeyboardInterrupt | None = None
    for event in events:
        while True:
            try:
                event.wait(max(0.0, deadline - time.monotonic()))
                break
            except KeyboardInterrupt as exc:  # a second Ctrl-C: the bench is made safe first
                interrupt = exc
    return interrupt
