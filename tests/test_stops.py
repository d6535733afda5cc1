"""Stop signals wait while the run file writer is between two changes that belong together.

A Ctrl-C delivered at any line of the writer's code must leave a file that closes, seals and
holds every row once: the interrupt surfaces when the event's handling ends.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from benchtest.results import open_run
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values import stops
from benchtest.values.events import RunFinished, SafeStateApplied
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started

T = "2026-12-07T11:00:00+00:00"


@pytest.fixture
def stop_handler() -> Iterator[None]:
    """Ctrl-C handled as the plugin handles it during a run. (A test forgets the stops it
    received itself: the plugin's teardown hook raises pending ones before fixtures end.)"""
    previous = signal.signal(signal.SIGINT, stops.on_stop)
    stops.forget()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        stops.forget()


def test_a_stop_inside_held_is_raised_when_the_outermost_block_ends(stop_handler: None) -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt) as raised, stops.held:
        with stops.held:
            signal.raise_signal(signal.SIGINT)
            reached.append("inner")
        reached.append("outer")
    assert reached == ["inner", "outer"]
    assert raised.value.args == ()  # Ctrl-C as Python raises it
    with pytest.raises(KeyboardInterrupt):
        stops.raise_pending()  # pending until pytest has seen it
    stops.forget()
    stops.raise_pending()


def test_an_error_leaving_held_wins_and_the_stop_stays_pending(stop_handler: None) -> None:
    with pytest.raises(OSError, match="disk full"), stops.held:
        signal.raise_signal(signal.SIGINT)
        raise OSError("disk full")
    with pytest.raises(KeyboardInterrupt):
        stops.raise_pending()
    stops.forget()  # before the plugin's teardown raises it again


def test_outside_held_a_stop_is_raised_at_once_and_names_its_signal(stop_handler: None) -> None:
    previous = signal.signal(signal.SIGTERM, stops.on_stop)
    try:
        with pytest.raises(KeyboardInterrupt, match="signal SIGTERM"):
            signal.raise_signal(signal.SIGTERM)
            for _ in range(1000):  # the handler runs at the next bytecode boundary
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stops.forget()


def test_another_thread_in_held_does_not_hold_the_main_threads_stops(stop_handler: None) -> None:
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with stops.held:
            inside.set()
            leave.wait(30)

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert inside.wait(30)
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
            for _ in range(1000):
                pass
    finally:
        leave.set()
        worker.join(30)
        stops.forget()


WRITER_CODE = tuple(
    str(Path(stops.__file__).parents[1] / package) for package in ("storage", "runfile")
)


def _events() -> list[Any]:
    events: list[Any] = [Started("plan.py::test_b", T)]
    events += [SafeStateApplied(role, True, T, f"b {role}") for role in ("smu", "psu")]
    events.append(Finished("plan.py::test_b", "passed", T, 0.1))
    events.append(Started("plan.py::test_c", T))
    return events


def _interrupted_at(line: int, path: Path) -> tuple[int, bool]:
    """Write a run, Ctrl-C at the `line`-th line the writer's code runs after the first test;
    stop sending events once the interrupt surfaces, as pytest does, and close. (events sent
    in full, whether the line was reached)"""
    writer = Hdf5RunWriter(path)
    writer(run_started())
    writer(Started("plan.py::test_a", T))
    writer(SafeStateApplied("smu", True, T, "a smu"))
    writer(Finished("plan.py::test_a", "passed", T, 0.1))
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if not frame.f_code.co_filename.startswith(WRITER_CODE):
            return None
        if event == "line":
            count += 1
            if count == line:
                signal.raise_signal(signal.SIGINT)
        return trace

    sent = 0
    sys.settrace(trace)
    try:
        for event in _events():
            writer(event)
            sent += 1
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)
    stops.forget()
    writer(RunFinished(T, "interrupted"))  # the session's close
    return sent, count >= line


def test_ctrl_c_at_any_line_of_the_writer_leaves_every_row_once(
    tmp_path: Path, stop_handler: None
) -> None:
    lines, trials = 1, 0
    while True:
        path = tmp_path / f"run{trials}.h5"
        sent, reached = _interrupted_at(lines, path)
        if not reached:
            break
        trials += 1
        assert sent < len(_events()), f"line {lines}: the Ctrl-C never surfaced"
        with open_run(path) as run:
            tests = [(t.id, t.outcome) for t in run.tests]
            messages = [str(m) for m in run.safe_state_log["message"]]
            assert not run.damage, f"line {lines}: {run.damage}"
        assert tests[0] == ("plan.py::test_a", "passed"), lines
        ids = [test_id for test_id, _ in tests]
        assert len(ids) == len(set(ids)), f"line {lines}: a test stored twice: {tests}"
        expected = ["a smu", "b smu", "b psu"]
        assert messages == expected[: len(messages)], f"line {lines}: {messages}"
        # a handled event is whole in the file: the rows of every event sent before the stop
        assert len(messages) >= min(3, sent), f"line {lines}: {messages}, {sent} events sent"
        lines += 7  # every 7th line keeps the test short and still lands in each handler
    assert trials > 50, trials
