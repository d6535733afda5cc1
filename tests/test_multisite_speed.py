"""What keeps a multi-site session short: a shared instrument let go as soon as it is safe, a
waveform stored after the claim ends, the merge started while the workers stop, a fast exit."""

from __future__ import annotations

import atexit
import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pytest
from test_multisite_merge import _part

from benchtest import Bench, DutProfile
from benchtest.driver.base import Identity, Instrument
from benchtest.driver.ownership import InstrumentBusyError, ResourceLock
from benchtest.plugin import sites
from benchtest.plugin.sites import _PartReader
from benchtest.results import open_run
from benchtest.run.instrument_pool import InstrumentPool
from benchtest.run.measuring import Measure
from benchtest.run.site_merge import verify_merge
from benchtest.sim.testing import wait_until
from benchtest.values.events import Event, SafeStateApplied, WaveformRecorded
from benchtest.values.ratings import NO_GUARD, SourceGuard
from benchtest.values.waveform import Waveform

BENCH = """
schema_version: 1
name: two-site bench
instruments:
  scope: {driver: rigol.ds1000z, resource: "TCPIP0::10.0.0.9::INSTR"}
sites:
  A:
    instruments:
      smu: {driver: keithley.k2450, resource: "TCPIP0::10.0.0.1::INSTR"}
  B:
    instruments:
      smu: {driver: keithley.k2450, resource: "TCPIP0::10.0.0.2::INSTR"}
"""


class Fake(Instrument):
    """An SMU whose safe state waits for `smu_free` (it sends, so it has a thread)."""

    smu_free: ClassVar[threading.Event] = threading.Event()

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        return cls(role=role, guard=guard)

    def identify(self) -> Identity:
        return Identity("ACME", "X1", self.role, "1.0")

    def safe_state(self) -> None:
        if not Fake.smu_free.wait(10):
            raise TimeoutError("the test never let the SMU go")


class FakeScope(Fake):
    """A scope: its safe state sends nothing, so it is made safe in the calling thread."""

    safe_state_sends = False

    def safe_state(self) -> None:
        pass


@pytest.fixture
def site_a(
    ldo_profile_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[InstrumentPool, list[Event]]]:
    monkeypatch.setattr(
        "benchtest.run.instrument_pool.driver_class",
        lambda name: {"keithley.k2450": Fake, "rigol.ds1000z": FakeScope}[name],
    )
    Fake.smu_free.clear()
    (tmp_path / "ldo.yaml").write_text(ldo_profile_text, encoding="utf-8")
    (tmp_path / "bench.yaml").write_text(BENCH, encoding="utf-8")
    bench = Bench.load(tmp_path / "bench.yaml").for_site("A")
    events: list[Event] = []
    pool = InstrumentPool(bench, DutProfile.load(tmp_path / "ldo.yaml"), events.append)
    before = set(threading.enumerate())
    yield pool, events
    Fake.smu_free.set()
    pool.close()  # its instruments' safe-state threads end with their connections
    wait_until(lambda: not _safe_state_threads() - before, timeout=5.0)


def _safe_state_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("safe-state-")}


def _other_site_claim(pool: InstrumentPool) -> ResourceLock:
    return ResourceLock(pool.bench.roles["scope"].claim, role="scope")


def test_the_shared_scope_is_let_go_before_the_sites_own_instruments_are_safe(
    site_a: tuple[InstrumentPool, list[Event]],
) -> None:
    pool, events = site_a
    pool.get("smu"), pool.get("scope")
    stored: list[str] = []
    pool.after_shared(lambda: stored.append("waveform"))
    assert (pool.holds_shared, stored) == (True, [])  # kept while the scope is claimed
    with pytest.raises(InstrumentBusyError):
        _other_site_claim(pool).acquire()
    ending = threading.Thread(target=pool.make_safe, kwargs={"release_shared": True})
    ending.start()
    try:
        other = _other_site_claim(pool).acquire(wait=5.0)  # while the SMU is still busy
        # The kept job runs just after the claim is let go, in the ending thread: wait for it.
        wait_until(lambda: stored == ["waveform"], timeout=5.0)
        assert (ending.is_alive(), pool.holds_shared) == (True, False)
        other.release()
    finally:
        Fake.smu_free.set()
        ending.join(10)
    safe = [(e.role, e.ok) for e in events if isinstance(e, SafeStateApplied)]
    assert safe == [("smu", True), ("scope", True)]
    assert "scope" not in pool._open and "smu" in pool._open  # its own stay open
    pool.after_shared(lambda: stored.append("at once"))  # nothing shared is held now
    assert stored == ["waveform", "at once"]


def test_a_deferred_job_that_fails_is_raised_after_every_instrument_is_safe(
    site_a: tuple[InstrumentPool, list[Event]],
) -> None:
    pool, events = site_a
    pool.get("smu"), pool.get("scope")
    Fake.smu_free.set()
    ran: list[int] = []

    def failing() -> None:
        raise OSError("disk full")

    for job in (failing, lambda: ran.append(2)):
        pool.after_shared(job)
    with pytest.raises(OSError, match="disk full"):
        pool.make_safe(release_shared=True)
    assert ran == [2]  # the next job still ran
    assert [e.role for e in events if isinstance(e, SafeStateApplied)] == ["smu", "scope"]
    assert not pool.holds_shared


def test_a_waveform_recorded_while_the_scope_is_claimed_is_stored_as_it_was_then(
    site_a: tuple[InstrumentPool, list[Event]],
) -> None:
    pool, events = site_a
    Fake.smu_free.set()
    measure = Measure("plan.py::test_ramp", pool.dut, events.append, pool=pool)
    pool.get("scope")
    samples = np.arange(8, dtype=np.uint8)
    settings = {"vertical_scale": 0.5}
    measure.waveform("ramp", Waveform(samples, dt=1e-6, settings=settings), "VOUT")
    samples[:] = 0  # the plan goes on working on its own arrays
    settings["vertical_scale"] = 9.0
    assert not [e for e in events if isinstance(e, WaveformRecorded)]
    pool.make_safe(release_shared=True)
    stored = [e for e in events if isinstance(e, WaveformRecorded)]
    assert len(stored) == 1 and stored[0].description == "VOUT"
    assert stored[0].waveform.samples.tolist() == list(range(8))
    assert stored[0].waveform.settings == {"vertical_scale": 0.5}
    assert events.index(stored[0]) < min(
        events.index(e) for e in events if isinstance(e, SafeStateApplied)
    )
    measure.waveform("later", Waveform(samples, dt=1e-6))  # no claim held: stored at once
    assert [e.name for e in events if isinstance(e, WaveformRecorded)] == ["ramp", "later"]


def _parts(folder: Path) -> list[Path]:
    return [_part(folder, "A", "U1"), _part(folder, "B", "U2")]


def test_the_merge_started_when_the_last_site_is_done_is_used_when_nothing_came_after(
    tmp_path: Path,
) -> None:
    parts = _parts(tmp_path)
    reader = _PartReader()
    try:
        reader.read(parts)
        reader.merge(tmp_path / "results", [parts])
        merged = reader.take_merged([list(parts)])
    finally:
        reader.close()
    assert merged is not None and [m.parts for m in merged] == [parts]
    destination = merged[0].destination
    assert destination is not None and merged[0].problem is None
    verify_merge(parts, destination)
    assert all(p.exists() for p in parts)  # the parts go only once the merge is used
    with open_run(destination) as run:
        assert [t.conditions["site"] for t in run.tests] == ["A", "B", "A", "B"]


def test_a_merge_started_before_a_restarted_site_came_back_is_dropped(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    reader = _PartReader()
    try:
        reader.read(parts[:1])
        reader.merge(tmp_path / "results", [parts[:1]])  # site B's worker crashed, restarted
        assert reader.take_merged([parts]) is None
    finally:
        reader.close()
    assert not list((tmp_path / "results").glob("*.h5"))  # its merged file is removed
    assert reader.take_merged([parts]) is None  # and nothing is left to take


def test_a_benchtest_process_freezes_what_is_left_when_it_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, Callable[[], Any]]] = []
    monkeypatch.setattr(atexit, "register", lambda f: calls.append(("register", f)))
    monkeypatch.setattr(atexit, "unregister", lambda f: calls.append(("unregister", f)))
    config = pytest.Config.__new__(pytest.Config)
    monkeypatch.setattr(sites, "settings", lambda config: object())
    sites.pytest_unconfigure(config)  # once per process, however many sessions it runs
    assert calls == [("unregister", gc.freeze), ("register", gc.freeze)]
    calls.clear()
    monkeypatch.setattr(sites, "settings", lambda config: None)  # benchtest not active
    sites.pytest_unconfigure(config)
    assert calls == []
