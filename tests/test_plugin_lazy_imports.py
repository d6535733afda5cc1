"""An ordinary pytest run in an environment where benchtest is installed: the plugin is loaded
(its options, markers and fixtures are all there) without its bench layers, numpy, h5py,
jsonschema or PyVISA. A bench run imports them as soon as it is configured and works as ever.

Each test runs pytest in a subprocess, as CI does, with `-p benchtest.plugin` and no other
plugin loaded by itself; the conftest writes the modules the process imported to a file."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from benchtest.plugin import BENCH_LAYERS

REPO = Path(__file__).resolve().parent.parent
DUT = REPO / "dut_profiles" / "bt_ldo33.yaml"

# The modules a run without a bench must not import (a name stands for its submodules too).
BENCH_ONLY = (
    "numpy",
    "h5py",
    "jsonschema",
    "yaml",
    "pyvisa",
    "serial",
    "benchtest.config.bench",
    "benchtest.config.dut",
    "benchtest.driver",
    "benchtest.runfile",
    "benchtest.storage",
    "benchtest.sim",
    "benchtest.run",
)
# What the plugin imports only when it is used, at the end of some runs: merging the sites'
# run files, publishing them to a PostgreSQL catalog.
ON_USE = ("benchtest.run.site_merge", "benchtest.results.lab_postgres")
# Writes the modules imported by the start of the session and by the process's exit.
CONFTEST = """
import atexit
import json
import os
import sys

SEEN = {}


def pytest_sessionstart(session):
    SEEN["sessionstart"] = sorted(sys.modules)
    SEEN["blas_thread_timeout"] = os.environ.get("OPENBLAS_THREAD_TIMEOUT")


@atexit.register
def _write():
    SEEN["exit"] = sorted(sys.modules)
    with open(MODULES_FILE, "w", encoding="utf-8") as file:
        json.dump(SEEN, file)
"""
PLAIN_TESTS = """
import pytest


def test_arithmetic():
    assert 1 + 1 == 2


@pytest.mark.retry(1)
def test_marked_for_retries():
    pass
"""
# A bench whose one instrument is never used: nothing is started or opened.
IDLE_BENCH = """
schema_version: 1
instruments:
  smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::9::SOCKET"}
"""
PLAN = """
def test_output(measure):
    measure("vout", 3.3)
"""


def run_pytest(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    modules_file = folder / "modules.json"
    (folder / "conftest.py").write_text(
        f"MODULES_FILE = {str(modules_file)!r}\n{CONFTEST}", encoding="utf-8"
    )
    env = {**(os.environ if env is None else env), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", "-p", "benchtest.plugin", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def seen(folder: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads((folder / "modules.json").read_text("utf-8"))
    return found


def imported(folder: Path, when: str) -> set[str]:
    modules = seen(folder)[when]
    assert isinstance(modules, list)
    return set(modules)


def bench_only(modules: set[str]) -> list[str]:
    """The modules of `BENCH_ONLY` among `modules`."""
    return sorted(
        name
        for name in modules
        if any(name == top or name.startswith(f"{top}.") for top in BENCH_ONLY)
    )


def test_a_run_without_a_bench_imports_no_bench_layer(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(PLAIN_TESTS, encoding="utf-8")
    done = run_pytest(tmp_path, "--strict-markers", "test_plain.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    modules = imported(tmp_path, "exit")
    assert {"benchtest.plugin.measure", "benchtest.plugin.runner"} <= modules  # loaded
    assert bench_only(modules) == []


def test_a_run_without_a_bench_lists_every_option_and_marker(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--bench", "--dut", "--sim", "--resume", "--catalog", "--progress"):
        assert option in done.stdout, option
    assert "benchtest_dut_dir" in done.stdout  # an ini value
    assert bench_only(imported(tmp_path, "exit")) == []
    done = run_pytest(tmp_path, "--markers")
    assert done.returncode == 0, done.stderr
    for marker in ("retry(n)", "requires(*roles)", "dut_kind(family)"):
        assert f"@pytest.mark.{marker}" in done.stdout, marker


def test_a_plan_without_a_bench_is_told_how_to_run(tmp_path: Path) -> None:
    """A plan asks for the bench's fixtures: collection stops with how to give it a bench; one
    that asks for them as it runs learns that benchtest is not active. Neither needs the bench
    layers to say so."""
    (tmp_path / "test_plan.py").write_text(PLAN, encoding="utf-8")
    done = run_pytest(tmp_path, "test_plan.py")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "1 of the collected tests are benchtest plans" in done.stderr
    assert "fixture 'measure' not found" not in done.stdout
    (tmp_path / "test_plan.py").unlink()
    (tmp_path / "test_late.py").write_text(
        "def test_late(request):\n    request.getfixturevalue('measure')\n", encoding="utf-8"
    )
    done = run_pytest(tmp_path, "test_late.py")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "benchtest is not active: run the plan with --dut PROFILE" in done.stdout
    assert bench_only(imported(tmp_path, "exit")) == []


@pytest.mark.parametrize("given", ["command line", "ini file"])
def test_a_bench_run_imports_its_layers_when_configured(tmp_path: Path, given: str) -> None:
    """Asked for on the command line or by the ini file's addopts, a bench run has its layers
    imported before the session starts, and writes its run file."""
    (tmp_path / "test_plan.py").write_text(PLAN, encoding="utf-8")
    (tmp_path / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
    options = ["--bench", "bench.yaml", f"--dut={DUT}"]
    if given == "ini file":
        ini = f"[pytest]\naddopts = {' '.join(options)}\n"
        (tmp_path / "pytest.ini").write_text(ini, encoding="utf-8")
        options = []
    done = run_pytest(tmp_path, *options, "test_plan.py")
    assert done.returncode == 0, done.stdout + done.stderr
    at_start = imported(tmp_path, "sessionstart")
    assert {"numpy", "h5py", "benchtest.run.session", "benchtest.config.bench"} <= at_start
    (run_file,) = (tmp_path / "results").glob("*.h5")
    with h5py.File(run_file, "r") as file:
        tests = file["summary/tests"]
        assert [row.decode() for row in tests["outcome"]] == ["passed"]


@pytest.mark.parametrize("users", [None, "12"])
def test_a_bench_run_lets_idle_blas_threads_sleep(tmp_path: Path, users: str | None) -> None:
    """numpy's OpenBLAS workers spin ~0.1 s of CPU each, per process, unless told to sleep when
    idle: a bench run tells them, before numpy is imported; a plain run leaves the environment
    alone, and a value of the user's wins."""
    (tmp_path / "test_plan.py").write_text(PLAN, encoding="utf-8")
    (tmp_path / "test_plain.py").write_text(PLAIN_TESTS, encoding="utf-8")
    (tmp_path / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if users is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = users
    bench = ["--bench", "bench.yaml", f"--dut={DUT}", "test_plan.py"]
    done = run_pytest(tmp_path, *bench, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen(tmp_path)["blas_thread_timeout"] == (users or "4")
    done = run_pytest(tmp_path, "test_plain.py", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen(tmp_path)["blas_thread_timeout"] == users


def test_every_layer_the_plugin_imports_in_functions_is_a_bench_layer() -> None:
    """What the plugin's functions import from the layers below is imported with the others
    as a bench run is configured (`BENCH_LAYERS`), or is imported on use on purpose."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "benchtest" / "plugin").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]
        for node in (node for function in functions for node in ast.walk(function)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchtest."):
                found[str(node.module)] = f"{path.name}:{node.lineno}"
    layers = {
        name: where for name, where in found.items() if not name.startswith("benchtest.plugin")
    }
    assert "benchtest.run.session" in layers  # what the scan is for
    unlisted = {name: where for name, where in layers.items() if name not in BENCH_LAYERS}
    assert unlisted.keys() <= set(ON_USE), unlisted
