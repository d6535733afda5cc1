"""Every benchmark still runs: each `benchmarks/bench_*.py --quick` in its own process runs to
the end and prints its result line (whether it meets its target at quick sizes says nothing
about speed, so the exit status may be 0 or 1). Also the shared helpers in `targets.py` and the
table of `run_all.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))
HANG_GUARD = 120.0  # s: only stops a hung benchmark, far above a quick run on a busy machine


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=BENCHMARKS, capture_output=True, text=True, timeout=HANG_GUARD
    )


def _why_not_ready(script: Path) -> str | None:
    """Why `script` cannot be checked yet (it does not follow the convention), or None."""
    text = script.read_text(encoding="utf-8")
    if "--quick" not in text and "targets.arguments" not in text:
        return f"{script.name} does not accept --quick yet"
    if "targets" not in text:
        return f"{script.name} does not print the RESULT line of benchmarks/targets.py yet"
    return None


@pytest.fixture
def targets(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import targets as module

    yield module


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 8, [s.name for s in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_benchmark_runs_quick(script: Path) -> None:
    reason = _why_not_ready(script)
    if reason:
        pytest.skip(reason)
    done = _run(script.name, "--quick")
    output = f"{script.name} --quick, exit {done.returncode}:\n"
    output += f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.returncode in (0, 1), output
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, output
    for line in results:
        fields = json.loads(line.removeprefix("RESULT "))
        assert {"benchmark", "measured", "baseline", "ratio", "target", "met"} <= fields.keys()
        assert isinstance(fields["met"], bool)
    if done.returncode == 1:  # a missed target must show in a result line
        assert any(not json.loads(line.removeprefix("RESULT "))["met"] for line in results), output


def test_interleaved_alternates_which_goes_first(targets: ModuleType) -> None:
    calls: list[str] = []

    def sample(name: str, seconds: float) -> float:
        calls.append(name)
        return seconds

    pairs = targets.interleaved(lambda: sample("b", 2.0), lambda: sample("m", 1.0), 3, warmup=1)
    assert calls == ["b", "m", "b", "m", "m", "b", "b", "m"]
    assert pairs.baseline == [2.0] * 3 and pairs.measured == [1.0] * 3
    assert pairs.ratios(throughput=True) == [2.0] * 3
    assert pairs.ratios(throughput=False) == [0.5] * 3


def test_summary_and_result_line(targets: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    ratio = targets.summarize([3.0, 1.0, 2.0, 10.0])
    assert (ratio.median, ratio.low, ratio.high, ratio.count) == (2.5, 1.0, 10.0, 4)
    with pytest.raises(ValueError, match="no samples"):
        targets.summarize([])
    met = targets.result("x", "1 ms", "2 ms", ratio, 3.0, at_least=True, included="all of it")
    line = capsys.readouterr().out.splitlines()[-1]
    fields = json.loads(line.removeprefix(targets.RESULT_PREFIX))
    assert met is False and fields["met"] is False
    assert fields["ratio"] == 2.5 and fields["target"] == ">= 3x"
    assert targets.exit_status([True, met]) == 1 and targets.exit_status([True]) == 0


def test_run_all_table(targets: ModuleType) -> None:
    import run_all

    line = {
        "benchmark": "b",
        "measured": "1",
        "baseline": "2",
        "ratio": 0.5,
        "target": ">= 1x",
        "met": False,
    }
    results = run_all.results_of("noise\nRESULT " + json.dumps(line) + "\n")
    assert results == [line]
    table = run_all.table(
        [
            run_all.Outcome("bench_a.py", 1, 1.0, results),
            run_all.Outcome("bench_b.py", 2, 1.0, [], "Traceback"),
        ]
    )
    assert "| b | 1 | 2 | 0.5x | >= 1x | no |" in table
    assert "| bench_b.py | failed (2) |  |  |  | no |" in table


def test_run_all_runs_a_benchmark() -> None:
    done = _run("run_all.py", "--quick", "--only", "smu_sweep")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "| smu_sweep: buffered sweep vs point by point (speed-up) |" in done.stdout, done.stdout
