"""The plan files a run records: the helper modules its plans import from the plans' root,
found among the imported modules with each module's folder resolved (links included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = (
    "schema_version: 1\nname: idle bench\ninstruments:\n"
    "  smu: {driver: keithley.k2450, resource: 'TCPIP::127.0.0.1::9::SOCKET'}\n"
)
CONFTEST = """
import sys
sys.path[:0] = [{linked!r}, {outside!r}]
"""
PLAN = """
import beside
import through_link
import elsewhere

def test_value(measure):
    measure("x", beside.VALUE + through_link.VALUE + elsewhere.VALUE, unit="V", low=0.0, high=9.0)
"""


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_helpers_under_the_root_are_recorded_however_they_are_reached(tmp_path: Path) -> None:
    plans = tmp_path / "test_plans"
    (plans / "family").mkdir(parents=True)
    (plans / "lib").mkdir()
    (tmp_path / "outside").mkdir()
    (plans / "family" / "beside.py").write_text("VALUE = 1.0\n", encoding="utf-8")
    (plans / "lib" / "through_link.py").write_text("VALUE = 1.0\n", encoding="utf-8")
    (tmp_path / "outside" / "elsewhere.py").write_text("VALUE = 1.0\n", encoding="utf-8")
    linked = tmp_path / "link"  # a folder outside the root that is the root's lib folder
    linked.symlink_to(plans / "lib", target_is_directory=True)
    conftest = CONFTEST.format(linked=str(linked), outside=str(tmp_path / "outside"))
    (plans / "conftest.py").write_text(conftest, encoding="utf-8")
    (plans / "family" / "test_one.py").write_text(PLAN, encoding="utf-8")
    (tmp_path / "bench.yaml").write_text(BENCH, encoding="utf-8")
    profile = REPO / "dut_profiles" / "bt_ldo33.yaml"
    (tmp_path / "ldo.yaml").write_text(profile.read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_plans", "-p", "no:cacheprovider",
         "--bench", "bench.yaml", "--dut", "ldo.yaml", "--results-dir", "results"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = (tmp_path / "results").glob("*.h5")
    with h5py.File(path, "r") as file:
        manifest = file["run_info/plans_manifest"][()].decode()
    recorded = [line.split("  ", 1)[1] for line in manifest.splitlines()]
    # The test module, its conftest, the helper beside it, and the helper reached through a
    # link to a folder under the root, by its real place; not the module from outside.
    assert recorded == [
        "conftest.py",
        "family/beside.py",
        "family/test_one.py",
        "lib/through_link.py",
    ]
