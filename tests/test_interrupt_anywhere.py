"""A run stopped at any moment ends cleanly: Ctrl-C or SIGTERM at any line, or kill -9.

`interrupted_runs.py` runs `benchtest run` on a three-test plan against the simulated bench
(instant timing), each run forked from one warmed-up process. A run with no signal first notes
how many lines benchtest's code runs and where each phase begins (start-up, run file created,
instrument opened, measurement, test stored, safe state, session close, run file sealed, and
where the run file writer records an instrument, a test start or a safe state, which a stop
waits for); the signal is then raised at lines spread over the whole run and at the start of
each phase.

Ctrl-C and SIGTERM: the run ends as interrupted (exit status 2, pytest's, or 130 when the
signal lands outside pytest's session) with no traceback but the KeyboardInterrupt's; its run
file opens with `open_run`, undamaged, holding every test that finished before the signal
once; it leaves no thread, process or temporary file; every simulated output ends off.

kill -9: whatever the moment, every run file in the results folder opens with `open_run`, each
test once, and renders with `benchtest report` (a run killed while its file was being sealed
reads as damaged, and says so: its seal cannot vouch for it); a simulator the run started ends
on its own; a later run into the same folder passes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchtest.cli.commands import main
from benchtest.results import Catalog, open_run

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forks its runs (POSIX)")

SERVER = Path(__file__).with_name("interrupted_runs.py")
TESTS = [
    "test_plan.py::test_sources_with_two_instruments",
    "test_plan.py::test_measures",
    "test_plan.py::test_leaves_the_output_on",
]
INTERRUPTED = (int(pytest.ExitCode.INTERRUPTED), 130)
# What a run's terminal output may hold about the interrupt, and what it must not hold.
TROUBLE = re.compile(r"Traceback|Exception ignored|INTERNALERROR|Error\b|error:")
UNIFORM = 5  # lines spread evenly over the run, besides those at the start of each phase


class BenchRuns:
    """The server process of `interrupted_runs.py`: runs specs, returns their records."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._expect("READY")
        self.calibration = self.run(["0"])[0]

    def run(self, specs: list[str]) -> list[dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(" ".join(specs) + "\n")
        self.process.stdin.flush()
        records = [json.loads(self._line()) for _ in specs]
        self._expect("END")
        return records

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(60)
            assert self.process.stderr is not None
            raise AssertionError(f"the run server ended: {self.process.stderr.read()[-3000:]}")
        return line

    def _expect(self, word: str) -> None:
        line = self._line()
        assert line.strip() == word, line

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()


@pytest.fixture(scope="module")
def bench_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchRuns]:
    """One server for the module; its runs' locks and temporary files under pytest's tmp."""
    env = {
        **os.environ,
        "BENCHTEST_LOCK_DIR": str(tmp_path_factory.mktemp("locks")),
        "TMPDIR": str(tmp_path_factory.mktemp("tmp")),
    }
    runs = BenchRuns(tmp_path_factory.mktemp("runs"), env)
    try:
        calibration = runs.calibration
        assert calibration["status"] == 0, calibration["output"]
        assert calibration["finished"] == TESTS, calibration["output"]
        yield runs
    finally:
        runs.close()


def phase_points(phases: dict[str, list[int]]) -> dict[str, str]:
    """Specs that stop a run where each phase begins (its first line, the first time) and,
    for a phase that comes again, a little after it begins the last time; with the phase
    they fall in."""
    points = {}
    for phase, calls in phases.items():
        name = phase.replace(" ", "-")
        points[f"1@{name}"] = phase
        if len(calls) > 1:
            points[f"3@{name}#{len(calls)}"] = phase
    return points


def spread(first: int, last: int, count: int) -> list[int]:
    return [first + (last - first) * k // count for k in range(count)]


def assert_ended_cleanly(record: dict[str, Any]) -> None:
    """A run stopped by Ctrl-C or SIGTERM (or not at all, when the line was past its end)."""
    where = f"{record['spec']} (landed at {record['landed'] or 'no line'})"
    output = record["output"]
    assert not record["escaped"], f"{where}: {record['escaped']}"
    if record["landed"]:
        assert record["status"] in INTERRUPTED, f"{where}: exit status {record['status']}\n{output}"
    else:
        assert record["status"] == 0, f"{where}: exit status {record['status']}\n{output}"
    trouble = [line for line in output.splitlines() if TROUBLE.search(line)]
    assert not trouble, f"{where}: {trouble}\n{output}"
    assert record["threads"] == [], f"{where}: threads left running {record['threads']}"
    assert record["processes"] == 0, f"{where}: a child process left running"
    for role, states in record["outputs"].items():
        assert not states or states[-1] is False, f"{where}: {role} output {states}"
    folder = Path(record["folder"])
    left = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert not left, f"{where}: left {left}"  # a creating file, a commit log
    files = list(folder.glob("*.h5"))
    assert len(files) <= 1, files
    if not files:  # stopped before its run file was created
        assert record["finished"] == [], f"{where}: no run file"
        return
    with open_run(files[0]) as run:
        assert not run.damaged, f"{where}: {run.damage}"
        ids = [test.id for test in run.tests]
        assert len(ids) == len(set(ids)), f"{where}: a test stored twice: {ids}"
        outcomes = {test.id: test.outcome for test in run.tests}
        for test_id in record["finished"]:
            assert outcomes.get(test_id) == "passed", f"{where}: {test_id} {outcomes}"
        assert set(ids) <= set(TESTS), ids
        if record["landed"] and len(record["finished"]) < len(TESTS):
            assert run.outcome == "interrupted", f"{where}: {run.outcome}"


def test_ctrl_c_at_any_line_ends_the_run_cleanly(bench_runs: BenchRuns) -> None:
    calibration = bench_runs.calibration
    phases, total = calibration["phases"], calibration["lines"]
    start = phases["session start"][0]
    at = {str(line): "start-up" for line in spread(2, start, 2)}  # 1: `main`'s own `try`
    at.update({str(line): "run" for line in spread(start, total, UNIFORM)})
    at.update(phase_points(phases))
    # Runs differ by some hundred lines (how many journal records wait in the run file's
    # commit log depends on when its background fsync ran): twice the calibration's count is
    # after the end of any run.
    at[str(2 * total)] = "after the run"
    records = bench_runs.run(list(at))
    for record in records:
        assert_ended_cleanly(record)
    landed = {at[record["spec"]] for record in records if record["landed"]}
    assert landed >= {"start-up", "run", *phases}, f"phases never interrupted: {landed}"
    assert not records[-1]["landed"]


def test_sigterm_ends_the_run_cleanly(bench_runs: BenchRuns) -> None:
    """SIGTERM (a CI job cancelled, `kill`) ends a run as Ctrl-C does once the bench session
    has started; before, it ends the process as its default action, with nothing started."""
    specs = ["5@instrument-opened:TERM", "5@safe-state:TERM", "40@session-close:TERM"]
    for record in bench_runs.run(specs):
        assert record["landed"], record["spec"]
        assert_ended_cleanly(record)
        # Once the tests are over (the session closing), the stop is noted, not raised.
        said = "KeyboardInterrupt: signal SIGTERM"
        if "session-close" in record["spec"]:
            said = "benchtest: SIGTERM received as the session ended"
        assert said in record["output"], record["output"]
    (early,) = bench_runs.run(["50:TERM"])  # reading the command line
    assert early["killed_by"] == signal.SIGTERM and not early["group_left"], early
    assert not list(Path(early["folder"]).glob("*.h5"))


def test_ctrl_c_while_the_simulator_starts_or_stops(bench_runs: BenchRuns) -> None:
    """With `--sim` the run starts the simulated bench as a child process: a Ctrl-C while it
    starts or stops still leaves no process and every output off."""
    specs = ["12@simulator-started:sim", "3@simulator-ready:sim", "3@simulator-stopped:sim"]
    for record in bench_runs.run(specs):
        assert record["landed"].startswith("benchtest/sim/process.py"), record["landed"]
        assert_ended_cleanly(record)


def test_kill_at_any_moment_leaves_readable_run_files(
    bench_runs: BenchRuns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phases = bench_runs.calibration["phases"]
    seal = "3@run-file-sealed"  # the file is whole, its seal not: readable, said unsealed
    points = [
        "4@run-file-created",
        "10@test-stored#2",
        f"30@safe-state#{len(phases['safe state'])}",
        "100@run-file-closed",
        seal,
    ]
    kills = [f"{point}:KILL:shared" for point in points]
    # Sent from outside at delays after the fork: in the first milliseconds (the bench
    # starting, the command line read), then anywhere, C code (HDF5, sockets) included: half
    # way through a run as long as the calibration's, so that it lands before the run ends on
    # a fast machine as on a busy one.
    midway = max(20, round(bench_runs.calibration["seconds"] * 1000 / 2))
    kills += [f"t{ms}:KILL:shared" for ms in (1, 20, midway)]
    kills.append("t300:KILL:sim:shared")  # its simulator, a child process, is orphaned
    records = bench_runs.run([*kills, "0:shared"])
    for record in records[:-1]:
        assert record["killed_by"] == signal.SIGKILL, record
        assert not record["group_left"], f"{record['spec']}: its simulator still runs"
        for path in map(Path, record["run_files"]):
            sealing = record["spec"].startswith(seal)
            assert_readable(path, tmp_path, capsys, damaged=False, unsealed=sealing)
    later = records[-1]
    assert later["status"] == 0 and later["finished"] == TESTS, later["output"]
    (path,) = later["run_files"]
    assert_readable(Path(path), tmp_path, capsys, damaged=False)
    results = bench_runs.folder / "shared"
    files = list(results.glob("*.h5"))
    assert len(files) >= len(points), files  # the first kill may land before the file exists
    with Catalog(results) as catalog:  # leftovers of killed runs (commit logs) are no runs
        assert catalog.skipped == [] and len(catalog) == len(files)


def assert_readable(
    path: Path,
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    damaged: bool,
    unsealed: bool = False,
) -> None:
    """`path` opens with its tests each once, and `benchtest report` renders it: as damaged,
    with a line saying why, only when `damaged`; said to be unsealed only when `unsealed`
    (finished, and killed before its seal was written)."""
    with open_run(path) as run:
        assert run.damaged == damaged, (path.name, run.damage)
        assert any(": not sealed: " in p for p in run.problems) == unsealed, run.problems
        ids = [test.id for test in run.tests]
        assert len(ids) == len(set(ids)) and set(ids) <= set(TESTS), ids
    report = folder / f"{path.stem}.html"
    capsys.readouterr()
    status = main(["report", str(path), "-o", str(report)])
    errors = capsys.readouterr().err
    assert status == (1 if damaged else 0), errors
    assert "<html" in report.read_text(encoding="utf-8")
    if damaged:
        assert f"{path} is damaged" in errors, errors
    if unsealed:  # what it holds is used as any killed run's file is
        exported = folder / f"{path.stem}.csv"
        assert main(["export", str(path), "-o", str(exported)]) == 0, capsys.readouterr().err
        assert exported.read_text(encoding="utf-8").count("\n") > 1
        summary = folder / f"{path.stem}-characterised.html"
        status = main(["characterise", str(path), "-o", str(summary)])
        assert status == 0, capsys.readouterr().err
