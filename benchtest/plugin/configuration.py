"""Command-line options of a bench run, and loading of the bench file and DUT profile.

Both files are validated in `pytest_configure`, before any instrument is touched; a bad file
ends the run with one message naming the file, the field and what was expected.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from benchtest.assets import DEFAULT_BENCH, asset
from benchtest.bench import Bench
from benchtest.dut import DutProfile
from benchtest.errors import BenchtestError
from benchtest.registry import ensure_own_instruments_package


@dataclass(frozen=True)
class RunSettings:
    """What this run is: the bench, the DUT and who/where, fixed at configure time."""

    bench: Bench
    dut: DutProfile
    results_dir: Path
    serial_number: str
    lot: str
    operator: str
    simulate: bool


SETTINGS = pytest.StashKey[RunSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("benchtest", "bench testing (benchtest)")
    group.addoption(
        "--bench", metavar="FILE", help="bench file (default with --sim: benches/sim.yaml)"
    )
    group.addoption("--dut", metavar="PROFILE", help="DUT profile (YAML) of the part under test")
    group.addoption(
        "--sim",
        action="store_true",
        help="start the simulated bench for this session and serve the bench's sim:// roles",
    )
    group.addoption(
        "--results-dir",
        metavar="DIR",
        default="results",
        help="where run files go (default: results)",
    )
    group.addoption("--serial-number", metavar="SN", default="", help="serial number of the DUT")
    group.addoption("--lot", metavar="LOT", default="", help="lot of the DUT")
    group.addoption("--operator", metavar="NAME", default="", help="operator (default: login name)")
    parser.addini("benchtest_dut", "default DUT profile for --dut", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*roles): skip the test when the bench has none of these roles"
    )
    option = config.option
    dut_path = option.dut or config.getini("benchtest_dut")
    if not (option.bench or dut_path or option.sim):
        return  # not a bench run: the plugin stays out of the way
    if not dut_path:
        raise pytest.UsageError("benchtest: --dut PROFILE is required for a bench run")
    try:
        ensure_own_instruments_package()
        bench = Bench.load(option.bench or asset(DEFAULT_BENCH))
        dut = DutProfile.load(dut_path)
    except BenchtestError as exc:
        raise pytest.UsageError(f"benchtest: {exc}") from None
    if bench.simulated_roles and not option.sim:
        raise pytest.UsageError(
            f"benchtest: {bench.path}: roles {', '.join(bench.simulated_roles)} use sim:// "
            "resources; pass --sim to serve them with the simulated bench"
        )
    config.stash[SETTINGS] = RunSettings(
        bench=bench,
        dut=dut,
        results_dir=Path(option.results_dir),
        serial_number=option.serial_number,
        lot=option.lot,
        operator=option.operator or _login_name(),
        simulate=option.sim,
    )


@pytest.fixture(scope="session")
def dut(request: pytest.FixtureRequest) -> DutProfile:
    """The DUT profile of this run: parameters with limits, nets, debug port, ratings."""
    run = settings(request.config)
    if run is None:
        pytest.fail(
            "benchtest is not active: run the plan with --dut PROFILE and --bench FILE (or --sim)",
            pytrace=False,
        )
    return run.dut


def settings(config: pytest.Config) -> RunSettings | None:
    """This run's settings, or None when the plugin is inactive."""
    return config.stash.get(SETTINGS, None)


def use_bench(config: pytest.Config, bench: Bench) -> None:
    """Replace the bench of this run (the simulated bench resolves its sim:// resources)."""
    config.stash[SETTINGS] = replace(config.stash[SETTINGS], bench=bench)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
