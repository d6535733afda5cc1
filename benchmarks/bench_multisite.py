"""Multi-site throughput: the LDO basics plan on 4 simulated sites at once against 1 site alone.

Each site is a pytest-xdist worker with its own simulated SMU and debug port; the scope is
shared by the sites and claimed per test, as on a real multi-site bench. Every part runs the
whole plan, once per part. Throughput is tests per second.

The target-checked measurement runs both cases on the simulated bench with real instrument
timing (`?timing=real` on every sim:// resource: SMU integration, scope acquisition, settling,
baud rate), so a test waits on its instruments as on a real bench and parallel sites overlap
that waiting, for a lot of PARTS parts per site, 1 site and 4 sites alternately, PAIRS pairs.
Targets: 4 sites >= 3x 1 site, end to end (pytest started to pytest done), median of the
per-pair ratios; and the framework's CPU per test <= 10 ms in each pytest process that runs
tests (its own user + system time, first test to last; the simulators, its children, are
excluded and printed beside it, read from /proc/<pid>/stat; what the measuring itself costs
is measured and subtracted). The CPU of every process (the xdist controller's per test
received, too), and the ratio that CPU allows on the cores of the machine, is printed for each
case, with the time before the first test and after the last (closing and merging). A multi-site
session has a fixed cost of its own (4 sites: starting 9 Python processes on 2 cores, and
merging the sites' run files at the end, which starts in the controller once the last site is
done, while the workers stop; 1 site: ~1.7 s in all), so end to end approaches the
steady-state ratio only for sessions long against it: 300 parts of this short plan take ~38 s
on one site. Each run keeps pytest's temporary folders in a folder of its own (`--basetemp`):
else the xdist controller clears out the old ones other sessions left in the machine's shared
folder, a cost set by what else ran there. Also printed, as information, with INFO_PARTS
parts: the same bench with a scope per site (what sharing the scope costs) and instant timing
(little waiting left to overlap: 4 sites share 2 cores between 9 Python processes); and for
every case the steady state (first test started to last test done).

    python benchmarks/bench_multisite.py [--parts N] [--pairs N] [--target-only] [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import targets
from targets import summarize

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"
DUT = REPO / "dut_profiles" / "bt_ldo33.yaml"
PARTS = 300  # per site, in the target-checked case
INFO_PARTS = 30  # per site, in the cases printed as information
PAIRS = 3  # interleaved pairs of runs (1 site, 4 sites) in the target-checked case
SITES = 4
TARGET = 3.0
CPU_TARGET_MS = 10.0  # framework CPU per test, per pytest process

# One part after another: a module-scoped parameter runs the whole plan once per part.
REPEAT_FIXTURE = """

@pytest.fixture(scope="module", autouse=True, params=range({repeats}), ids=lambda i: f"part{{i}}")
def _part(request):
    return request.param
"""

# Records when each test phase started and ended, per process, for the steady-state rate, and
# the process's own CPU time (user + system, all its threads; not its children, so the
# simulators are excluded) at its first test, its last test and the end of its session. What
# this bookkeeping costs is measured and left out: the phase times are kept in memory and written
# at the end, the simulators (the process's children) are found once, and the CPU the
# bookkeeping itself takes from the first test on is summed and subtracted.
TIMES_CONFTEST = """
import json, os, resource

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
FOLDER = os.environ["BENCHMARK_TIMES"]
CPU = {"tests": 0, "first": None, "last": None, "children_first": None, "children_last": None,
       "bookkeeping": 0.0, "controller": False}
SPANS = []
CHILDREN = []

def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def _children():
    # The running child processes (the simulators), from /proc; None off Linux
    if not os.path.isdir("/proc"):
        return None
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(entry)
            if fields is not None and int(fields[1]) == me:
                found.append(entry)
    return found

def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None

def _children_cpu():
    # CPU seconds of the children found at the first test (a simulator started later, or one
    # that has exited, is not counted); None off Linux
    if not CHILDREN:
        found = _children()
        if found is None:
            return None
        CHILDREN.extend(found)
    ticks = 0
    for pid in CHILDREN:
        fields = _stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")

def pytest_runtest_logreport(report):
    # A test's reports, in the process that ran it, or in the xdist controller (it receives
    # every test's reports: `report.node` names the worker; its children are the workers)
    SPANS.append([report.start, report.stop])
    if report.when == "teardown":
        now = _cpu()
        CPU["tests"] += 1
        CPU["controller"] = getattr(report, "node", None) is not None
        CPU["last"] = now
        CPU["children_last"] = None if CPU["controller"] else _children_cpu()
        if CPU["first"] is None:
            CPU["first"], CPU["children_first"] = CPU["last"], CPU["children_last"]
        else:
            CPU["bookkeeping"] += _cpu() - now

def pytest_sessionfinish(session):
    with open(os.path.join(FOLDER, f"times-{WORKER}.jsonl"), "w") as f:
        f.writelines(json.dumps(span) + "\\n" for span in SPANS)
    CPU.update(total=_cpu(), pid=os.getpid())
    with open(os.path.join(FOLDER, f"cpu-{WORKER}.json"), "w") as f:
        json.dump(CPU, f)

def pytest_unconfigure(config):
    # After every plugin's session end: the xdist controller has merged the sites' run files
    with open(os.path.join(FOLDER, f"cpu-{WORKER}.json"), "w") as f:
        json.dump({**CPU, "final": _cpu()}, f)
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
class Cpu:
    """CPU seconds of one pytest process: in all (to the end of its session, before the
    controller merges the run files), and from its first test done to its last (for the xdist
    controller: the reports of its first test received to those of its last)."""

    process: str
    tests: int  # tests run, or (the controller) whose reports were received
    total: float
    steady: float
    children_steady: float | None  # its child processes (simulators), first test to last
    controller: bool = False
    after_session: float = 0.0  # after its session's end (the controller: the merge)

    @property
    def per_test(self) -> float:
        """Steady CPU per test (session start-up and run-file close excluded)."""
        return self.steady / max(1, self.tests - 1)

    @property
    def children_per_test(self) -> float | None:
        if self.children_steady is None:
            return None
        return self.children_steady / max(1, self.tests - 1)


@dataclass(frozen=True)
class Run:
    """One pytest run: its tests, wall time, the span from first test to last, and CPU."""

    tests: int
    elapsed: float
    testing: float
    processes: list[Cpu]
    everything: float  # CPU of every process the run started (pytest, workers, simulators)
    before: float  # s from pytest started to the first test started (start-up)
    after: float  # s from the last test done to pytest done (run files closed and merged)
    machine: float | None = None  # CPU s the whole machine was busy meanwhile (Linux)

    @property
    def elsewhere(self) -> float | None:
        """CPU s of the machine's other processes (not started by this run) meanwhile."""
        return None if self.machine is None else max(0.0, self.machine - self.everything)

    @property
    def rate(self) -> float:
        return self.tests / self.elapsed

    @property
    def steady_rate(self) -> float:
        return self.tests / self.testing

    @property
    def workers(self) -> list[Cpu]:
        """The processes that ran tests (on one site, the main pytest process)."""
        return [cpu for cpu in self.processes if cpu.tests and not cpu.controller]

    @property
    def others(self) -> float:
        """CPU of the simulators (and anything else but the pytest processes)."""
        return self.everything - sum(cpu.total for cpu in self.processes)


def machine_cpu() -> float | None:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat); None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's waited-for descendants so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_records(work: Path) -> list[Cpu]:
    """The pytest processes' CPU; with xdist workers, `main` is the controller (it receives
    every test's reports but runs none)."""
    records = []
    for path in sorted(work.glob("cpu-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        tests = data["tests"]
        steady = (data["last"] - data["first"] - data["bookkeeping"]) if tests else 0.0
        children = None
        if tests and data["children_first"] is not None:
            children = data["children_last"] - data["children_first"]
        name = path.stem.removeprefix("cpu-")
        after = data.get("final", data["total"]) - data["total"]
        records.append(Cpu(name, tests, data["total"], steady, children, data["controller"], after))
    return records


def run(folder: Path, bench: Bench, sites: int, parts: int, repeat: int = 0) -> Run:
    name = f"{'shared' if bench.shared_scope else 'own'}-{bench.timing}-{sites}-{parts}-{repeat}"
    work = folder / name
    work.mkdir()
    (work / "bench.yaml").write_text(bench.text(sites), encoding="utf-8")
    plan = PLAN.read_text(encoding="utf-8") + REPEAT_FIXTURE.format(repeats=parts)
    (work / "test_plan.py").write_text(plan, encoding="utf-8")
    (work / "conftest.py").write_text(TIMES_CONFTEST, encoding="utf-8")
    args = [sys.executable, "-m", "pytest", str(work / "test_plan.py"), "-q"]
    args += ["-p", "no:cacheprovider", "--rootdir", str(work), "--sim"]
    args += ["--bench", str(work / "bench.yaml"), "--dut", str(DUT)]
    # pytest's temporary folders in the run's own (xdist makes one for each worker): else the
    # xdist controller clears out old numbered folders under the machine's shared
    # pytest-of-<user>, whatever other sessions left there (thousands of files from a test
    # suite: up to ~0.8 s of CPU at the session's end, beside the merge)
    args += ["--results-dir", str(work / "results"), "--basetemp", str(work / "basetemp")]
    args += ["-n", str(sites)] if sites > 1 else ["--site", "S1"]
    environment = {**python_environment(folder), "BENCHMARK_TIMES": str(work)}
    start, cpu_before, machine_before = time.time(), children_cpu(), machine_cpu()
    done = subprocess.run(
        args, cwd=work, capture_output=True, text=True, timeout=600, env=environment
    )
    elapsed, everything = time.time() - start, children_cpu() - cpu_before
    machine_after = machine_cpu()
    machine = None
    if machine_before is not None and machine_after is not None:
        machine = machine_after - machine_before
    if done.returncode != 0:
        sys.exit(f"the {name} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    tests = int(done.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    spans = [
        json.loads(line)
        for times in work.glob("times-*.jsonl")
        for line in times.read_text(encoding="utf-8").splitlines()
    ]
    first, last = min(begin for begin, _ in spans), max(stop for _, stop in spans)
    before, after = first - start, start + elapsed - last
    processes = cpu_records(work)
    return Run(tests, elapsed, last - first, processes, everything, before, after, machine)


def python_environment(folder: Path) -> dict[str, str]:
    """The environment of the runs: Python's compiled bytecode is used as an installed package
    uses it. Where the environment forbids writing it (PYTHONDONTWRITEBYTECODE, and the
    checkout has none), every Python process would compile the modules it imports from
    source at each start (~0.1 s of CPU per process: 9 processes on 4 sites, 2 on one); the
    runs then keep it in a cache of their own, under `folder` (see `warm_up`)."""
    environment = dict(os.environ)
    if environment.pop("PYTHONDONTWRITEBYTECODE", ""):
        environment["PYTHONPYCACHEPREFIX"] = str(folder / "bytecode")
    return environment


def warm_up(folder: Path) -> None:
    """A short, unmeasured run on 1 site and on SITES sites, so that the measured runs start
    with Python's bytecode compiled (see `python_environment`) and their files in the OS
    cache."""
    started = time.time()
    for sites in (1, SITES):
        run(folder, CASES[PRIMARY], sites, 1, repeat=-1)
    where = python_environment(folder).get("PYTHONPYCACHEPREFIX", "beside the sources")
    print(f"warm-up: {time.time() - started:.1f} s (Python bytecode: {where})")


def show(sites: int, result: Run) -> None:
    print(
        f"  {sites} site{'s' if sites > 1 else ' '}: {result.tests:4d} tests in "
        f"{result.elapsed:6.2f} s = {result.rate:6.2f} tests/s "
        f"(steady state {result.testing:6.2f} s = {result.steady_rate:6.2f} tests/s; "
        f"start-up {result.before:5.2f} s, after the last test {result.after:5.2f} s)"
    )


def show_cpu(label: str, result: Run) -> None:
    """CPU per process of one run: what each pytest process and the simulators used."""
    print(
        f"  CPU, {label}: {result.everything:.2f} s in all processes, over {result.elapsed:.2f} s"
    )
    for cpu in result.processes:
        role = "controller" if cpu.controller else f"{cpu.tests} tests"
        steady = f", {cpu.per_test * 1e3:5.1f} ms/test steady" if cpu.tests > 1 else ""
        if cpu.tests > 1 and cpu.children_per_test is not None:
            steady += f" (its simulator: {cpu.children_per_test * 1e3:5.1f} ms/test)"
        print(f"    pytest {cpu.process:<5} ({role}): {cpu.total:6.2f} s{steady}")
        if cpu.controller or cpu.process == "main":
            what = "the merge's end" if cpu.controller else "closing"
            print(f"      then, after its session ({what}): {cpu.after_session:6.2f} s")
    others = result.others - sum(cpu.after_session for cpu in result.processes)
    print(
        f"    simulators and the rest: {others:6.2f} s = {others / result.tests * 1e3:5.1f} ms/test"
    )
    cores = result.everything / result.elapsed
    print(f"    cores busy on average: {cores:.2f} of {os.cpu_count()}")


def compare(folder: Path, label: str, bench: Bench, parts: int, pairs: int) -> Comparison:
    """Run 1 site and SITES sites `pairs` times, alternating which goes first."""
    ones: list[Run] = []
    manys: list[Run] = []
    for k in range(pairs):
        order = (1, SITES) if k % 2 == 0 else (SITES, 1)
        for sites in order:
            (ones if sites == 1 else manys).append(run(folder, bench, sites, parts, k))
    print(f"{label}, {parts} parts per site, {pairs} interleaved pair(s):")
    for one, many in zip(ones, manys, strict=True):
        show(1, one)
        show(SITES, many)
    show_cpu("1 site (last run)", ones[-1])
    show_cpu(f"{SITES} sites (last run)", manys[-1])
    show_bound(ones[-1], manys[-1])
    return Comparison(ones, manys)


def show_bound(one: Run, many: Run) -> None:
    """The end-to-end ratio the CPU allows: the sites' run needs all the CPU it used (workers,
    simulators, controller, start-up and merge), and the cores are shared; one site's run is
    measured end to end too."""
    cpu_per_test = many.everything / many.tests
    load = os.getloadavg()[0]
    print(
        f"    CPU per test on {SITES} sites, all processes, end to end: {cpu_per_test * 1e3:.1f} "
        f"ms; 1 site runs {one.rate:.1f} tests/s end to end (load average now {load:.1f})"
    )
    for cores in (1, os.cpu_count() or 1):
        bound = min(SITES, cores / cpu_per_test / one.rate)
        print(f"    with {cores} core(s) free for this run, {SITES} sites / 1 site <= {bound:.2f}x")
    if many.elsewhere is not None:
        free = cpu_bound(one, many)
        print(
            f"    other processes on the machine used {many.elsewhere:.1f} s of CPU during the "
            f"{SITES}-site run ({many.elsewhere / many.elapsed:.2f} cores): cores left for it "
            f"{free.cores:.2f}, so {SITES} sites / 1 site <= {free.ratio:.2f}x "
            f"(measured {many.rate / one.rate:.2f}x)"
        )


@dataclass(frozen=True)
class Bound:
    cores: float  # cores left for the sites' run by the machine's other processes
    ratio: float  # the end-to-end ratio that CPU allows


def cpu_bound(one: Run, many: Run) -> Bound:
    """What the machine's other processes left the sites' run: its cores, and the ratio its
    CPU (every process it started, end to end) allows on them."""
    cores = (os.cpu_count() or 1) - (many.elsewhere or 0.0) / many.elapsed
    return Bound(cores, min(SITES, cores / (many.everything / many.tests) / one.rate))


@dataclass(frozen=True)
class Comparison:
    """The runs of 1 site and of SITES sites, paired in order."""

    ones: list[Run]
    manys: list[Run]

    def ratios(self) -> list[float]:
        return [m.rate / o.rate for o, m in zip(self.ones, self.manys, strict=True)]

    def steady(self) -> list[float]:
        return [m.steady_rate / o.steady_rate for o, m in zip(self.ones, self.manys, strict=True)]

    def bounds(self) -> list[float]:
        """Per pair, the ratio the CPU left to the sites' run allows (`cpu_bound`)."""
        return [cpu_bound(o, m).ratio for o, m in zip(self.ones, self.manys, strict=True)]

    def worker_cpu(self) -> list[float]:
        """Steady CPU per test of every pytest process that ran tests, all runs."""
        runs = self.ones + self.manys
        return [cpu.per_test for r in runs for cpu in r.workers if cpu.tests > 1]


CASES = {
    "real timing, shared scope": Bench(shared_scope=True, timing="real"),
    "real timing, a scope per site": Bench(shared_scope=False, timing="real"),
    "instant timing, shared scope": Bench(shared_scope=True, timing="instant"),
    "instant timing, a scope per site": Bench(shared_scope=False, timing="instant"),
}
PRIMARY = "real timing, shared scope"
#: In --quick, the target case alone, with one part (the other cases differ only in the bench).
QUICK_CASES = (PRIMARY,)


def main() -> int:
    parser = targets.arguments(__doc__)
    parser.add_argument("--parts", type=int, default=None, help="parts per site (target case)")
    parser.add_argument("--pairs", type=int, default=PAIRS, help="pairs of runs (target case)")
    parser.add_argument(
        "--target-only", action="store_true", help="the target case only (no information cases)"
    )
    options = parser.parse_args()
    parts = options.parts or (1 if options.quick else PARTS)
    pairs = 1 if options.quick else options.pairs
    alone = options.quick or options.target_only
    cases = {k: v for k, v in CASES.items() if not alone or k in QUICK_CASES}
    print(f"LDO basics plan, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="benchtest-multisite-") as name:
        folder = Path(name)
        if not options.quick:  # a quick run checks that the script works, not its speed
            warm_up(folder)
        results = {
            label: compare(
                folder,
                label,
                bench,
                parts if label == PRIMARY else (1 if options.quick else INFO_PARTS),
                pairs if label == PRIMARY else 1,
            )
            for label, bench in cases.items()
        }
    header = f"{'end to end':>26}{'steady state':>14}{'CPU bound':>11}{'CPU ms/test':>14}"
    print(f"{SITES} sites / 1 site:{header}")
    for label, comparison in results.items():
        ratio, steady = summarize(comparison.ratios()), summarize(comparison.steady())
        cpu = summarize(comparison.worker_cpu() or [float("nan")])
        bound = summarize(comparison.bounds()).median
        note = f"  target >= {TARGET:g}x end to end" if label == PRIMARY else ""
        print(
            f"  {label:<34}{ratio.median:6.2f}x{steady.median:13.2f}x{bound:10.2f}x"
            f"{cpu.median * 1e3:12.1f}{note}"
        )
    print(
        "  (CPU bound: the end-to-end ratio the CPU left by the machine's other processes "
        "allows the sites' run, median of the pairs)"
    )
    primary = results[PRIMARY]
    ones = summarize([r.rate for r in primary.ones])
    manys = summarize([r.rate for r in primary.manys])
    met = targets.result(
        f"multisite: {SITES} sites vs 1 site, real timing (throughput)",
        manys.text(unit="tests/s"),
        ones.text(unit="tests/s"),
        summarize(primary.ratios()),
        TARGET,
        at_least=True,
        included=f"pytest started to pytest done, {parts} parts per site: session start, "
        "simulators, tests, merge of the sites' run files",
    )
    cpu = summarize(primary.worker_cpu() or [float("nan")])
    cpu_met = targets.absolute(
        "multisite: framework CPU per test, pytest worker (LDO plan, real timing)",
        cpu.median * 1e3,
        "ms",
        CPU_TARGET_MS,
        at_most=True,
        included="user + system CPU of each pytest process that ran tests, first test to last, "
        f"per test; simulators excluded; median over processes [{cpu.low * 1e3:.1f}-"
        f"{cpu.high * 1e3:.1f} ms]",
    )
    return targets.exit_status([met, cpu_met])


if __name__ == "__main__":
    sys.exit(main())
