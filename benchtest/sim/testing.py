"""Helpers for tests that talk to the simulated bench through the real client libraries.

`visa_session` opens a PyVISA resource (pyvisa-py unless another VISA library is named) with
the LF terminations a raw SCPI socket needs; `wait_until` polls a condition with a deadline
instead of sleeping blindly; `ManualClock` drives a `World` whose time moves only when a test
says so; `as_terminal_job` lets a child process take Ctrl-C and hang-ups even when the test run
itself was started in the background.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchtest.driver.visa_library import VisaLibrary, resource_manager


def as_terminal_job() -> None:
    """`preexec_fn` of a child that a test sends Ctrl-C or a hang-up: their default actions.

    A shell starts a background job (`pytest &`) with SIGINT ignored, and children inherit an
    ignored signal, so without this Python would never raise KeyboardInterrupt in the child.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@contextmanager
def visa_session(
    address: str, *, timeout: float = 5.0, library: VisaLibrary | str | None = None
) -> Iterator[Any]:
    """A message-based PyVISA resource for `address` through `library` (pyvisa-py when None),
    closed on exit. Its ResourceManager stays open: PyVISA shares one per library in a process,
    and closing it would close every other resource opened through it."""
    resource = resource_manager(library).open_resource(
        address, read_termination="\n", write_termination="\n", timeout=int(timeout * 1000)
    )
    try:
        yield resource
    finally:
        resource.close()


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0, poll: float = 0.01) -> None:
    """Return once `condition()` is true; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:g} s")
        time.sleep(poll)


class ManualClock:
    """A clock for a `World` that moves only when told to: `clock.now += 1e-3`, or when the
    world waits (`World(..., clock=clock, sleep=clock.sleep)`): then at once, by the wait."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
