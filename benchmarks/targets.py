"""What every benchmark shares: interleaved timing against a baseline, median and spread, the
result line that `run_all.py` collects, the `--quick` option, and the exit status.

A benchmark times its measurement and its baseline in the same run, in pairs whose order
alternates (baseline first, then measured first, ...), so drift in the machine's load falls on
both; the ratio is the median of the per-pair ratios. It prints one result line per target:

    RESULT {"benchmark": ..., "measured": ..., "baseline": ..., "ratio": ..., "target": ...,
            "met": true, "included": ...}

and its exit status is 0 when every target was met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: Prefix of the machine-readable line a benchmark prints for each target.
RESULT_PREFIX = "RESULT "


def arguments(description: str | None) -> argparse.ArgumentParser:
    """A parser with the `--quick` option every benchmark accepts."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, a few seconds: checks that every code path runs, says nothing of speed",
    )
    return parser


@dataclass(frozen=True)
class Summary:
    """Median and spread (lowest, highest) of repeated samples."""

    median: float
    low: float
    high: float
    count: int

    def text(self, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
        m, lo, hi = (f"{v * scale:.{digits}g}" for v in (self.median, self.low, self.high))
        return f"{m} {unit} [{lo}-{hi}, n={self.count}]".replace("  ", " ")


def summarize(samples: Sequence[float]) -> Summary:
    """The median, lowest and highest of `samples` (at least one)."""
    if not samples:
        raise ValueError("no samples to summarize")
    return Summary(statistics.median(samples), min(samples), max(samples), len(samples))


def timed(action: Callable[[], object]) -> float:
    """Seconds `action` took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def sized_sample(action: Callable[[], int], expected: int, unit: str) -> Callable[[], float]:
    """A sampler: seconds one `action` took; an action that returns another count than
    `expected` (bytes, points) ends the benchmark, since its time would mean nothing."""

    def sample() -> float:
        count = 0

        def run() -> None:
            nonlocal count
            count = action()

        elapsed = timed(run)
        if count != expected:
            raise SystemExit(f"read {count} {unit}, expected {expected}")
        return elapsed

    return sample


@dataclass(frozen=True)
class Pairs:
    """Interleaved samples of a baseline and a measurement, and their per-pair ratios."""

    baseline: list[float]
    measured: list[float]

    def ratios(self, *, throughput: bool) -> list[float]:
        """measured/baseline time, or baseline/measured (a throughput ratio) when `throughput`."""
        pairs = zip(self.baseline, self.measured, strict=True)
        return [b / m if throughput else m / b for b, m in pairs]


def interleaved(
    baseline: Callable[[], float], measured: Callable[[], float], pairs: int, warmup: int = 1
) -> Pairs:
    """`pairs` samples of each, alternating which goes first; each callable returns its own
    sample (seconds, usually from `timed`). `warmup` pairs run first and are dropped."""
    for _ in range(warmup):
        baseline(), measured()
    base: list[float] = []
    ours: list[float] = []
    for k in range(pairs):
        if k % 2:
            ours.append(measured())
            base.append(baseline())
        else:
            base.append(baseline())
            ours.append(measured())
    return Pairs(base, ours)


def result(
    benchmark: str,
    measured: str,
    baseline: str,
    ratio: Summary,
    target: float,
    *,
    at_least: bool,
    included: str,
) -> bool:
    """Print the verdict and the result line for one target; return whether it was met.

    `measured` and `baseline` are the printed values (median and spread, with units); `ratio`
    is compared by its median with `target` (>= when `at_least`, else <=)."""
    met = ratio.median >= target if at_least else ratio.median <= target
    sign = ">=" if at_least else "<="
    print(f"{benchmark}: measured {measured}; baseline {baseline}")
    print(
        f"  ratio {ratio.text(digits=3)}x, target {sign} {target:g}x: {'met' if met else 'MISSED'}"
    )
    print(f"  includes: {included}")
    line = {
        "benchmark": benchmark,
        "measured": measured,
        "baseline": baseline,
        "ratio": round(ratio.median, 4),
        "ratio_low": round(ratio.low, 4),
        "ratio_high": round(ratio.high, 4),
        "target": f"{sign} {target:g}x",
        "met": met,
        "included": included,
    }
    print(RESULT_PREFIX + json.dumps(line), flush=True)
    return met


def absolute(
    benchmark: str, value: float, unit: str, limit: float, *, at_most: bool, included: str
) -> bool:
    """Print the verdict and the result line for a target on an absolute value (no baseline to
    divide by, e.g. CPU time per test); return whether it was met."""
    met = value <= limit if at_most else value >= limit
    sign = "<=" if at_most else ">="
    print(
        f"{benchmark}: {value:.4g} {unit}, target {sign} {limit:g} {unit}: "
        f"{'met' if met else 'MISSED'}"
    )
    print(f"  includes: {included}")
    line = {
        "benchmark": benchmark,
        "measured": f"{value:.4g} {unit}",
        "baseline": "",
        "ratio": None,
        "target": f"{sign} {limit:g} {unit}",
        "met": met,
        "included": included,
    }
    print(RESULT_PREFIX + json.dumps(line), flush=True)
    return met


def exit_status(met: Sequence[bool]) -> int:
    """0 when every target was met, 1 otherwise."""
    return 0 if all(met) else 1


class Report:
    """Collects the targets a benchmark missed (older form: one printed line per target)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.missed: list[str] = []

    def target(self, label: str, value: float, limit: float, *, at_most: bool) -> None:
        ok = value <= limit if at_most else value >= limit
        sign = "<=" if at_most else ">="
        print(f"  {label}: {value:.3f} (target {sign} {limit}) {'ok' if ok else 'MISSED'}")
        line = {
            "benchmark": f"{self.name}: {label}",
            "measured": f"{value:.4g}",
            "baseline": "",
            "ratio": None,
            "target": f"{sign} {limit:g}",
            "met": ok,
            "included": "",
        }
        print(RESULT_PREFIX + json.dumps(line), flush=True)
        if not ok:
            self.missed.append(label)

    def exit_status(self) -> int:
        if self.missed:
            print(f"MISSED: {', '.join(self.missed)}")
            return 1
        print(f"all {self.name} targets met")
        return 0
