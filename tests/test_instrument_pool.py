"""The instrument pool: lazy opening with the DUT's guard, and safe state for every instrument."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from benchtest import Bench, BenchtestError, DutProfile, InstrumentError
from benchtest.driver.base import Identity, Instrument
from benchtest.run import instrument_pool
from benchtest.run.instrument_pool import CalibrationWarning, InstrumentPool
from benchtest.sim.testing import wait_until
from benchtest.values.events import Event, InstrumentIdentified, SafeStateApplied
from benchtest.values.ratings import NO_GUARD, SourceGuard

RELEASE = threading.Event()


class RecordingInstrument(Instrument):
    """An instrument double that records what the pool asked of it (no protocol involved)."""

    opened: ClassVar[list[RecordingInstrument]] = []
    behaviour = "ok"

    def __init__(self, resource: str, options: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.options = options
        self.calls: list[str] = []
        self.threads: list[threading.Thread] = []  # the thread of each safe_state

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Self:
        instrument = cls(resource, options, role=role, guard=guard)
        RecordingInstrument.opened.append(instrument)
        return instrument

    @classmethod
    def profile_options(cls, dut: Any) -> dict[str, Any]:
        return {"baudrate": dut["debug_port"]["baudrate"], "timeout": 1.0}

    def identify(self) -> Identity:
        return Identity("ACME", "X1", self.role, "1.0")

    def safe_state(self) -> None:
        self.calls.append("safe_state")
        self.threads.append(threading.current_thread())
        if self.role == "smu" and RecordingInstrument.behaviour == "hang":
            RELEASE.wait(10)
        if self.role == "smu" and RecordingInstrument.behaviour == "raise":
            raise OSError("connection reset")

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture
def pool(
    ldo_profile_text: str, sim_bench_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[InstrumentPool, list[Event]]]:
    monkeypatch.setattr(
        "benchtest.run.instrument_pool.driver_class", lambda name: RecordingInstrument
    )
    RecordingInstrument.opened = []
    RecordingInstrument.behaviour = "ok"
    RELEASE.clear()
    (tmp_path / "ldo.yaml").write_text(ldo_profile_text, encoding="utf-8")
    (tmp_path / "sim.yaml").write_text(sim_bench_text, encoding="utf-8")
    events: list[Event] = []
    bench = Bench.load(tmp_path / "sim.yaml")
    before = set(threading.enumerate())
    instruments = InstrumentPool(bench, DutProfile.load(tmp_path / "ldo.yaml"), events.append)
    yield instruments, events
    RecordingInstrument.behaviour = "ok"
    RELEASE.set()  # a safe state still hanging returns
    instruments.close()  # the safe-state threads end with their connections
    wait_until(
        lambda: not {t for t in threading.enumerate() if t.name.startswith("safe-state-")} - before
    )


def test_opens_lazily_once_with_guard_and_options(pool: tuple[InstrumentPool, list[Event]]) -> None:
    instruments, events = pool
    assert RecordingInstrument.opened == []
    smu = instruments["smu"]
    assert instruments.get("smu") is smu
    assert len(RecordingInstrument.opened) == 1
    assert smu.guard.ratings and smu.guard.ratings[0].name == "vin"
    # bench options override what the driver takes from the profile
    assert RecordingInstrument.opened[0].options == {"baudrate": 115200, "timeout": 5.0}
    assert events == [InstrumentIdentified("smu", "keithley.k2450", "sim://smu", "ACME,X1,smu,1.0")]


def test_unknown_role_names_the_bench_roles(pool: tuple[InstrumentPool, list[Event]]) -> None:
    instruments, _ = pool
    with pytest.raises(BenchtestError, match="has no role 'afg'; its roles: smu, scope, uart, psu"):
        instruments.get("afg")


def test_safe_state_reaches_every_instrument_when_one_fails(
    pool: tuple[InstrumentPool, list[Event]],
) -> None:
    instruments, events = pool
    RecordingInstrument.behaviour = "raise"
    for role in ("smu", "scope", "uart"):
        instruments.get(role)
    results = {e.role: e for e in instruments.make_safe()}
    assert not results["smu"].ok and "connection reset" in results["smu"].message
    assert results["scope"].ok and results["uart"].ok
    assert all(i.calls == ["safe_state"] for i in RecordingInstrument.opened)
    assert [e for e in events if isinstance(e, SafeStateApplied)] == list(results.values())


def test_a_hanging_instrument_does_not_block_the_others(
    pool: tuple[InstrumentPool, list[Event]],
) -> None:
    instruments, _ = pool
    RecordingInstrument.behaviour = "hang"
    for role in ("smu", "scope"):
        instruments.get(role)
    try:
        results = {e.role: e for e in instruments.make_safe(timeout=1.0)}  # room for a busy CPU
    finally:
        RELEASE.set()
    assert not results["smu"].ok
    assert "did not finish within 1 s" in results["smu"].message
    assert results["scope"].ok


def test_each_instrument_is_made_safe_in_a_thread_of_its_own_kept_while_it_is_open(
    pool: tuple[InstrumentPool, list[Event]],
) -> None:
    instruments, _ = pool
    smu, scope = instruments.get("smu"), instruments.get("scope")
    for _ in range(3):
        assert all(e.ok for e in instruments.make_safe())
    assert len(set(smu.threads)) == len(set(scope.threads)) == 1  # the same thread each time
    kept = smu.threads[0]
    assert kept is not threading.current_thread() and kept is not scope.threads[0]
    instruments.close()
    kept.join(timeout=10)
    assert not kept.is_alive()  # ended with its instrument's connection


def test_an_instrument_whose_safe_state_sends_nothing_is_made_safe_in_the_calling_thread(
    pool: tuple[InstrumentPool, list[Event]], monkeypatch: pytest.MonkeyPatch
) -> None:
    instruments, events = pool
    monkeypatch.setattr(RecordingInstrument, "safe_state_sends", False)
    scope = instruments.get("scope")
    results = instruments.make_safe()
    assert scope.threads == [threading.current_thread()]
    assert [(e.role, e.ok) for e in results] == [("scope", True)]
    assert [e for e in events if isinstance(e, SafeStateApplied)] == results


def test_an_instrument_still_hanging_is_reported_again_then_made_safe_once_it_answers(
    pool: tuple[InstrumentPool, list[Event]],
) -> None:
    instruments, _ = pool
    RecordingInstrument.behaviour = "hang"
    smu = instruments.get("smu")
    try:
        for _ in range(2):  # its thread is still in the first safe_state
            (result,) = instruments.make_safe(timeout=0.2)
            assert not result.ok and "did not finish within 0.2 s" in result.message
    finally:
        RecordingInstrument.behaviour = "ok"
        RELEASE.set()
    (result,) = instruments.make_safe(timeout=10)  # the queued ones run, then this one
    assert result.ok
    assert smu.calls == ["safe_state"] * 3


def test_the_next_use_waits_for_a_safe_state_still_running_and_records_it(
    pool: tuple[InstrumentPool, list[Event]],
) -> None:
    instruments, events = pool
    RecordingInstrument.behaviour = "hang"
    smu = instruments.get("smu")
    (result,) = instruments.make_safe(timeout=0.2)
    assert not result.ok  # still running in its thread when the test ended
    released = threading.Event()

    def release() -> None:
        time.sleep(0.3)
        released.set()
        RELEASE.set()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        assert instruments.get("smu") is smu  # not before its safe state is over
        assert released.is_set()
    finally:
        RELEASE.set()
        releaser.join()
    late = [e for e in events if isinstance(e, SafeStateApplied)][-1]
    assert late.ok and "finished late: the next use waited" in late.message
    assert smu.calls == ["safe_state"]


def test_a_safe_state_that_never_ends_has_its_connection_closed_before_the_next_use(
    pool: tuple[InstrumentPool, list[Event]], monkeypatch: pytest.MonkeyPatch
) -> None:
    instruments, _ = pool
    monkeypatch.setattr(instrument_pool, "LATE_SAFE_STATE_WAIT", 0.2)
    RecordingInstrument.behaviour = "hang"
    smu = instruments.get("smu")
    instruments.make_safe(timeout=0.1)
    with pytest.raises(InstrumentError, match=r"\[smu\] the safe state .* has not finished"):
        instruments.get("smu")
    assert smu.calls == ["safe_state", "close"]
    RecordingInstrument.behaviour = "ok"
    assert instruments.get("smu") is not smu  # opened afresh
    assert len(RecordingInstrument.opened) == 2


def test_close_makes_safe_then_closes(pool: tuple[InstrumentPool, list[Event]]) -> None:
    instruments, _ = pool
    instruments.get("uart")
    instruments.close()
    assert RecordingInstrument.opened[0].calls == ["safe_state", "close"]


def test_past_calibration_is_warned_and_recorded(
    ldo_profile_text: str, sim_bench_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "benchtest.run.instrument_pool.driver_class", lambda name: RecordingInstrument
    )
    (tmp_path / "ldo.yaml").write_text(ldo_profile_text, encoding="utf-8")
    bench_text = sim_bench_text.replace(
        "    resource: sim://smu\n", "    resource: sim://smu\n    calibration_due: 2021-06-30\n"
    )
    (tmp_path / "bench.yaml").write_text(bench_text, encoding="utf-8")
    events: list[Event] = []
    pool = InstrumentPool(
        Bench.load(tmp_path / "bench.yaml"), DutProfile.load(tmp_path / "ldo.yaml"), events.append
    )
    with pytest.warns(CalibrationWarning, match="smu .*calibration was due on 2021-06-30"):
        pool.get("smu")
    pool.get("scope")  # no date given: no warning
    pool.close()
    identified = [e for e in events if isinstance(e, InstrumentIdentified)]
    assert [(e.role, e.calibration_due) for e in identified] == [
        ("smu", "2021-06-30"),
        ("scope", ""),
    ]
