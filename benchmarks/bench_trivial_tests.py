"""Trivial tests with one measurement each: the plugin against bare pytest, paired run by run.

Bare pytest runs the tests with a do-nothing `measure` fixture; with the plugin every finished
test is committed to the run file (crash-safe) and the file is closed at the end (each test's
NXentry, seal). A sample is one whole `python -m pytest` process (start-up, collection, the
tests, the run file's close). The two alternate (bare first, then plugin first, ...) and the
ratio is the median of the per-pair ratios. Target: <= 1.5x bare pytest (the exit status).

Both sides load the same pytest plugins whatever else the environment has installed: pytest's
automatic plugin loading is off (`PYTEST_DISABLE_PLUGIN_AUTOLOAD`) and the plugins are named,
pytest-xdist's (a dependency of benchtest, so every user has it) on both sides and benchtest's
on the plugin side: what a user with benchtest alone installed sees. A development environment
adds pytest-qt and pytest-timeout, whose per-test hooks and start-up (PySide6) make bare
pytest ~15 % slower and the ratio look better than it is; `--installed-plugins` keeps them.

The bench and DUT files are validated by jsonschema in the warm-up pair and then known to be
valid (`benchtest.config.valid_files`, in a cache folder of the benchmark's own), as on a bench
that runs the same files every night; the first run of a new or changed file pays ~50 ms more.

Both sides keep their modules' bytecode, as an installed package does, in a folder of the
benchmark's own (`PYTHONPYCACHEPREFIX`), filled by the warm-up pair. An environment that sets
`PYTHONDONTWRITEBYTECODE` (as the development one does) otherwise compiles benchtest's modules
from source, and pytest rewrites the plugin's asserts, in every process (~0.1 s, which bare
pytest, all of it compiled in site-packages, does not pay); `--no-bytecode-cache` keeps the
environment as it is.

One more run of each, after the pairs, accounts for the CPU (the process's, all its threads) by
phase: start-up and collection, the tests, the close; and, with the plugin, for the two parts
that grow with the number of tests: each test's commit (its start and end events into the run
file, while the tests run) and each test's NXentry (built at the close).

    python benchmarks/bench_trivial_tests.py [--quick] [--no-bytecode-cache] [--installed-plugins]
"""

from __future__ import annotations

import json
import os
import shutil
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


# Loaded only for the accounting runs, with and without the plugin: the process's CPU (all
# its threads) at the end of each phase: start-up and collection, the tests, the close.
PHASES = """
import json, os, time
import pytest

PHASES = {}

def pytest_collection_finish(session):
    PHASES["start-up"] = time.process_time()

@pytest.hookimpl(tryfirst=True)  # before the plugin's own: its close is the next phase
def pytest_sessionfinish(session):
    PHASES["tests"] = time.process_time()

def pytest_unconfigure(config):
    PHASES["close"] = time.process_time()
    with open(os.environ["BENCHTEST_PHASES"], "w") as out:
        json.dump({**PHASES, **globals().get("SPENT", {})}, out)
"""
# With the plugin: thread CPU spent in the per-test parts of the run file.
ACCOUNTING_CONFTEST = """
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

for name in ("build_entries", "build_missing_entries"):  # from memory, from the tables
    if hasattr(writer, name):
        _timed(writer, name, "entries")
_timed(runner, "record", "commits")
"""


def phases(
    folder: Path, tests: int, args: list[str], env: dict[str, str], conftest: str
) -> dict[str, float]:
    """One run in `folder` with `conftest` added: CPU seconds of each phase (see `PHASES`)."""
    spent_file = folder / "phases.json"
    original = folder / "conftest.py"
    kept = original.read_text(encoding="utf-8") if original.exists() else ""
    original.write_text(f"{kept}\n{PHASES}\n{conftest}", encoding="utf-8")
    try:
        pytest_run(folder, tests, *args, env={**env, "BENCHTEST_PHASES": str(spent_file)})
    finally:
        if kept:
            original.write_text(kept, encoding="utf-8")
        else:
            original.unlink()
    spent: dict[str, float] = json.loads(spent_file.read_text(encoding="utf-8"))
    spent["close"] -= spent["tests"]
    spent["tests"] -= spent["start-up"]
    return spent


def accounting(
    bare: Path,
    plugin: Path,
    tests: int,
    bare_args: list[str],
    plugin_args: list[str],
    env: dict[str, str],
) -> None:
    """Print where the plugin's CPU per test goes (one run of each, after the pairs)."""
    ours = phases(plugin, tests, plugin_args, env, ACCOUNTING_CONFTEST)
    base = phases(bare, tests, bare_args, env, "")
    per = 1e3 / tests
    whole = ("start-up", "tests", "close")
    mine, theirs = sum(ours[p] for p in whole), sum(base[p] for p in whole)
    extra = mine - theirs
    print(f"CPU per test (one run each, all threads): bare pytest {theirs * per:.3f} ms, "
          f"with plugin {mine * per:.3f} ms; the plugin's {extra * per:.3f} ms are")  # fmt: skip
    parts = (
        ("start-up", "start-up and collection (imports, bench and DUT files, plan checks)"),
        ("tests", "running the tests (hooks, fixtures, measure, the run file's events)"),
        ("close", "the close (the run file finished and sealed, pytest's own end)"),
    )
    for phase, what in parts:
        print(f"  {what}: {(ours[phase] - base[phase]) * per:.3f} ms")
        if phase == "tests":
            print(f"    of which each test's commit (start, end): {ours['commits'] * per:.3f} ms")
        if phase == "close":
            print(f"    of which each test's NXentry: {ours['entries'] * per:.3f} ms")


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


#: The plugins both sides load when pytest loads none by itself: pytest-xdist's.
COMMON_PLUGINS = ["-p", "xdist.plugin", "-p", "xdist.looponfail"]


def environment(root: Path, *, bytecode_cache: bool, installed_plugins: bool) -> dict[str, str]:
    """The pytest processes' environment: this one, with pytest's automatic plugin loading
    off and a bytecode cache under `root`, unless told not to (see the module docstring)."""
    env = dict(os.environ)
    # The bench and DUT files are validated in the warm-up pair and remembered as valid, as
    # on a bench that runs the same files every night (`benchtest.config.valid_files`).
    env["BENCHTEST_CACHE_DIR"] = str(root / "cache")
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    if not installed_plugins:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "bytecode")
    return env


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument(
        "--no-bytecode-cache",
        dest="bytecode_cache",
        action="store_false",
        help="run pytest in this environment as it is (with PYTHONDONTWRITEBYTECODE set, "
        "every process compiles benchtest's modules anew)",
    )
    parser.add_argument(
        "--installed-plugins",
        action="store_true",
        help="let pytest load every plugin installed in this environment, on both sides",
    )
    options = parser.parse_args()
    tests, pairs = (50, 1) if options.quick else (5_000, 7)
    with tempfile.TemporaryDirectory(prefix="benchtest-trivial-") as name:
        root = Path(name)
        env = environment(
            root,
            bytecode_cache=options.bytecode_cache,
            installed_plugins=options.installed_plugins,
        )
        bare, plugin = root / "bare", root / "plugin"
        for folder in (bare, plugin):
            folder.mkdir()
            (folder / "test_trivial.py").write_text(PLAN.format(tests=tests), encoding="utf-8")
        (bare / "conftest.py").write_text(BARE_CONFTEST, encoding="utf-8")
        (plugin / "bench.yaml").write_text(IDLE_BENCH, encoding="utf-8")
        # The profile beside the plan, named relative to it, as in a plans folder: an absolute
        # path outside the folder would make pytest take a common ancestor as its rootdir
        # (pytest reads option values as paths before the plugin is loaded), with the
        # repository's pytest settings and a collection that lists every folder on the way.
        shutil.copy(REPO / "dut_profiles" / "bt_ldo33.yaml", plugin / "bt_ldo33.yaml")
        if options.installed_plugins:
            bare_args, plugin_args = ["-p", "no:benchtest"], []
        else:
            bare_args, plugin_args = COMMON_PLUGINS, [*COMMON_PLUGINS, "-p", "benchtest.plugin"]
        plugin_args += ["--bench", "bench.yaml", "--dut", "bt_ldo33.yaml"]
        paired = interleaved(
            lambda: pytest_run(bare, tests, *bare_args, env=env),
            lambda: pytest_run(plugin, tests, *plugin_args, env=env),
            pairs,
        )
        accounting(bare, plugin, tests, bare_args, plugin_args, env)
    ours, base = summarize(paired.measured), summarize(paired.baseline)
    per_test = 1e3 / tests
    cached = "bytecode cached" if options.bytecode_cache else "bytecode as the environment has it"
    plugins = (
        "every installed pytest plugin"
        if options.installed_plugins
        else "pytest + pytest-xdist (+ benchtest), no other plugin"
    )
    cached = f"{plugins}; {cached}"
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
