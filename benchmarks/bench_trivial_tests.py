"""Trivial tests with one measurement each: the plugin against bare pytest, paired run by run.

Bare pytest runs the tests with a do-nothing `measure` fixture; with the plugin every finished
test is committed to the run file (crash-safe) and the file is closed at the end (each test's
NXentry, seal). A sample is one whole `python -m pytest` process (start-up, collection, the
tests, the run file's close). The two alternate (bare first, then plugin first, ...) and the
ratio is the median of the per-pair ratios. Target: <= 1.5x bare pytest (the exit status).

Both sides keep their modules' bytecode, as an installed package does, in a folder of the
benchmark's own (`PYTHONPYCACHEPREFIX`), filled by the warm-up pair. An environment that sets
`PYTHONDONTWRITEBYTECODE` (as the development one does) otherwise compiles benchtest's modules
from source, and pytest rewrites the plugin's asserts, in every process (~0.1 s, which bare
pytest, all of it compiled in site-packages, does not pay); `--no-bytecode-cache` keeps the
environment as it is.

One more run of each, after the pairs, accounts for the CPU: of the whole process, and, with the
plugin, of the two parts that grow with the number of tests, building each test's NXentry at
close and committing each test (its start and end events into the run file). What is left is
the plugin's hooks and fixtures, its start-up and its collection checks.

    python benchmarks/bench_trivial_tests.py [--quick] [--no-bytecode-cache]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
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


# Loaded only for the accounting run: thread CPU spent in the per-test parts of the plugin.
ACCOUNTING_CONFTEST = """
import json, os, time
import benchtest.plugin.runner as runner
import benchtest.storage.hdf5_writer as writer

SPENT = {"entries": 0.0, "commits": 0.0}

def _timed(module, name, key):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[key] += time.thread_time() - start
    setattr(module, name, wrapper)

_timed(writer, "build_missing_entries", "entries")
_timed(runner, "emit", "commits")

def pytest_unconfigure(config):
    with open(os.environ["BENCHTEST_ACCOUNTING"], "w") as out:
        json.dump(SPENT, out)
"""


def cpu_seconds(action: Callable[[], object]) -> float:
    """CPU seconds (user + system) of the child processes `action` ran."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    action()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def accounting(
    bare: Path, plugin: Path, tests: int, plugin_args: list[str], env: dict[str, str]
) -> None:
    """Print where the plugin's CPU per test goes (one run of each, after the pairs)."""
    spent_file = plugin / "spent.json"
    bare_cpu = cpu_seconds(lambda: pytest_run(bare, tests, "-p", "no:benchtest", env=env))
    (plugin / "conftest.py").write_text(ACCOUNTING_CONFTEST, encoding="utf-8")
    try:
        plugin_cpu = cpu_seconds(
            lambda: pytest_run(
                plugin, tests, *plugin_args, env={**env, "BENCHTEST_ACCOUNTING": str(spent_file)}
            )
        )
    finally:
        (plugin / "conftest.py").unlink()
    spent = json.loads(spent_file.read_text(encoding="utf-8"))
    extra = plugin_cpu - bare_cpu
    rest = extra - spent["entries"] - spent["commits"]
    per = 1e3 / tests
    print(f"CPU per test (one run each): bare pytest {bare_cpu * per:.3f} ms, with plugin "
          f"{plugin_cpu * per:.3f} ms; the plugin's {extra * per:.3f} ms are")  # fmt: skip
    print(f"  each test's NXentry, built at close : {spent['entries'] * per:.3f} ms")
    print(f"  each test's commit (start, end)     : {spent['commits'] * per:.3f} ms")
    print(f"  hooks, fixtures, start-up, checks   : {rest * per:.3f} ms")


def pytest_run(folder: Path, tests: int, *args: str, env: dict[str, str]) -> float:
    """Seconds for one pytest process in `folder` (which must pass all `tests`), with the
    environment `env`."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    done: list[subprocess.CompletedProcess[str]] = []
    elapsed = timed(
        lambda: done.append(
            subprocess.run(
                command, cwd=folder, capture_output=True, text=True, timeout=900, env=env
            )
        )
    )
    run = done[0]
    if run.returncode != 0 or f"{tests} passed" not in run.stdout:
        sys.exit(f"run failed: {' '.join(args)}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return elapsed


def environment(root: Path, *, bytecode_cache: bool) -> dict[str, str]:
    """The pytest processes' environment: this one, with a bytecode cache under `root`
    unless told not to (see the module docstring)."""
    if not bytecode_cache:
        return dict(os.environ)
    kept = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, "PYTHONPYCACHEPREFIX": str(root / "bytecode")}


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument(
        "--no-bytecode-cache",
        dest="bytecode_cache",
        action="store_false",
        help="run pytest in this environment as it is (with PYTHONDONTWRITEBYTECODE set, "
        "every process compiles benchtest's modules anew)",
    )
    options = parser.parse_args()
    tests, pairs = (50, 2) if options.quick else (5_000, 7)
    with tempfile.TemporaryDirectory(prefix="benchtest-trivial-") as name:
        root = Path(name)
        env = environment(root, bytecode_cache=options.bytecode_cache)
        bare, plugin = root / "bare", root / "plugin"
        for folder in (bare, plugin):
            folder.mkdir()
            (folder / "test_trivial.py").write_text(PLAN.format(tests=tests), encoding="utf-8")
        (bare / "conftest.py").write_text(BARE_CONFTEST, encoding="utf-8")
        (plugin / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
        profile = str(REPO / "dut_profiles" / "bt_ldo33.yaml")
        plugin_args = ["--bench", "bench.yaml", "--dut", profile]
        paired = interleaved(
            lambda: pytest_run(bare, tests, "-p", "no:benchtest", env=env),
            lambda: pytest_run(plugin, tests, *plugin_args, env=env),
            pairs,
        )
        accounting(bare, plugin, tests, plugin_args, env)
    ours, base = summarize(paired.measured), summarize(paired.baseline)
    per_test = 1e3 / tests
    cached = "bytecode cached" if options.bytecode_cache else "environment as it is"
    print(f"{tests} trivial tests, {pairs} pairs (alternating order, one warm-up pair dropped), "
          f"{cached}")  # fmt: skip
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
        f"and the run file's close (NXentry per test, seal); {cached}",
    )
    return exit_status([met])


if __name__ == "__main__":
    sys.exit(main())
