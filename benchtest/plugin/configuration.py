"""Command-line options of a bench run, and loading of the bench file and DUT profile.

The bench file and an explicit `--dut` profile are validated in `pytest_configure`, before
any instrument is touched; a bad file ends the run with one message naming the file, the
field and what was expected. That is where a run is found to be a bench run, and the layers
it uses are imported (`benchtest.plugin.import_bench_layers`). Without `--dut`, each plan's
`dut_kind` picks its profile (see `dut_sessions`). A multi-site bench is narrowed here to the
site this process tests, and `--strict-bench` makes the bench strict (as `strict: true` in the
bench file does). A run that asks for no bench but collects benchtest plans stops with one
message saying how to run them.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchtest.config.assets import DEFAULT_BENCH, asset
from benchtest.plugin import import_bench_layers
from benchtest.plugin.markers import ClosestMarkers
from benchtest.plugin.rootdir import check_rootdir
from benchtest.values.errors import BenchtestError

if TYPE_CHECKING:
    from benchtest.config.bench import Bench
    from benchtest.config.dut import DutProfile


@dataclass(frozen=True)
class RunSettings:
    """What this run is: the bench, the DUT and who/where, fixed at configure time."""

    bench: Bench
    dut: DutProfile | None  # the --dut profile; None: each plan's dut_kind chooses
    results_dir: Path
    serial_number: str
    lot: str
    operator: str
    simulate: bool
    # The site this process tests on a multi-site bench ("" on a single-site bench). With
    # pytest-xdist the controller process runs no test: it only gathers the sites' results.
    site: str = ""
    controller: bool = False
    # How often a test that failed for an instrument-level error runs again, each time with a
    # fresh connection to the instrument (--instrument-retries).
    instrument_retries: int = 0


SETTINGS = pytest.StashKey[RunSettings]()
# The fixtures that make a test a benchtest plan (they need a bench to run at all).
PLAN_FIXTURES = ("dut", "measure", "bench")
PLAN_MARKERS = ("requires", "dut_kind")


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
    group.addoption(
        "--serial-number",
        metavar="SN",
        default="",
        help="serial number of the DUT; on a multi-site bench per site: A=U0001,B=U0002",
    )
    group.addoption("--site", metavar="NAME", help="the site to test on a multi-site bench")
    group.addoption("--lot", metavar="LOT", default="", help="lot of the DUT")
    group.addoption("--operator", metavar="NAME", default="", help="operator (default: login name)")
    group.addoption(
        "--strict-bench",
        action="store_true",
        help="for qualification and nightly runs: a role a test requires but the bench lacks is "
        "an error, not a skip, and no instrument past its calibration due date is used (also "
        "`strict: true` in the bench file)",
    )
    group.addoption(
        "--visa-library",
        metavar="LIBRARY",
        help="the VISA library of the bench's VISA roles, instead of the bench file's "
        "visa_library: @py (pyvisa-py, the default), @ivi (NI-VISA, Keysight IO Libraries), "
        "the path of a VISA shared library, or FILE.yaml@sim (pyvisa-sim)",
    )
    group.addoption(
        "--instrument-retries",
        metavar="N",
        type=_whole_number,
        default=0,
        help="run a test again, up to N times, when an instrument could not be opened or "
        "stopped answering, each time with a fresh connection (default: 0; for unattended runs)",
    )
    parser.addini("benchtest_dut", "default DUT profile for --dut", default="")
    parser.addini(
        "benchtest_dut_dir",
        "folder of DUT profiles searched by a plan's dut_kind (default: dut_profiles)",
        default="dut_profiles",
    )
    parser.addini(
        "benchtest_plans_root",
        "the plans' root, relative to the ini file: test ids are relative to it (default: the "
        "nearest test_plans folder, else the nearest project folder)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*roles): skip the test when the bench has none of these roles"
    )
    option = config.option
    config.addinivalue_line(
        "markers",
        "dut_kind(family): the plan is for parts of this family (ldo, mcu, sensor, ...); "
        "without --dut its DUT profile is found by family, with --dut of another family it "
        "is skipped",
    )
    dut_path = option.dut or config.getini("benchtest_dut")
    if not (option.bench or dut_path or option.sim):
        return  # not a bench run: the plugin stays out of the way
    check_rootdir(config)
    import_bench_layers()
    from benchtest.config.bench import Bench
    from benchtest.config.dut import DutProfile
    from benchtest.driver.registry import ensure_own_instruments_package

    try:
        ensure_own_instruments_package()
        bench = Bench.load(option.bench or asset(DEFAULT_BENCH))
        if option.visa_library:
            bench = bench.with_visa_library(option.visa_library)
        dut = DutProfile.load(dut_path) if dut_path else None
    except BenchtestError as exc:
        raise pytest.UsageError(f"benchtest: {exc}") from None
    site, controller = _site_of_this_process(config, bench)
    if site:
        bench = bench.for_site(site)
    if option.strict_bench:
        bench = replace(bench, strict=True)
    simulated = [r.role for r in bench.roles.values() if r.simulated] if not controller else []
    if simulated and not option.sim:
        raise pytest.UsageError(
            f"benchtest: {bench.path}: roles {', '.join(simulated)} use sim:// "
            "resources; pass --sim to serve them with the simulated bench"
        )
    config.stash[SETTINGS] = RunSettings(
        bench=bench,
        dut=dut,
        results_dir=Path(option.results_dir),
        serial_number=serial_number_of(option.serial_number, site),
        lot=option.lot,
        operator=option.operator or _login_name(),
        simulate=option.sim,
        site=site,
        controller=controller,
        instrument_retries=option.instrument_retries,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """With -n on a multi-site bench, every site (xdist worker) runs every test of the plan,
    and a site whose worker dies is not given a new one: each worker tests its own site's
    DUT, so a replacement would test no site (or test one twice)."""
    workers = getattr(config.option, "numprocesses", None)
    if not workers or not config.option.bench:
        return
    import_bench_layers()
    from benchtest.config.bench import Bench

    try:
        sites = Bench.load(config.option.bench).sites
    except BenchtestError:
        return  # reported with its message in pytest_configure
    if sites:
        if workers in ("auto", "logical"):
            config.option.numprocesses = len(sites)
        if config.option.dist in ("no", "load"):
            config.option.dist = "each"
        restarts = getattr(config.option, "maxworkerrestart", None)
        if restarts is not None and str(restarts).strip() != "0":
            raise pytest.UsageError(
                f"benchtest: {config.option.bench} is a multi-site bench: a site's worker is "
                f"not restarted (a new one would test no site's DUT); drop --max-worker-restart"
            )
        config.option.maxworkerrestart = "0"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a bench, benchtest plans cannot run: say so once, not once per test."""
    if settings(config) is not None:
        return
    closest_marker = ClosestMarkers()
    plans = [item for item in items if _is_plan(item, closest_marker)]
    if plans:
        raise pytest.UsageError(
            f"benchtest: {len(plans)} of the collected tests are benchtest plans (they use "
            f"{', '.join(PLAN_FIXTURES)}, requires or dut_kind) and need a bench: run them with "
            "--sim for the simulated bench, or --bench FILE (and --dut PROFILE) for a real one"
        )


def _is_plan(item: pytest.Item, closest_marker: ClosestMarkers) -> bool:
    if any(closest_marker(item, name) is not None for name in PLAN_MARKERS):
        return True
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(
        str(getattr(definitions[name][-1].func, "__module__", "")).startswith("benchtest.plugin")
        for name in PLAN_FIXTURES
        if definitions.get(name)
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    run = settings(config)
    if run is None or not run.controller:
        return None
    pairs = ", ".join(f"gw{i} -> site {site}" for i, site in enumerate(run.bench.sites))
    return f"benchtest: {run.bench.name}: {pairs}"


def _site_of_this_process(config: pytest.Config, bench: Bench) -> tuple[str, bool]:
    """(site, is the xdist controller) for this process."""
    workers = getattr(config.option, "numprocesses", None) or 0
    worker = getattr(config, "workerinput", None)
    sites = list(bench.sites)
    if not sites:
        if workers or worker is not None:
            raise pytest.UsageError(
                f"benchtest: {bench.path} is a single-site bench; its instruments cannot serve "
                "parallel workers (-n). Declare sites in the bench file to test several DUTs."
            )
        if config.option.site:
            raise pytest.UsageError(f"benchtest: {bench.path} has no sites; drop --site")
        return "", False
    if worker is not None:
        site = worker_site(bench, str(worker["workerid"]))
        if site is None:
            raise pytest.UsageError(
                f"benchtest: xdist worker {worker['workerid']} has no site of {bench.path} "
                f"(sites {', '.join(sites)}, one per worker gw0..gw{len(sites) - 1})"
            )
        return site, False
    if workers:
        if int(workers) != len(sites):
            raise pytest.UsageError(
                f"benchtest: {bench.path} has {len(sites)} sites ({', '.join(sites)}): "
                f"run with -n {len(sites)} (or -n auto), one worker per site"
            )
        return "", True
    if config.option.site:
        if config.option.site not in sites:
            raise pytest.UsageError(
                f"benchtest: {bench.path} has no site {config.option.site!r}; "
                f"sites: {', '.join(sites)}"
            )
        return config.option.site, False
    if len(sites) == 1:
        return sites[0], False
    raise pytest.UsageError(
        f"benchtest: {bench.path} has sites {', '.join(sites)}: choose one with --site NAME, "
        f"or test them all at once with -n {len(sites)}"
    )


def worker_site(bench: Bench, worker_id: str) -> str | None:
    """The site the xdist worker `worker_id` (gw0, gw1, ...) tests: the n-th of the bench's
    sites; None for a worker beyond them."""
    sites = list(bench.sites)
    number = worker_id.removeprefix("gw")
    if not (number.isascii() and number.isdigit()) or int(number) >= len(sites):
        return None
    return sites[int(number)]


def _whole_number(text: str) -> int:
    """A count given on the command line: a whole number from 0 to 100."""
    if not (text.isascii() and text.isdigit()) or int(text) > 100:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 100, got {text!r}")
    return int(text)


def serial_number_of(option: str, site: str) -> str:
    """`U0001`, or this site's entry of `A=U0001,B=U0002`."""
    if "=" not in option:
        return option
    pairs = dict(part.split("=", 1) for part in option.split(",") if "=" in part)
    return pairs.get(site, "")


def settings(config: pytest.Config) -> RunSettings | None:
    """This run's settings, or None when the plugin is inactive."""
    return config.stash.get(SETTINGS, None)


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
