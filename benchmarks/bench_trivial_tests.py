"""5 000 trivial tests with one measurement each: the plugin against bare pytest.

With the plugin every finished test is committed to the run file (crash-safe); bare pytest
runs the same tests with a do-nothing `measure` fixture. Target: <= 2x bare pytest's time.
Run: python benchmarks/bench_trivial_tests.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = 5_000
TARGET = 2.0

PLAN = f"""
import pytest

@pytest.mark.parametrize("n", range({TESTS}))
def test_trivial(n, measure):
    measure("vout", 3.3)
"""
BARE_CONFTEST = """
import pytest

@pytest.fixture
def measure():
    return lambda name, value: None
"""
# A bench whose one instrument is never used, so no simulator or instrument is involved.
IDLE_BENCH = """
schema_version: 1
instruments:
  smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::9::SOCKET"}
"""


def timed(folder: Path, *args: str) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or f"{TESTS} passed" not in done.stdout:
        sys.exit(f"run failed: {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="benchtest-trivial-") as name:
        root = Path(name)
        bare, plugin = root / "bare", root / "plugin"
        for folder in (bare, plugin):
            folder.mkdir()
            (folder / "test_trivial.py").write_text(PLAN, encoding="utf-8")
        (bare / "conftest.py").write_text(BARE_CONFTEST, encoding="utf-8")
        (plugin / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
        profile = str(REPO / "dut_profiles" / "bt_ldo33.yaml")
        bare_time = timed(bare, "-p", "no:benchtest")
        plugin_time = timed(plugin, "--bench", "bench.yaml", "--dut", profile)
    ratio = plugin_time / bare_time
    print(f"bare pytest : {bare_time:6.2f} s = {bare_time / TESTS * 1e3:.2f} ms per test")
    print(
        f"with plugin : {plugin_time:6.2f} s = {plugin_time / TESTS * 1e3:.2f} ms per test"
        " (each test committed to the run file)"
    )
    print(f"ratio {ratio:.2f}x (target <= {TARGET:.1f}x)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
