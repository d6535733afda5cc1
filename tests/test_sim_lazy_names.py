"""`benchtest.sim` loads its names on first use: a test run that only starts the simulator in a
child process (each site's worker) does not import the simulators and models the child runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import benchtest.sim


def _modules_after(statement: str) -> set[str]:
    """The benchtest.sim modules a fresh interpreter has imported after `statement`."""
    script = (
        f"{statement}\nimport sys\nprint(' '.join(m for m in sys.modules if 'benchtest.sim' in m))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_starting_a_simulator_process_imports_no_simulator() -> None:
    loaded = _modules_after("from benchtest.sim.process import SimulatorProcess")
    assert "benchtest.sim.process" in loaded
    assert not {
        m for m in loaded if m.startswith(("benchtest.sim.simulators", "benchtest.sim.models"))
    }
    assert "benchtest.sim.bench" not in loaded


def test_every_exported_name_loads_on_first_use() -> None:
    for name in benchtest.sim.__all__:
        assert getattr(benchtest.sim, name) is not None, name
    from benchtest.sim import SimulatedBench
    from benchtest.sim.bench import SimulatedBench as defined

    assert SimulatedBench is defined


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'benchtest\.sim' has no attribute 'Simulator'"):
        benchtest.sim.Simulator  # noqa: B018
