"""A bench option's path that would choose pytest's rootdir and config file: `--dut PATH` as two
arguments, with PATH under another project. pytest itself refuses the run with the fix;
`benchtest run` writes the option as one argument, so the run goes on as meant.

Each run is a pytest process in a project folder of its own (`pytest.ini`), with a DUT
profile in a second project (`pyproject.toml` with a pytest section), as CI runs them."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchtest.cli.run_options import add_plugin_options, joined_values

REPO = Path(__file__).resolve().parent.parent
# A bench whose one instrument is never used: nothing is started or opened.
IDLE_BENCH = """
schema_version: 1
instruments:
  smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::9::SOCKET"}
"""
PLAN = """
import pytest


@pytest.mark.project
def test_output(measure):
    measure("vout", 3.3)
"""


@pytest.fixture
def projects(tmp_path: Path) -> tuple[Path, Path]:
    """The plans' project (its `pytest.ini` declares the plan's marker) and another project
    holding the DUT profile, whose pytest section would refuse that marker."""
    project, other = tmp_path / "plans", tmp_path / "other"
    project.mkdir()
    (project / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    project: a marker of the plans' project\n", encoding="utf-8"
    )
    (project / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
    (project / "test_plan.py").write_text(PLAN, encoding="utf-8")
    (other / "duts").mkdir(parents=True)
    (other / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = ["--strict-markers"]\n', encoding="utf-8"
    )
    shutil.copy(REPO / "dut_profiles" / "bt_ldo33.yaml", other / "duts" / "bt_ldo33.yaml")
    return project, other / "duts" / "bt_ldo33.yaml"


def run(folder: Path, *command: str, addopts: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    if addopts:
        env["PYTEST_ADDOPTS"] = addopts
    return subprocess.run(
        [sys.executable, "-m", *command, "-p", "no:cacheprovider"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_path_that_chose_the_rootdir_is_refused_with_the_fix(
    projects: tuple[Path, Path],
) -> None:
    project, dut = projects
    done = run(project, "pytest", "--dut", str(dut), "--bench", "bench.yaml")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    message = done.stderr
    assert f"pytest took its rootdir {dut.parent.parent} " in message
    assert f"config file {dut.parent.parent / 'pyproject.toml'}" in message
    assert f"instead of {project} and config file {project / 'pytest.ini'}" in message
    assert f"write the option as one argument, --dut={dut}" in message
    assert not (project / "results").exists()


def test_a_path_in_pytest_addopts_is_checked_too(projects: tuple[Path, Path]) -> None:
    project, dut = projects
    done = run(project, "pytest", "--bench", "bench.yaml", addopts=f"--dut '{dut}'")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert f"write the option as one argument, --dut={dut}" in done.stderr


@pytest.mark.parametrize(
    "options",
    [
        ["--dut={dut}"],  # one argument: pytest skips it as an option
        ["--dut", "{dut}", "--rootdir", "."],  # the user chose the rootdir
        ["--dut", "{dut}", "test_plan.py"],  # the plan's path comes first and chooses
    ],
    ids=["one argument", "rootdir given", "plan named first"],
)
def test_the_plans_project_configures_the_run(
    projects: tuple[Path, Path], options: list[str]
) -> None:
    project, dut = projects
    given = [option.format(dut=dut) for option in options]
    if given[-1] == "test_plan.py":
        given = [given[-1], *given[:-1]]
    done = run(project, "pytest", *given, "--bench", "bench.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rootdir: {project}" in done.stdout
    assert len(list((project / "results").glob("*.h5"))) == 1


def test_a_path_that_moved_only_the_rootdir_is_let_through(projects: tuple[Path, Path]) -> None:
    """Neither folder has a config file: pytest's rootdir is the folders' common one, which
    changes only pytest's own test ids (benchtest's are relative to the plans' root)."""
    project, dut = projects
    (project / "pytest.ini").unlink()
    (dut.parent.parent / "pyproject.toml").unlink()
    done = run(project, "pytest", "--dut", str(dut), "--bench", "bench.yaml", "test_plan.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rootdir: {project.parent}" in done.stdout
    assert len(list((project / "results").glob("*.h5"))) == 1


def test_benchtest_run_writes_the_options_as_one_argument(projects: tuple[Path, Path]) -> None:
    project, dut = projects
    command = ["run", "--dut", str(dut), "--bench", "bench.yaml", "test_plan.py"]
    done = run(project, "benchtest.cli", *command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rootdir: {project}" in done.stdout
    assert len(list((project / "results").glob("*.h5"))) == 1


def test_joined_values_joins_the_plugins_options_that_take_a_value() -> None:
    parser = argparse.ArgumentParser()
    add_plugin_options(parser)
    given = ["plans", "--dut", "a b.yaml", "-k", "vout", "--sim", "--results-dir", "out"]
    assert joined_values([*given, "--", "--dut", "x"], parser) == [
        "plans", "--dut=a b.yaml", "-k", "vout", "--sim", "--results-dir=out", "--", "--dut", "x",
    ]  # fmt: skip
    assert joined_values(["--bench=b.yaml", "--strict-bench", "--dut"], parser) == [
        "--bench=b.yaml", "--strict-bench", "--dut",
    ]  # fmt: skip
