"""Which DUT each test is for, and the DUT session (simulators, instruments, run file) it runs in.

With `--dut` every test is for that part, and a plan marked `dut_kind` of another family is
skipped. Without it, a plan's `dut_kind(family)` finds its profile in the DUT-profile folder
(`benchtest_dut_dir`); an unmarked test runs with the part of the session already open, else
the default part. One `DutSession` is open at a time: moving to a test of another part closes
the previous one (instruments safe, run file finished, simulators stopped) and opens the next.

Each test's id in the run file is relative to the plans' root (`benchtest.run.plans`), and each
run file records the plan files its tests came from. The terminal summary names every run file
with what its tests came to: "passed, 3 skipped: no chamber on this bench (lab 3)".

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from benchtest.config.assets import DEMO_DUT, asset
from benchtest.plugin.configuration import RunSettings, settings
from benchtest.plugin.markers import ClosestMarkers
from benchtest.values import stops
from benchtest.values.errors import BenchtestError, ResultFileError

if TYPE_CHECKING:
    from benchtest.config.dut import DutProfile
    from benchtest.run.measuring import Measure
    from benchtest.run.resume import Resumption
    from benchtest.run.session import DutSession, LaunchedSimulator
    from benchtest.values.events import Event

# Keys to values of the bench layers' types are typed by annotation: those layers are imported
# in bench runs only (see `benchtest.plugin`).
ITEM_DUT: pytest.StashKey[DutProfile] = pytest.StashKey()
# Set on a test that names no family (and no --dut was given): it runs with the part already
# under test, else with this default.
ITEM_ANY_DUT = pytest.StashKey[bool]()
ACTIVE: pytest.StashKey[DutSession] = pytest.StashKey()
RUN_FILES = pytest.StashKey[list[Path]]()
TEST_ID = pytest.StashKey[str]()
PLAN_FILE_IDS = pytest.StashKey[dict[Path, str]]()
PLANS_ROOTS = pytest.StashKey[dict[Path, Path]]()
# The helper modules the plans import from their root, found at collection.
PLAN_HELPERS = pytest.StashKey[set[Path]]()
# What each run file's tests came to, by run file: its DUT session, closed.
SUMMARIES: pytest.StashKey[dict[Path, DutSession]] = pytest.StashKey()
# The killed run the DUT session resumes (`--resume`, set by `benchtest.plugin.resume`).
RESUME: pytest.StashKey[Resumption] = pytest.StashKey()
# The simulated bench launched ahead of the first DUT session (see `_launch_simulator`).
LAUNCHED: pytest.StashKey[LaunchedSimulator] = pytest.StashKey()
# benchtest's own packages: never counted as plan files, even in a source checkout.
_PACKAGE = Path(__file__).resolve().parents[1]
_FRAMEWORK = (_PACKAGE, _PACKAGE.parent / "instruments")


@dataclass(slots=True)
class TestInProgress:
    """The attempt of a test that is running now: its id, conditions and DUT session, and the
    `Measure` it asked for (the `measure` fixture), if it did."""

    __test__ = False  # not a pytest test class
    item: pytest.Item
    test_id: str
    conditions: dict[str, Any]
    session: DutSession
    measure: Measure | None = None


# Set by the runner around each attempt (tests run one at a time, in the main thread), so that
# the `measure` fixture asks pytest for nothing: a fixture that takes `request` costs each test
# a fixture definition for it, built anew, twice.
_running: TestInProgress | None = None


def running(test: TestInProgress | None) -> TestInProgress | None:
    """Make `test` the test in progress (None: no test); returns the one it replaces, which
    the caller puts back when its attempt ends."""
    global _running
    previous, _running = _running, test
    return previous


def in_progress() -> TestInProgress | None:
    """The attempt of a bench test running now, if any."""
    return _running


def active(config: pytest.Config) -> DutSession | None:
    """The DUT session tests are running in now, if any."""
    return config.stash.get(ACTIVE, None)


def record(session: DutSession, event: Event) -> None:
    """Send an event to `session`'s recorder.

    A run file that could not be written (a full disk) is not raised here: the session keeps
    the failure, and the runner stops the run after the test (`DutSession.run_file_failure`)."""
    try:
        session.recorder.emit(event)
    except ResultFileError:
        if session.run_file_failure is None:
            raise


def run_files(config: pytest.Config) -> list[Path]:
    """The run files written so far, one per DUT session, in order."""
    files = config.stash.get(RUN_FILES, None)
    return list(files) if files else []


def run_file(config: pytest.Config) -> Path | None:
    """The latest run file, when there is one."""
    files = run_files(config)
    return files[-1] if files else None


def summaries(config: pytest.Config) -> dict[Path, str]:
    """What the tests of each finished run file came to: "BT-LDO33: passed, 3 skipped: ..."."""
    return {path: _summary(config, path)[0] for path in run_files(config)}


def _summary(config: pytest.Config, path: Path) -> tuple[str, str, int]:
    """(line, outcome, skipped) of the run file `path`: from its DUT session, or read from the
    file's header and tests table (the merged file of a multi-site run)."""
    session = config.stash.get(SUMMARIES, {}).get(path)
    if session is not None:
        return f"{session.dut.name}: {session.summary}", session.outcome, session.tally.skipped
    from benchtest.run.site_merge import merged_outcomes
    from benchtest.run.tally import describe

    try:  # the header and the tests table: the file was checked as it was merged
        part, outcome, tests = merged_outcomes(path)
    except BenchtestError as exc:
        return f"cannot be read: {exc}", "error", 0
    line = f"{part}: {describe(outcome, tests)}"
    return line, outcome, sum(test_outcome == "skipped" for test_outcome, _ in tests)


def test_id(item: pytest.Item) -> str:
    """The id of `item` in the run file: relative to the plans' root (its node id when it is
    not a test of a plan file)."""
    found = item.stash.get(TEST_ID, None)
    if found is None:
        path = getattr(item, "path", None)
        if path is None:
            found = item.nodeid
        else:
            _, separator, name = item.nodeid.partition("::")
            found = f"{_plan_file_id(item.config, path)}{separator}{name}"
        item.stash[TEST_ID] = found
    return found


def _plan_file_id(config: pytest.Config, path: Path) -> str:
    """The file part of a test id, found once per plan file and run (not once per test)."""
    ids = config.stash.setdefault(PLAN_FILE_IDS, {})
    if path not in ids:
        from benchtest.run.plans import plan_test_id

        ids[path] = plan_test_id(path, "", _plans_root(config, path))
    return ids[path]


def _plans_root(config: pytest.Config, path: Path) -> Path:
    roots = config.stash.setdefault(PLANS_ROOTS, {})
    if path not in roots:
        from benchtest.run.plans import plans_root

        explicit = str(config.getini("benchtest_plans_root") or "")
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        roots[path] = plans_root(path, base / explicit if explicit else None)
    return roots[path]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = settings(config)
    if run is None or run.controller:
        return
    catalog = _Catalog(config, run)
    closest_marker = ClosestMarkers()
    paths: set[Path] = set()  # the tests' modules: many tests share one
    try:
        for item in items:
            marker = closest_marker(item, "dut_kind")
            family = str(marker.args[0]) if marker is not None and marker.args else None
            if run.dut is not None and family and family != run.dut.family:
                reason = f"plan for {family} parts; the DUT {run.dut.name} is {run.dut.family}"
                item.add_marker(pytest.mark.skip(reason=reason))
            item.stash[ITEM_DUT] = run.dut or catalog.for_family(family)
            item.stash[ITEM_ANY_DUT] = run.dut is None and family is None
            path = getattr(item, "path", None)
            if path is not None:
                test_id(item)  # each test's id, found once here rather than as it runs
                paths.add(path)
    except BenchtestError as exc:
        raise pytest.UsageError(f"benchtest: {exc}") from None
    config.stash[PLAN_HELPERS] = _plan_helpers(config, paths)


def _plan_helpers(config: pytest.Config, paths: Iterable[Path]) -> set[Path]:
    """The modules imported from the plans' roots (of the test modules `paths`) that are
    neither test modules nor conftest files: helpers the plans share."""
    modules = {Path(path).resolve() for path in paths}
    roots = {_plans_root(config, Path(path)) for path in paths}
    return {
        file
        for file in _module_files(roots)
        if file not in modules
        and file.name != "conftest.py"
        and any(_is_plan_source(file, root) for root in roots)
    }


def _session_plan_files(item: pytest.Item, dut: DutProfile) -> tuple[Path, ...]:
    """The plan files of the DUT session `item` opens: the modules of the tests that will run
    in it (from `item` on, as long as they are for this part or for any part), the conftest
    files that apply to them, and the plans' shared helper modules."""
    items = item.session.items
    start = next((n for n, other in enumerate(items) if other is item), len(items))
    paths = {item.path}
    for other in items[start:]:
        other_dut = other.stash.get(ITEM_DUT, None)
        if other_dut is None:
            continue
        if other_dut.path != dut.path and not other.stash.get(ITEM_ANY_DUT, False):
            break
        paths.add(other.path)
    modules = {Path(path).resolve() for path in paths}  # each module once, not once per test
    config = item.config
    conftests = {c for m in modules for c in _conftests(m, _plans_root(config, m))}
    helpers = config.stash.get(PLAN_HELPERS, set())
    return tuple(sorted(modules | conftests | helpers))


def _is_plan_source(file: Path, root: Path) -> bool:
    """A module imported from under the plans' root that is neither benchtest itself nor an
    installed package (a virtual environment or cache inside the project)."""
    if not file.is_relative_to(root) or any(file.is_relative_to(p) for p in _FRAMEWORK):
        return False
    parts = file.relative_to(root).parts
    return not any(
        part.startswith(".") or part in ("site-packages", "__pycache__") for part in parts
    )


def _conftests(module: Path, root: Path) -> list[Path]:
    """The conftest.py files that apply to `module`, from its folder up to its plans' root."""
    found = []
    for folder in module.parents:
        if not folder.is_relative_to(root):
            break
        if (folder / "conftest.py").is_file():
            found.append(folder / "conftest.py")
    return found


def _module_files(roots: Iterable[Path]) -> set[Path]:
    """The files (resolved) of the Python modules imported so far that may lie under one of
    the resolved `roots`. Each module's folder is resolved once (a session imports thousands
    of modules from a few hundred folders); a file is resolved itself when its folder is under
    a root or when it is a link."""
    prefixes = tuple(os.path.join(root, "") for root in roots)
    folders: dict[str, str] = {}
    found: set[Path] = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            continue
        folder, name = os.path.split(os.path.abspath(file))
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder)
        path = os.path.join(real, name)
        if path.startswith(prefixes) or os.path.islink(path):
            found.add(Path(os.path.realpath(path)))
    return found


def activate(item: pytest.Item) -> DutSession | None:
    """Make the DUT session of `item`'s part the active one, opening it if needed."""
    config = item.config
    run = settings(config)
    dut = item.stash.get(ITEM_DUT, None)
    if run is None or dut is None:
        return None
    session = active(config)
    if session is not None and (
        session.dut is dut or session.dut.path == dut.path or item.stash.get(ITEM_ANY_DUT, False)
    ):
        return session
    if session is not None:
        close_active(config, "passed")
    from benchtest.run.session import DutSession, RunInfo

    info = RunInfo(
        results_dir=run.results_dir,
        serial_number=run.serial_number,
        lot=run.lot,
        operator=run.operator,
        site=run.site,
        plans_root=_plans_root(config, item.path),
        plan_files=_session_plan_files(item, dut),
        resume=config.stash.get(RESUME, None),
    )
    launched = config.stash.get(LAUNCHED, None)
    if launched is not None:
        del config.stash[LAUNCHED]  # the session takes it, or stops it if it is not its own
    try:
        session = DutSession(
            run.bench, dut, info, simulate=run.simulate, simulator=launched
        ).start()
    except (BenchtestError, OSError) as exc:
        raise pytest.UsageError(f"benchtest: cannot start testing {dut.name}: {exc}") from None
    config.stash[ACTIVE] = session
    if session.run_file is not None:
        config.stash.setdefault(RUN_FILES, []).append(session.run_file)
    return session


def close_active(config: pytest.Config, outcome: str) -> None:
    """Close the active DUT session (its run file finished with `outcome`, or what its
    tests came to), if there is one."""
    session = config.stash.get(ACTIVE, None)
    if session is not None:
        try:
            session.close(outcome)
        except KeyboardInterrupt:  # landed before the close began? (once begun, it finishes)
            session.close("interrupted")
            raise
        finally:
            if ACTIVE in config.stash:
                del config.stash[ACTIVE]
            if session.run_file is not None:
                config.stash.setdefault(SUMMARIES, {})[session.run_file] = session


def pytest_sessionstart(session: pytest.Session) -> None:
    """With --dut, the part is known before collection: its simulated bench is launched now."""
    run = settings(session.config)
    if run is not None and run.dut is not None:
        _launch_simulator(session.config, run, run.dut)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without --dut, the first test's part is known once collected: its simulated bench is
    launched now, while xdist waits for the other sites to collect."""
    run = settings(session.config)
    dut = session.items[0].stash.get(ITEM_DUT, None) if session.items else None
    if run is not None and dut is not None and LAUNCHED not in session.config.stash:
        _launch_simulator(session.config, run, dut)


def _launch_simulator(config: pytest.Config, run: RunSettings, dut: DutProfile) -> None:
    """Launch the simulated bench of the first DUT session (a process that runs tests, with
    --sim) without waiting for it: it starts while pytest collects and xdist hands out the
    tests, and the session waits for it when its first test starts. One that cannot be
    launched is left to the session, which says why."""
    if run.controller or not run.simulate or not run.bench.simulated_roles:
        return
    if config.option.collectonly or LAUNCHED in config.stash:
        return
    from benchtest.run.session import LaunchedSimulator

    try:
        with stops.held:  # a stop meanwhile finds it noted, for `_stop_launched`
            config.stash[LAUNCHED] = LaunchedSimulator(run.bench, dut, run.serial_number)
    except (BenchtestError, OSError):
        return


def _stop_launched(config: pytest.Config) -> None:
    """Stop the simulator launched ahead that no DUT session took."""
    launched = config.stash.get(LAUNCHED, None)
    if launched is not None:
        del config.stash[LAUNCHED]
        launched.stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    """A session stopped as it started (pytest then skips its `pytest_sessionfinish`) leaves
    no simulator behind either."""
    _stop_launched(config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    try:
        _close_session(session, exitstatus)
    finally:
        _stop_launched(session.config)


def _close_session(session: pytest.Session, exitstatus: int) -> None:
    outcome = {0: "passed", 1: "failed", 2: "interrupted"}.get(int(exitstatus), "error")
    try:
        close_active(session.config, outcome)
    except ResultFileError as exc:  # the run file failed as it closed: the summary says why
        closed = session.config.stash.get(SUMMARIES, {}).values()
        if not any(s.run_file_failure is exc for s in closed):
            raise
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    except KeyboardInterrupt:  # a stop while the session closed (or just before: closed now)
        close_active(session.config, "interrupted")
        session.exitstatus = pytest.ExitCode.INTERRUPTED
        session.config.hook.pytest_keyboard_interrupt(excinfo=pytest.ExceptionInfo.from_current())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    files = run_files(config)
    if files:
        terminalreporter.write_sep("-", "benchtest")
        closed = config.stash.get(SUMMARIES, {})
        for path in files:
            terminalreporter.write_line(f"run file: {path}")
            line, outcome, skipped = _summary(config, path)
            passed = outcome == "passed"
            terminalreporter.write_line(
                f"  {line}",
                red=not passed,
                yellow=passed and skipped > 0,
                green=passed and not skipped,
            )
            session = closed.get(path)
            if session is not None and session.run_file_failure is not None:
                terminalreporter.write_line(f"  {session.run_file_failure}", red=True)
            for line, unsafe in session.unsafe.lines() if session is not None else ():
                terminalreporter.write_line(f"  {line}", red=unsafe, yellow=not unsafe)


@pytest.fixture(scope="module")
def dut(request: pytest.FixtureRequest) -> DutProfile:
    """The DUT profile of the part under test: parameters with limits, nets, ratings."""
    session = active(request.config)
    if session is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE and --bench FILE (or --sim)",
            pytrace=False,
        )
    return session.dut


class _Catalog:
    """The DUT profiles of the profile folder, by family, loaded when first asked."""

    def __init__(self, config: pytest.Config, run: RunSettings) -> None:
        self.config = config
        self.run = run
        self._by_family: dict[str, list[DutProfile]] | None = None
        self._default: DutProfile | None = None

    def for_family(self, family: str | None) -> DutProfile:
        if family is None:
            return self.default()
        profiles = self.by_family().get(family, [])
        if len(profiles) == 1:
            return profiles[0]
        folder = self.folder()
        if not profiles:
            known = ", ".join(sorted(self.by_family())) or "none"
            raise BenchtestError(
                f"no DUT profile of family {family!r} in {folder} (families there: {known}); "
                "pass --dut PROFILE"
            )
        names = ", ".join(p.path.name for p in profiles)
        raise BenchtestError(
            f"{len(profiles)} DUT profiles of family {family!r} in {folder} ({names}): "
            "choose one with --dut PROFILE"
        )

    def default(self) -> DutProfile:
        if self._default is None:
            from benchtest.config.dut import DutProfile

            self._default = DutProfile.load(asset(DEMO_DUT))
        return self._default

    def folder(self) -> Path:
        name = Path(str(self.config.getini("benchtest_dut_dir")))
        local = name if name.is_absolute() else Path(str(self.config.rootpath)) / name
        return local if local.is_dir() else asset("dut_profiles")

    def by_family(self) -> dict[str, list[DutProfile]]:
        if self._by_family is None:
            from benchtest.config.dut import DutProfile
            from benchtest.config.files import load_validated

            self._by_family = {}
            for path in sorted(self.folder().glob("*.yaml")):
                profile = DutProfile.from_file(load_validated(path, "dut", "DUT profile"))
                self._by_family.setdefault(profile.family, []).append(profile)
        return self._by_family
