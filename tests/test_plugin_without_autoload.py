"""The plugin named with `-p benchtest.plugin` where pytest loads no plugin by itself
(`PYTEST_DISABLE_PLUGIN_AUTOLOAD`, as hermetic CI jobs set it): pytest-xdist's hooks are then
unknown, and the plugin's implementations of them must be optional."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parent.parent

PLAN = """
def test_one(measure):
    measure("vout", 3.3)
"""
# A bench whose one instrument is never used: nothing is started or opened.
IDLE_BENCH = """
schema_version: 1
instruments:
  smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::9::SOCKET"}
"""


def test_a_run_with_plugin_autoload_off_records_its_test(tmp_path: Path) -> None:
    (tmp_path / "test_plan.py").write_text(PLAN, encoding="utf-8")
    (tmp_path / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "benchtest.plugin", "-p", "no:cacheprovider",
            "--bench", "bench.yaml", f"--dut={REPO / 'dut_profiles' / 'bt_ldo33.yaml'}",
            "test_plan.py",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert "xdist" not in done.stdout  # no xdist plugin was loaded (no "xdist-..." header)
    (run_file,) = (tmp_path / "results").glob("*.h5")
    with h5py.File(run_file, "r") as file:
        tests = file["summary/tests"]
        assert [row.decode() for row in tests["outcome"]] == ["passed"]
