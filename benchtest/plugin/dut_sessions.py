"""Which DUT each test is for, and the DUT session (simulators, instruments, run file) it runs in.

With `--dut` every test is for that part, and a plan marked `dut_kind` of another family is
skipped. Without it, a plan's `dut_kind(family)` finds its profile in the DUT-profile folder
(`benchtest_dut_dir`); an unmarked test runs with the part of the session already open, else
the default part. One `DutSession` is open at a time: moving to a test of another part closes
the previous one (instruments safe, run file finished, simulators stopped) and opens the next.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest.config.assets import DEMO_DUT, asset
from benchtest.config.dut import DutProfile
from benchtest.config.files import load_validated
from benchtest.plugin.configuration import RunSettings, settings
from benchtest.run.session import DutSession, RunInfo
from benchtest.values.errors import BenchtestError
from benchtest.values.events import Event

ITEM_DUT = pytest.StashKey[DutProfile]()
# Set on a test that names no family (and no --dut was given): it runs with the part already
# under test, else with this default.
ITEM_ANY_DUT = pytest.StashKey[bool]()
ACTIVE = pytest.StashKey[DutSession]()
RUN_FILES = pytest.StashKey[list[Path]]()


def active(config: pytest.Config) -> DutSession | None:
    """The DUT session tests are running in now, if any."""
    return config.stash.get(ACTIVE, None)


def emit(config: pytest.Config, event: Event) -> None:
    """Send an event to the active DUT session's recorder (nowhere when there is none)."""
    session = active(config)
    if session is not None:
        session.recorder.emit(event)


def run_files(config: pytest.Config) -> list[Path]:
    """The run files written so far, one per DUT session, in order."""
    files = config.stash.get(RUN_FILES, None)
    return list(files) if files else []


def run_file(config: pytest.Config) -> Path | None:
    """The latest run file, when there is one."""
    files = run_files(config)
    return files[-1] if files else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = settings(config)
    if run is None or run.controller:
        return
    catalog = _Catalog(config, run)
    try:
        for item in items:
            marker = item.get_closest_marker("dut_kind")
            family = str(marker.args[0]) if marker is not None and marker.args else None
            if run.dut is not None and family and family != run.dut.family:
                reason = f"plan for {family} parts; the DUT {run.dut.name} is {run.dut.family}"
                item.add_marker(pytest.mark.skip(reason=reason))
            item.stash[ITEM_DUT] = run.dut or catalog.for_family(family)
            item.stash[ITEM_ANY_DUT] = run.dut is None and family is None
    except BenchtestError as exc:
        raise pytest.UsageError(f"benchtest: {exc}") from None


def activate(item: pytest.Item) -> DutSession | None:
    """Make the DUT session of `item`'s part the active one, opening it if needed."""
    config = item.config
    run = settings(config)
    dut = item.stash.get(ITEM_DUT, None)
    if run is None or dut is None:
        return None
    session = active(config)
    if session is not None and (
        session.dut.path == dut.path or item.stash.get(ITEM_ANY_DUT, False)
    ):
        return session
    if session is not None:
        _close(config, "passed")
    info = RunInfo(
        results_dir=run.results_dir,
        serial_number=run.serial_number,
        lot=run.lot,
        operator=run.operator,
        site=run.site,
        plans_root=Path(str(config.rootpath)),
    )
    try:
        session = DutSession(run.bench, dut, info, simulate=run.simulate).start()
    except (BenchtestError, OSError) as exc:
        raise pytest.UsageError(f"benchtest: cannot start testing {dut.name}: {exc}") from None
    config.stash[ACTIVE] = session
    if session.run_file is not None:
        config.stash.setdefault(RUN_FILES, []).append(session.run_file)
    return session


def _close(config: pytest.Config, outcome: str) -> None:
    session = config.stash.get(ACTIVE, None)
    if session is not None:
        del config.stash[ACTIVE]
        session.close(outcome)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    outcome = {0: "passed", 1: "failed", 2: "interrupted"}.get(int(exitstatus), "error")
    _close(session.config, outcome)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    files = run_files(config)
    if files:
        terminalreporter.write_sep("-", "benchtest")
        for path in files:
            terminalreporter.write_line(f"run file: {path}")


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
            self._default = DutProfile.load(asset(DEMO_DUT))
        return self._default

    def folder(self) -> Path:
        name = Path(str(self.config.getini("benchtest_dut_dir")))
        local = name if name.is_absolute() else Path(str(self.config.rootpath)) / name
        return local if local.is_dir() else asset("dut_profiles")

    def by_family(self) -> dict[str, list[DutProfile]]:
        if self._by_family is None:
            self._by_family = {}
            for path in sorted(self.folder().glob("*.yaml")):
                profile = DutProfile.from_file(load_validated(path, "dut", "DUT profile"))
                self._by_family.setdefault(profile.family, []).append(profile)
        return self._by_family
