"""Helpers for tests that talk to the simulated bench through the real client libraries.

`visa_session` opens a PyVISA resource on the pyvisa-py backend with the LF terminations a raw
SCPI socket needs; `wait_until` polls a condition with a deadline instead of sleeping blindly;
`ManualClock` drives a `World` whose time moves only when a test says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pyvisa


@contextmanager
def visa_session(address: str, *, timeout: float = 5.0) -> Iterator[Any]:
    """A message-based PyVISA resource for `address`, closed (with its manager) on exit."""
    manager = pyvisa.ResourceManager("@py")
    try:
        resource = manager.open_resource(
            address, read_termination="\n", write_termination="\n", timeout=int(timeout * 1000)
        )
        try:
            yield resource
        finally:
            resource.close()
    finally:
        manager.close()


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0, poll: float = 0.01) -> None:
    """Return once `condition()` is true; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:g} s")
        time.sleep(poll)


class ManualClock:
    """A clock for a `World` that moves only when told to: `clock.now += 1e-3`."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
