"""The bench's instruments as fixtures: `bench`, one fixture per role, and `requires(...)`.

Instruments are opened on first use and returned to their safe state after every test and at
the end of the session, also after Ctrl-C and SIGTERM (which is turned into an interrupt so
pytest tears down normally).
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
from benchtest.instrument_pool import InstrumentPool
from benchtest.plugin.configuration import settings
from benchtest.plugin.recording import recorder

POOL = pytest.StashKey[InstrumentPool]()
PREVIOUS_SIGTERM = pytest.StashKey[Any]()


def _pool(config: pytest.Config) -> InstrumentPool:
    pool = config.stash.get(POOL, None)
    if pool is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE and --bench FILE (or --sim)",
            pytrace=False,
        )
    return pool


def _role_fixture(role: str, shared: bool) -> Any:
    # A role shared between sites is claimed per test, so its fixture is per test too.
    @pytest.fixture(name=role, scope="function" if shared else "session")
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
    pool = InstrumentPool(run.bench, run.dut, recorder(config).emit)
    config.stash[POOL] = pool
    # One session fixture per bench role; a module object because pytest reads fixtures from
    # a plugin's namespace, and the roles are known only once the bench file is loaded.
    holder = types.ModuleType("benchtest_bench_roles")
    for role in run.bench.roles:
        setattr(holder, f"fixture_{role}", _role_fixture(role, role in run.bench.shared))
    config.pluginmanager.register(holder, "benchtest-roles")
    if threading.current_thread() is threading.main_thread():
        config.stash[PREVIOUS_SIGTERM] = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> InstrumentPool:
    """The bench: its instruments by role (`bench["smu"]`), `bench.roles`, `"psu" in bench`."""
    return _pool(request.config)


@pytest.fixture(autouse=True)
def _safe_state_after_test(request: pytest.FixtureRequest) -> Generator[None]:
    """Every test leaves every opened instrument in its safe state, whatever happened."""
    yield
    pool = request.config.stash.get(POOL, None)
    if pool is not None:
        pool.make_safe()
        pool.release_shared()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("requires")
    if marker is None:
        return
    pool = _pool(item.config)
    missing = [role for role in marker.args if role not in pool]
    if missing:
        pytest.skip(f"bench {pool.bench.name!r} has no {', '.join(missing)} role")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    pool = config.stash.get(POOL, None)
    if pool is not None:
        pool.close()
    if PREVIOUS_SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[PREVIOUS_SIGTERM])
        del config.stash[PREVIOUS_SIGTERM]
