"""Run every benchmark (`bench_*.py`, each in its own process) and print one table of results.

Each benchmark prints a `RESULT {...}` line per target (see `targets.py`) and exits 0 when its
targets are met. This script collects those lines and prints: benchmark, measured, baseline,
ratio, target, met. `--quick` is passed through (tiny sizes: checks the scripts run, not speed).

    python benchmarks/run_all.py [--quick] [--only NAME ...]

Exit status: 0 when every benchmark exited 0, 1 otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targets import RESULT_PREFIX, arguments

HERE = Path(__file__).resolve().parent


@dataclass
class Outcome:
    """One benchmark's exit status, result lines and time."""

    script: str
    status: int
    seconds: float
    results: list[dict[str, Any]] = field(default_factory=list)
    tail: str = ""


def results_of(stdout: str) -> list[dict[str, Any]]:
    """The result lines a benchmark printed, decoded."""
    return [
        json.loads(line[len(RESULT_PREFIX) :])
        for line in stdout.splitlines()
        if line.startswith(RESULT_PREFIX)
    ]


def run(script: Path, quick: bool, timeout: float) -> Outcome:
    """Run `script` with this Python and collect what it printed."""
    args = [sys.executable, str(script)] + (["--quick"] if quick else [])
    start = time.perf_counter()
    try:
        done = subprocess.run(args, cwd=HERE, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(
            script.name, -1, time.perf_counter() - start, tail=f"timed out ({timeout:g} s)"
        )
    seconds = time.perf_counter() - start
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return Outcome(script.name, done.returncode, seconds, results_of(done.stdout), "\n".join(tail))


def table(outcomes: list[Outcome]) -> str:
    """The results as a Markdown table, one row per target."""
    rows = [["benchmark", "measured", "baseline", "ratio", "target", "met?"]]
    for outcome in outcomes:
        if not outcome.results:
            verdict = "no result line" if outcome.status in (0, 1) else f"failed ({outcome.status})"
            rows.append([outcome.script, verdict, "", "", "", "no"])
        for line in outcome.results:
            ratio = line.get("ratio")
            spread = ""
            if ratio is not None and "ratio_low" in line:
                spread = f" [{line['ratio_low']:.3g}-{line['ratio_high']:.3g}]"
            rows.append(
                [
                    str(line.get("benchmark", outcome.script)),
                    str(line.get("measured", "")),
                    str(line.get("baseline", "")),
                    "" if ratio is None else f"{ratio:.3g}x{spread}",
                    str(line.get("target", "")),
                    "yes" if line.get("met") else "no",
                ]
            )
    return "\n".join("| " + " | ".join(row) + " |" for row in [*rows[:1], ["---"] * 6, *rows[1:]])


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names, e.g. codecs")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    options = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if options.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in options.only]
    outcomes = []
    for script in scripts:
        print(f"running {script.name}{' --quick' if options.quick else ''} ...", flush=True)
        outcome = run(script, options.quick, options.timeout)
        print(f"  exit {outcome.status} in {outcome.seconds:.1f} s", flush=True)
        if outcome.status not in (0, 1) or not outcome.results:
            print("  " + outcome.tail.replace("\n", "\n  "))
        outcomes.append(outcome)
    print()
    print(table(outcomes))
    return 0 if all(o.status == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
