"""The bench's instruments as fixtures: `bench`, one fixture per role, and `requires(...)`.

Instruments belong to the active DUT session and are opened on first use. Every test leaves
them in their safe state, whatever happened; so does the end of each DUT session, Ctrl-C,
SIGTERM and SIGHUP (a closed terminal or SSH session), the last two turned into an interrupt so
that pytest tears down normally (on the xdist controller of a multi-site run too). A stop that
arrives once the tests are over is noted, not raised, and ends the run with exit status 2.
Role fixtures live per plan module (per test for a role shared between sites, which is
claimed one test at a time).
A test that requires a role the bench lacks is skipped ("no chamber on this bench (lab 3)"), or
on a strict bench is an error; an instrument that cannot be opened is one line of report.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import atexit
import signal
import threading
import types
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import active, close_active
from benchtest.values import stops
from benchtest.values.errors import BenchtestError

if TYPE_CHECKING:
    from benchtest.driver.base import Instrument
    from benchtest.run.instrument_pool import InstrumentPool

PREVIOUS_HANDLERS = pytest.StashKey[dict[signal.Signals, Any]]()
_SESSION = pytest.StashKey[pytest.Session]()
# What a stop says for itself in the summary, by signal.
_STOP_NAMES = {"SIGINT": "Ctrl-C"}
# Exit statuses a late stop leaves as they are: the run did not get as far as its tests.
_KEPT_STATUSES = (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
# The bench runs of this process that have not ended (pytest_unconfigure).
_UNFINISHED: list[pytest.Config] = []


def close_unfinished() -> None:
    """Close the DUT session of every bench run that a stop signal ended before pytest could
    close it: its instruments made safe and closed, its run file finished as interrupted, its
    simulators stopped. (A stop that lands as pytest ends the session skips the rest of its
    end-of-session hooks; `pytest_unconfigure` then closes what they left open, and this, what
    a stop kept even that from closing.) The `benchtest` command calls it when a stop ends it;
    it also runs at the interpreter's exit."""
    while _UNFINISHED:
        config = _UNFINISHED.pop()
        with stops.held:
            close_active(config, "interrupted")


atexit.register(close_unfinished)


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
    if run is None:
        return
    if not run.controller:
        # One fixture per bench role; a module object because pytest reads fixtures from a
        # plugin's namespace, and the roles are known only once the bench file is loaded.
        holder = types.ModuleType("benchtest_bench_roles")
        for role in run.bench.roles:
            setattr(holder, f"fixture_{role}", _role_fixture(role, role in run.bench.shared))
        config.pluginmanager.register(holder, "benchtest-roles")
        _UNFINISHED.append(config)
    # The xdist controller of a multi-site run too: a SIGTERM (a CI cancel) ends it as an
    # interrupt, so that it waits for its sites and says where their run files are.
    config.stash[_SESSION] = session
    stops.forget()
    stops.raise_on_stop()
    if threading.current_thread() is threading.main_thread():
        # Each handler replaced is noted at once: all are put back at the end, a Ctrl-C
        # landing meanwhile included.
        handlers = config.stash[PREVIOUS_HANDLERS] = {}
        for signum in stops.STOP_SIGNALS:
            handlers[signum] = signal.signal(signum, stops.on_stop)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            handlers[signal.SIGINT] = signal.signal(signal.SIGINT, stops.on_stop)


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """pytest ends the session as interrupted: nothing left to raise again."""
    stops.forget()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None]:
    """The tests are over: a stop from now on is noted, not raised, so that the run file is
    closed (as interrupted), the sites' files gathered and the summary written; the run then
    ends with pytest's interrupted exit status (see `pytest_unconfigure`)."""
    if PREVIOUS_HANDLERS in session.config.stash:
        stops.note_only()
    return (yield)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    stop = stops.received() if PREVIOUS_HANDLERS in config.stash else None
    if stop is not None:
        terminalreporter.write_line(
            f"benchtest: {_STOP_NAMES.get(stop, stop)} received as the session ended (noted, "
            "not raised): the run ends as interrupted (exit status 2)",
            yellow=True,
        )


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
        stops.raise_pending()
        return (yield)
    finally:
        with stops.held:  # a stop landing here is raised once the instruments are safe
            instruments = pool(item.config)
            if instruments is not None:
                instruments.make_safe(release_shared=True)  # each shared one let go once safe
                instruments.release_shared()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    stops.raise_pending()
    instruments = pool(item.config)
    if instruments is not None:  # no exchange of an earlier safe state during this test
        instruments.await_safe_states()
    marker = item.get_closest_marker("requires")
    run = settings(item.config)
    if marker is None or run is None:
        return
    missing = [role for role in marker.args if role not in run.bench.roles]
    if not missing:
        return
    from benchtest.run.instrument_pool import MissingRoleError, missing_roles_message

    if run.bench.strict:
        raise MissingRoleError(f"{missing_roles_message(run.bench, missing)}; the bench is strict")
    pytest.skip(missing_roles_message(run.bench, missing))


@pytest.hookimpl(tryfirst=True)  # before --pdb shows the report
def pytest_exception_interact(
    node: pytest.Item | pytest.Collector,
    call: pytest.CallInfo[Any],
    report: pytest.TestReport | pytest.CollectReport,
) -> None:
    """An instrument that cannot be opened, or a role a strict bench lacks: one line, not a
    traceback through the transport. (pytest calls this for a phase that raised, before the
    bench runner logs its reports.)"""
    error = call.excinfo.value if call.excinfo is not None else None
    if not (report.failed and isinstance(error, BenchtestError)):
        return
    from benchtest.run.instrument_pool import InstrumentOpenError, MissingRoleError

    if isinstance(error, InstrumentOpenError | MissingRoleError):
        report.longrepr = f"{type(error).__name__}: {error}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _UNFINISHED:
        with stops.held:  # a session pytest did not close: a stop ended its end-of-session hooks
            close_active(config, "interrupted")
        _UNFINISHED.remove(config)
    if PREVIOUS_HANDLERS in config.stash:
        handlers = config.stash[PREVIOUS_HANDLERS]
        del config.stash[PREVIOUS_HANDLERS]
        with stops.held:  # every handler put back, a stop meanwhile raised once they are
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            stops.raise_on_stop()
    _interrupted_by_late_stop(config)


def _interrupted_by_late_stop(config: pytest.Config) -> None:
    """A stop noted once the tests were over ends the run as pytest ends an interrupted one:
    with exit status 2 (which `pytest.main` returns from the session)."""
    session = config.stash.get(_SESSION, None)
    if session is None:
        return
    del config.stash[_SESSION]
    if stops.pending() and session.exitstatus not in _KEPT_STATUSES:
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    stops.forget()
