"""Safe state when pytest-timeout ends a hung test.

With pytest-timeout's signal method the test fails and the normal teardown makes every
instrument safe. Its thread method (used off the main thread, on Windows, or when chosen)
ends the process with `os._exit` and no teardown, so this module takes over that timer: on
expiry it makes every instrument safe first, then lets pytest-timeout dump and exit.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from benchtest.plugin.instruments import pool

SAFE_STATE_TIMEOUT = 5.0


class ThreadTimeoutSafety:
    """pytest-timeout hooks, registered only when pytest-timeout is installed."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        in_main = threading.current_thread() is threading.main_thread()
        if settings.method == "signal" and in_main:
            return None  # pytest-timeout's own: the test fails and teardown makes it safe
        timer = threading.Timer(settings.timeout, self._expire, (item, settings))
        timer.name = f"benchtest timeout {item.nodeid}"

        def cancel() -> None:
            timer.cancel()
            timer.join()

        item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's protocol
        timer.start()
        return True

    @staticmethod
    def _expire(item: pytest.Item, settings: Any) -> None:
        import pytest_timeout

        instruments = pool(item.config)
        if instruments is not None:
            # The test's thread may still hold an instrument: best effort, before the exit.
            instruments.make_safe(timeout=SAFE_STATE_TIMEOUT, record=False)
        pytest_timeout.timeout_timer(item, settings)  # dumps the stacks, then os._exit(1)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("timeout"):
        config.pluginmanager.register(ThreadTimeoutSafety(), "benchtest-timeout-safety")
