"""benchtest's pytest plugin, registered through the `pytest11` entry point.

Each feature lives in its own module with its options, fixtures and hooks; this module only
lists them. The plugin stays inert unless a run asks for a bench (--bench, --dut or --sim), so
ordinary pytest suites in the same environment are not affected, and it costs them next to
nothing: at their top the modules import only light ones (pytest, `values`, the asset paths,
the lab catalog's settings). The layers a bench run uses (`BENCH_LAYERS`: the bench and DUT
models, the drivers, the run layer; with them numpy, h5py, jsonschema and PyVISA) are imported
inside the functions that use them, which only a bench run calls, and all at once by
`import_bench_layers` as soon as `configuration` finds that the run is a bench run.
"""

import gc
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# Listed so that every module comes after the modules it imports. `benchtest run` imports
# these modules before pytest starts, to read their options; each says PYTEST_DONT_REWRITE,
# since pytest can no longer rewrite an imported module's asserts (it would warn for each),
# and they hold none that a plan's failure report needs.
pytest_plugins = [
    "benchtest.plugin.configuration",  # options; loads and validates the bench and DUT files
    "benchtest.plugin.dut_sessions",  # each test's DUT; its simulators, instruments, run file
    "benchtest.plugin.resume",  # --resume: a killed run's finished tests kept, the rest run
    # --catalog: the run files published into the lab catalog. Listed before `sites`, so that
    # its end-of-session hook runs after the sites' run files are merged.
    "benchtest.plugin.lab_publish",
    "benchtest.plugin.runner",  # each test's attempts (retry), recorded, with their outcome
    "benchtest.plugin.instruments",  # bench and role fixtures, requires(), safe state
    "benchtest.plugin.measure",  # the measure fixture and soft limit failures
    "benchtest.plugin.plan_check",  # plan mistakes found at collection, before power
    "benchtest.plugin.timeouts",  # safe state before pytest-timeout's thread method exits
    "benchtest.plugin.sites",  # multi-site: the controller merges the sites' run files
    "benchtest.plugin.junit",  # JUnit XML for CI: errors vs failures, properties, attachment
    "benchtest.plugin.progress",  # progress per site and test: live on a terminal, lines in logs
    "benchtest.plugin.heap",  # the heap built by collection, out of the garbage collector's walks
]


# What a bench run uses of the layers below: the modules the plugin's functions import.
BENCH_LAYERS = (
    "benchtest.config.bench",
    "benchtest.config.dut",
    "benchtest.config.files",
    "benchtest.config.plan_rules",
    "benchtest.config.ratings",
    "benchtest.driver.base",
    "benchtest.driver.registry",
    "benchtest.values.events",
    "benchtest.run.instrument_pool",
    "benchtest.run.measuring",
    "benchtest.run.plans",
    "benchtest.run.resume",
    "benchtest.run.session",
    "benchtest.run.tally",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Import and register the modules above, in their order, as soon as this module is
    registered: pytest then finds them registered when it reads `pytest_plugins`. Left to it,
    pytest would first look for each name among the entry points of every installed package
    (~4 ms a name, read from each package's metadata)."""
    for name in pytest_plugins:
        pluginmanager.import_plugin(name)


def import_bench_layers() -> None:
    """Import `BENCH_LAYERS`, once a run is known to be a bench run: all at once, before the
    bench file is read and before the session starts (when `benchtest.plugin.heap` freezes
    what the run has built), rather than each as a function first needs it."""
    _idle_blas_threads_sleep()
    with _collector_paused():
        for name in BENCH_LAYERS:
            importlib.import_module(name)


def _idle_blas_threads_sleep() -> None:
    """OpenBLAS (numpy's wheels) starts a worker thread per core when numpy is imported, and
    each spins ~0.1 s of CPU waiting for work before it sleeps, again after each threaded BLAS
    call. A bench run's processes (pytest, its site workers) wait on instruments and rarely
    call BLAS, so their idle workers sleep at once; a threaded call still uses every core.
    Set before numpy is imported (inherited by the site workers); a value of the user's wins."""
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while the bench layers import numpy, h5py and the rest:
    imports make objects that live as long as the process, and each automatic collection
    meanwhile walks all of them again (~25 ms of CPU at start-up). On again after, if it was;
    `benchtest.plugin.heap` then keeps them out of the collector's walks during the run."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
