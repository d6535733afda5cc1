"""benchtest's pytest plugin, registered through the `pytest11` entry point.

Each feature lives in its own module with its options, fixtures and hooks; this module only
lists them. The plugin stays inert unless a run asks for a bench (--bench, --dut or --sim), so
ordinary pytest suites in the same environment are not affected.
"""

import gc
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


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Import and register the modules above, in their order, as soon as this module is
    registered: pytest then finds them registered when it reads `pytest_plugins`. Left to it,
    pytest would first look for each name among the entry points of every installed package
    (~4 ms a name, read from each package's metadata)."""
    with _collector_paused():
        for name in pytest_plugins:
            pluginmanager.import_plugin(name)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector off while the modules above import numpy, h5py and the rest:
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
