"""Trivial tests with one measurement each: the plugin against bare pytest, paired run by run.

Bare pytest runs the tests with a do-nothing `measure` fixture; with the plugin every finished
test is committed to the run file (crash-safe) and the file is closed at the end (each test's
NXentry, seal). A sample is one whole `python -m pytest` process (start-up, collection, the
tests, the run file's close). The two alternate (bare first, then plugin first, ...) and the
ratio is the median of the per-pair ratios. Target: <= 1.5x bare pytest (the exit status).

    python benchmarks/bench_trivial_tests.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from targets import arguments, exit_status, interleaved, result, summarize, timed

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.5

PLAN = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
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


def pytest_run(folder: Path, tests: int, *args: str) -> float:
    """Seconds for one pytest process in `folder` (which must pass all `tests`)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    done: list[subprocess.CompletedProcess[str]] = []
    elapsed = timed(
        lambda: done.append(
            subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900)
        )
    )
    run = done[0]
    if run.returncode != 0 or f"{tests} passed" not in run.stdout:
        sys.exit(f"run failed: {' '.join(args)}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return elapsed


def main() -> int:
    options = arguments(__doc__).parse_args()
    tests, pairs = (50, 2) if options.quick else (5_000, 7)
    with tempfile.TemporaryDirectory(prefix="benchtest-trivial-") as name:
        root = Path(name)
        bare, plugin = root / "bare", root / "plugin"
        for folder in (bare, plugin):
            folder.mkdir()
            (folder / "test_trivial.py").write_text(PLAN.format(tests=tests), encoding="utf-8")
        (bare / "conftest.py").write_text(BARE_CONFTEST, encoding="utf-8")
        (plugin / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
        profile = str(REPO / "dut_profiles" / "bt_ldo33.yaml")
        paired = interleaved(
            lambda: pytest_run(bare, tests, "-p", "no:benchtest"),
            lambda: pytest_run(plugin, tests, "--bench", "bench.yaml", "--dut", profile),
            pairs,
        )
    ours, base = summarize(paired.measured), summarize(paired.baseline)
    per_test = 1e3 / tests
    print(f"{tests} trivial tests, {pairs} pairs (alternating order, one warm-up pair dropped)")
    print(f"bare pytest : {base.text(per_test, 'ms per test')}")
    print(f"with plugin : {ours.text(per_test, 'ms per test')}")
    met = result(
        f"{tests} trivial tests, plugin vs bare pytest",
        ours.text(per_test, "ms/test"),
        base.text(per_test, "ms/test"),
        summarize(paired.ratios(throughput=False)),
        TARGET,
        at_least=False,
        included="whole pytest processes: start-up, collection, each test's crash-safe commit, "
        "and the run file's close (NXentry per test, seal)",
    )
    return exit_status([met])


if __name__ == "__main__":
    sys.exit(main())
