"""Multi-site throughput: the LDO basics plan on 4 simulated sites at once against 1 site alone.

Each site is a pytest-xdist worker with its own simulated SMU and debug port; the scope is
shared by the sites and claimed per test, as on a real multi-site bench. Every part runs the
whole plan, once per part. Throughput is tests per second.

The target-checked measurement runs both cases on the simulated bench with real instrument
timing (`?timing=real` on every sim:// resource: SMU integration, scope acquisition, settling,
baud rate), so a test waits on its instruments as on a real bench and parallel sites overlap
that waiting, for a lot of PARTS parts per site. Target: 4 sites >= 3x 1 site, end to end
(pytest started to pytest done). A multi-site session has a fixed cost of its own (4 sites:
starting 9 Python processes on 2 cores, ~1.8 s to the first test, and merging the sites' run
files at the end, ~1 ms per test; 1 site: ~0.9 s in all), so end to end approaches the
steady-state ratio only for sessions long against it: 300 parts of this short plan take ~35 s
on one site. Also printed, as information, with INFO_PARTS parts: the same bench with a scope
per site (what sharing the scope costs) and instant timing (little waiting left to overlap: 4
sites share 2 cores between 9 Python processes); and for every case the steady state (first
test started to last test done).

    python benchmarks/bench_multisite.py [--parts N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"
DUT = REPO / "dut_profiles" / "bt_ldo33.yaml"
PARTS = 300  # per site, in the target-checked case
INFO_PARTS = 30  # per site, in the cases printed as information
SITES = 4
TARGET = 3.0

# One part after another: a module-scoped parameter runs the whole plan once per part.
REPEAT_FIXTURE = """

@pytest.fixture(scope="module", autouse=True, params=range({repeats}), ids=lambda i: f"part{{i}}")
def _part(request):
    return request.param
"""

# Records when each test phase started and ended, per process, for the steady-state rate.
TIMES_CONFTEST = """
import json, os

def pytest_runtest_logreport(report):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(os.environ["BENCHMARK_TIMES"], f"times-{worker}.jsonl"), "a") as f:
        f.write(json.dumps([report.start, report.stop]) + "\\n")
"""


@dataclass(frozen=True)
class Bench:
    """A bench file: `shared_scope` or one scope per site, with `timing` on every sim role."""

    shared_scope: bool
    timing: str

    def text(self, sites: int) -> str:
        def resource(role: str) -> str:
            return f"'sim://{role}?timing={self.timing}'"

        scope = f"scope: {{driver: rigol.ds1000z, resource: {resource('scope')}}}"
        lines = ["schema_version: 1", f"name: {sites}-site simulated LDO bench"]
        if self.shared_scope:
            lines += ["instruments:", f"  {scope}"]
        lines.append("sites:")
        for index in range(sites):
            lines += [f"  S{index + 1}:", "    instruments:"]
            lines += [] if self.shared_scope else [f"      {scope}"]
            lines += [
                f"      smu: {{driver: keithley.k2450, resource: {resource('smu')}}}",
                f"      uart: {{driver: serial.debug_port, resource: {resource('uart')}}}",
            ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Run:
    """One pytest run: its tests, wall time, and the span from first test to last."""

    tests: int
    elapsed: float
    testing: float

    @property
    def rate(self) -> float:
        return self.tests / self.elapsed

    @property
    def steady_rate(self) -> float:
        return self.tests / self.testing


def run(folder: Path, bench: Bench, sites: int, parts: int) -> Run:
    name = f"{'shared' if bench.shared_scope else 'own'}-{bench.timing}-{sites}-{parts}"
    work = folder / name
    work.mkdir()
    (work / "bench.yaml").write_text(bench.text(sites), encoding="utf-8")
    plan = PLAN.read_text(encoding="utf-8") + REPEAT_FIXTURE.format(repeats=parts)
    (work / "test_plan.py").write_text(plan, encoding="utf-8")
    (work / "conftest.py").write_text(TIMES_CONFTEST, encoding="utf-8")
    args = [sys.executable, "-m", "pytest", str(work / "test_plan.py"), "-q"]
    args += ["-p", "no:cacheprovider", "--rootdir", str(work), "--sim"]
    args += ["--bench", str(work / "bench.yaml"), "--dut", str(DUT)]
    args += ["--results-dir", str(work / "results")]
    args += ["-n", str(sites)] if sites > 1 else ["--site", "S1"]
    environment = {**os.environ, "BENCHMARK_TIMES": str(work)}
    start = time.time()
    done = subprocess.run(
        args, cwd=work, capture_output=True, text=True, timeout=600, env=environment
    )
    elapsed = time.time() - start
    if done.returncode != 0:
        sys.exit(f"the {name} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    tests = int(done.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    spans = [
        json.loads(line)
        for times in work.glob("times-*.jsonl")
        for line in times.read_text(encoding="utf-8").splitlines()
    ]
    testing = max(stop for _, stop in spans) - min(begin for begin, _ in spans)
    return Run(tests, elapsed, testing)


def compare(folder: Path, label: str, bench: Bench, parts: int) -> tuple[float, float]:
    """Run 1 site, then SITES sites; print both and return the end-to-end and steady ratios."""
    one, many = run(folder, bench, 1, parts), run(folder, bench, SITES, parts)
    print(f"{label}, {parts} parts per site:")
    for sites, result in ((1, one), (SITES, many)):
        print(
            f"  {sites} site{'s' if sites > 1 else ' '}: {result.tests:4d} tests in "
            f"{result.elapsed:6.2f} s = {result.rate:6.2f} tests/s "
            f"(steady state {result.testing:6.2f} s = {result.steady_rate:6.2f} tests/s)"
        )
    return many.rate / one.rate, many.steady_rate / one.steady_rate


CASES = {
    "real timing, shared scope": Bench(shared_scope=True, timing="real"),
    "real timing, a scope per site": Bench(shared_scope=False, timing="real"),
    "instant timing, shared scope": Bench(shared_scope=True, timing="instant"),
    "instant timing, a scope per site": Bench(shared_scope=False, timing="instant"),
}
PRIMARY = "real timing, shared scope"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=PARTS, help="parts per site (target case)")
    parts = parser.parse_args().parts
    print(f"LDO basics plan, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="benchtest-multisite-") as name:
        folder = Path(name)
        ratios = {
            label: compare(folder, label, bench, parts if label == PRIMARY else INFO_PARTS)
            for label, bench in CASES.items()
        }
    print(f"{SITES} sites / 1 site:{'end to end':>26}{'steady state':>14}")
    for label, (ratio, steady) in ratios.items():
        note = f"  target >= {TARGET:g}x end to end" if label == PRIMARY else ""
        print(f"  {label:<34}{ratio:6.2f}x{steady:13.2f}x{note}")
    met = ratios[PRIMARY][0] >= TARGET
    print(f"target {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
