"""`--sim`: serve the bench's `sim://` roles with the simulated bench for this session.

The simulators run in a child process that shares one physical model of the DUT. It outlives
the session's teardown, so instruments are made safe over the wire before it stops, and it
exits by itself if this process dies.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchtest.errors import BenchtestError
from benchtest.plugin.configuration import settings, use_bench

if TYPE_CHECKING:
    from benchtest.sim.process import SimulatorProcess

SIMULATOR: pytest.StashKey[SimulatorProcess] = pytest.StashKey()
SIM_FOLDER = pytest.StashKey[Path]()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    run = settings(config)
    if run is None or run.controller or not run.simulate or not run.bench.simulated_roles:
        return
    from benchtest.sim.process import SimulatorProcess

    # The bench as this process sees it: on a multi-site bench, one site and the shared roles.
    # Each site gets its own simulated part; a shared role gets a simulator per site, used
    # under the same claim as the real shared instrument.
    folder = Path(tempfile.mkdtemp(prefix="benchtest-sim-"))
    bench_file = folder / "bench.yaml"
    bench_file.write_text(run.bench.to_yaml(), encoding="utf-8")
    config.stash[SIM_FOLDER] = folder
    simulator = SimulatorProcess(dut=run.dut.path, bench=bench_file)
    try:
        simulator.start()
    except BenchtestError as exc:
        raise pytest.UsageError(f"benchtest: {exc}") from None
    config.stash[SIMULATOR] = simulator
    resolved = simulator.resolved_bench["instruments"]
    use_bench(
        config,
        run.bench.with_resources(
            {role: resolved[role]["resource"] for role in run.bench.simulated_roles}
        ),
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    simulator = config.stash.get(SIMULATOR, None)
    if simulator is not None:
        simulator.stop()
        del config.stash[SIMULATOR]
    folder = config.stash.get(SIM_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        del config.stash[SIM_FOLDER]
