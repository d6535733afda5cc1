"""The bench's instruments as fixtures: `bench`, one fixture per role, and `requires(...)`.

Instruments belong to the active DUT session and are opened on first use. Every test leaves
them in their safe state, whatever happened; so does the end of each DUT session, Ctrl-C,
SIGTERM and SIGHUP (a closed terminal or SSH session), the last two turned into an interrupt so
that pytest tears down normally. Role fixtures live per
plan module (per test for a role shared between sites, which is claimed one test at a time).
A test that requires a role the bench lacks is skipped ("no chamber on this bench (lab 3)"), or
on a strict bench is an error; an instrument that cannot be opened is one line of report.
"""

from __future__ import annotations

import signal
import threading
import types
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

from benchtest.driver.base import Instrument
from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import active
from benchtest.run.instrument_pool import (
    InstrumentOpenError,
    InstrumentPool,
    MissingRoleError,
    missing_roles_message,
)

PREVIOUS_HANDLERS = pytest.StashKey[dict[signal.Signals, Any]]()
# Signals that end a run like Ctrl-C: SIGTERM (kill, CI cancel), SIGHUP (terminal closed) and
# on Windows SIGBREAK (Ctrl+Break).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGBREAK") if hasattr(signal, name)
)


def pool(config: pytest.Config) -> InstrumentPool | None:
    """The instruments of the active DUT session, if one is open."""
    session = active(config)
    return session.pool if session is not None else None


def _pool(config: pytest.Config) -> InstrumentPool:
    found = pool(config)
    if found is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE and --bench FILE (or --sim)",
            pytrace=False,
        )
    return found


def _role_fixture(role: str, shared: bool) -> Any:
    @pytest.fixture(name=role, scope="function" if shared else "module")
    def fixture(request: pytest.FixtureRequest) -> Instrument:
        return _pool(request.config).get(role)

    fixture.__doc__ = f"The instrument that fills the bench's {role!r} role."
    return fixture


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    run = settings(config)
    if run is None or run.controller:
        return
    # One fixture per bench role; a module object because pytest reads fixtures from a
    # plugin's namespace, and the roles are known only once the bench file is loaded.
    holder = types.ModuleType("benchtest_bench_roles")
    for role in run.bench.roles:
        setattr(holder, f"fixture_{role}", _role_fixture(role, role in run.bench.shared))
    config.pluginmanager.register(holder, "benchtest-roles")
    if threading.current_thread() is threading.main_thread():
        config.stash[PREVIOUS_HANDLERS] = {
            signum: signal.signal(signum, _stop_to_interrupt) for signum in STOP_SIGNALS
        }


def _stop_to_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@pytest.fixture(scope="module")
def bench(request: pytest.FixtureRequest) -> InstrumentPool:
    """The bench: its instruments by role (`bench["smu"]`), `bench.roles`, `"psu" in bench`."""
    return _pool(request.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Every test leaves every opened instrument in its safe state, whatever happened: after
    its fixtures are torn down (a hook, not a fixture, so it costs a test nothing when no
    instrument is open)."""
    try:
        return (yield)
    finally:
        instruments = pool(item.config)
        if instruments is not None:
            instruments.make_safe()
            instruments.release_shared()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("requires")
    run = settings(item.config)
    if marker is None or run is None:
        return
    missing = [role for role in marker.args if role not in run.bench.roles]
    if missing and run.bench.strict:
        raise MissingRoleError(f"{missing_roles_message(run.bench, missing)}; the bench is strict")
    if missing:
        pytest.skip(missing_roles_message(run.bench, missing))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """An instrument that cannot be opened, or a role a strict bench lacks: one line, not a
    traceback through the transport."""
    report = yield
    error = call.excinfo.value if call.excinfo is not None else None
    if report.failed and isinstance(error, InstrumentOpenError | MissingRoleError):
        report.longrepr = f"{type(error).__name__}: {error}"
    return report


def pytest_unconfigure(config: pytest.Config) -> None:
    if PREVIOUS_HANDLERS in config.stash:
        for signum, handler in config.stash[PREVIOUS_HANDLERS].items():
            signal.signal(signum, handler)
        del config.stash[PREVIOUS_HANDLERS]
