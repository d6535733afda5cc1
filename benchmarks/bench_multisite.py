"""Multi-site throughput: the LDO plan on 4 simulated sites at once against 1 site alone.

Each site is a pytest-xdist worker with its own simulated SMU and debug port and a shared,
claimed scope; the plan runs REPEATS times per site. Throughput is tested parts per second;
the target is >= 3x for 4 sites. Run: python benchmarks/bench_multisite.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPEATS = 6
SITES = 4
TARGET = 3.0

REPEAT_FIXTURE = f"""

@pytest.fixture(autouse=True, params=range({REPEATS}), ids=lambda i: f"pass{{i}}")
def _repeat(request):
    return request.param
"""


def bench_file(sites: int) -> str:
    lines = [
        "schema_version: 1",
        f"name: {sites}-site simulated LDO bench",
        "instruments:",
        "  scope: {driver: rigol.ds1000z, resource: sim://scope, options: {timeout: 30.0}}",
        "sites:",
    ]
    for index in range(sites):
        lines += [
            f"  S{index + 1}:",
            "    instruments:",
            "      smu: {driver: keithley.k2450, resource: sim://smu}",
            "      uart: {driver: serial.debug_port, resource: sim://uart}",
        ]
    return "\n".join(lines) + "\n"


def run(folder: Path, sites: int) -> tuple[float, int]:
    bench = folder / f"bench{sites}.yaml"
    bench.write_text(bench_file(sites), encoding="utf-8")
    args = [
        sys.executable,
        "-m",
        "pytest",
        "test_plan.py",
        "-q",
        "-p",
        "no:cacheprovider",
        "--sim",
        "--bench",
        str(bench),
        "--dut",
        str(REPO / "dut_profiles" / "bt_ldo33.yaml"),
        "--results-dir",
        str(folder / f"results{sites}"),
    ]
    args += ["-n", str(sites)] if sites > 1 else ["--site", "S1"]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"the {sites}-site run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    tests = int(done.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    return elapsed, tests


def main() -> int:
    plan = (REPO / "test_plans" / "ldo" / "test_ldo_basics.py").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="benchtest-multisite-") as name:
        folder = Path(name)
        (folder / "test_plan.py").write_text(plan + REPEAT_FIXTURE, encoding="utf-8")
        one_time, one_tests = run(folder, 1)
        many_time, many_tests = run(folder, SITES)
    one_rate, many_rate = one_tests / one_time, many_tests / many_time
    ratio = many_rate / one_rate
    print(f"1 site : {one_tests:4d} tests in {one_time:6.2f} s = {one_rate:6.2f} tests/s")
    print(f"{SITES} sites: {many_tests:4d} tests in {many_time:6.2f} s = {many_rate:6.2f} tests/s")
    print(f"throughput ratio {ratio:.2f}x (target >= {TARGET:.1f}x)")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
