"""An ordinary pytest suite where benchtest is installed, run without a bench: what the plugin
costs a suite that does not use it, paired run by run.

pytest loads benchtest's plugin in every run of an environment where benchtest is installed
(its `pytest11` entry point), also for suites that have nothing to do with a bench. This runs
`TESTS` plain tests (no fixture of benchtest's) as one whole `python -m pytest` process with
the plugin (`-p benchtest.plugin`) and without it, alternately; pytest's automatic plugin
loading is off and pytest-xdist's plugins are named on both sides, as in
`bench_trivial_tests.py`, and the modules' bytecode is cached. Target: the plugin adds at most
20 % to the run, and it imports none of the heavy modules a bench run needs (numpy, h5py,
jsonschema, pyvisa, pyserial, PyYAML): the exit status. Printed besides: the time it adds per
run, and how many modules a run with it imports that one without it does not.

    python benchmarks/bench_plugin_idle.py [--quick]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bench_trivial_tests import COMMON_PLUGINS, environment, pytest_run
from targets import absolute, arguments, exit_status, interleaved, result, summarize

TARGET = 1.2
TESTS = 100
SUITE = """
import pytest

@pytest.mark.parametrize("n", range({tests}))
def test_plain(n):
    assert n >= 0
"""
# For one more run of each side after the pairs: the modules imported by the session's end.
MODULES = """
import json, os, sys

def pytest_unconfigure(config):
    with open(os.environ["BENCHTEST_IDLE_MODULES"], "w") as out:
        json.dump(sorted(sys.modules), out)
"""
#: Modules that an idle plugin must leave unimported (each costs tens of ms to import).
HEAVY = ("numpy", "h5py", "jsonschema", "pyvisa", "serial", "yaml")


def imported(folder: Path, args: list[str], env: dict[str, str], tests: int) -> set[str]:
    """The modules one run in `folder` with `args` has imported by its end."""
    listing = folder / "modules.json"
    (folder / "conftest.py").write_text(MODULES, encoding="utf-8")
    try:
        pytest_run(folder, tests, *args, env={**env, "BENCHTEST_IDLE_MODULES": str(listing)})
    finally:
        (folder / "conftest.py").unlink()
    return set(json.loads(listing.read_text(encoding="utf-8")))


def main() -> int:
    options = arguments(__doc__).parse_args()
    tests, pairs = (10, 1) if options.quick else (TESTS, 15)
    with tempfile.TemporaryDirectory(prefix="benchtest-idle-") as name:
        root = Path(name)
        env = environment(root, bytecode_cache=True, installed_plugins=False)
        folder = root / "suite"
        folder.mkdir()
        (folder / "test_plain.py").write_text(SUITE.format(tests=tests), encoding="utf-8")
        without, with_plugin = COMMON_PLUGINS, [*COMMON_PLUGINS, "-p", "benchtest.plugin"]
        paired = interleaved(
            lambda: pytest_run(folder, tests, *without, env=env),
            lambda: pytest_run(folder, tests, *with_plugin, env=env),
            pairs,
        )
        added = sorted(
            imported(folder, with_plugin, env, tests) - imported(folder, without, env, tests)
        )
    ours, base = summarize(paired.measured), summarize(paired.baseline)
    heavy = [m for m in added if m.split(".")[0] in HEAVY and "." not in m]
    own = [m for m in added if m.split(".")[0] == "benchtest"]
    print(f"{tests} plain tests, no bench, {pairs} pairs (alternating order, one warm-up pair "
          "dropped), pytest + pytest-xdist, bytecode cached")  # fmt: skip
    print(f"without benchtest : {base.text(1e3, 'ms per run')}")
    print(f"with its plugin   : {ours.text(1e3, 'ms per run')}")
    added_time = summarize([m - b for m, b in zip(paired.measured, paired.baseline, strict=True)])
    print(f"added per run     : {added_time.text(1e3, 'ms (per pair)')}")
    print(f"modules the plugin adds: {len(added)}, of them benchtest's {len(own)}; "
          f"heavy ones: {', '.join(heavy) if heavy else 'none'}")  # fmt: skip
    met = result(
        "plain pytest suite, benchtest installed vs not",
        ours.text(1e3, "ms/run"),
        base.text(1e3, "ms/run"),
        summarize(paired.ratios(throughput=False)),
        TARGET,
        at_least=False,
        included=f"whole pytest processes of {tests} plain tests without a bench: start-up "
        "(the plugin's import and options), collection, the tests, the end",
    )
    light = absolute(
        "plain pytest suite, heavy modules imported for benchtest's plugin",
        len(heavy),
        "modules",
        0,
        at_most=True,
        included=f"of {', '.join(HEAVY)}: those a run with the plugin imports and one "
        "without it does not",
    )
    return exit_status([met, light])


if __name__ == "__main__":
    sys.exit(main())
