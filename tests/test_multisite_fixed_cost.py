"""What a multi-site session costs outside its tests: the merged file's summary line read from
its tables, the merge's writer without a journal, and the simulator launched ahead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from test_multisite_merge import _part, _site_run
from test_sim_process import BENCH, DUT, alive

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.plugin.dut_sessions import _summary
from benchtest.results import open_run
from benchtest.run.session import DutSession, LaunchedSimulator, RunInfo
from benchtest.run.site_merge import merge_runs, merged_outcomes
from benchtest.run.tally import describe
from benchtest.runfile import schema
from benchtest.sim import SimulatorProcess
from benchtest.values.errors import ResultFileError, SimulatorError


def test_the_merged_files_line_is_the_one_its_record_gives(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """Read from the header and `summary/tests` alone, the line is what `open_run` gives."""
    parts = [
        _site_run(tmp_path, "A", "U1", failing=True),
        _site_run(tmp_path, "B", "U2", failing=False),
    ]
    merged = merge_runs(parts, tmp_path / "merged.h5")
    with open_run(merged) as run:
        tests = [(t.outcome, t.message) for t in run.tests]
        expected = f"{run.metadata['part']}: {describe(run.outcome, tests)}", run.outcome
    assert expected == ("LDO: failed, 2 skipped: no", "failed")
    part, outcome, found = merged_outcomes(merged)
    assert (part, outcome, found) == ("LDO", "failed", tests)
    assert _summary(pytestconfig, merged) == (*expected, 2)
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"not a run file")
    with pytest.raises(ResultFileError, match=r"damaged\.h5: cannot read the merged run"):
        merged_outcomes(damaged)
    line, outcome, skipped = _summary(pytestconfig, damaged)
    assert line.startswith("cannot be read: ") and (outcome, skipped) == ("error", 0)


def test_the_merges_writer_keeps_no_journal(tmp_path: Path) -> None:
    """Merged (bulk) files carry every test without a journal record; a site's file has them."""
    parts = [_part(tmp_path, "A", "U1"), _part(tmp_path, "B", "U2")]
    merged = merge_runs(parts, tmp_path / "merged.h5")
    for path, journaled in ((parts[0], True), (merged, False)):
        with h5py.File(path, "r") as file:
            journal = file[f"{schema.SUMMARY}/{schema.JOURNAL}"][...].tobytes()
        assert journal.strip(b"\0") != b"" if journaled else journal.strip(b"\0") == b""
    with open_run(merged) as run:
        assert not run.problems and len(run.tests) == 4


KILLED_MERGE = """
import os, sys
from benchtest.run import site_merge
from benchtest.storage import hdf5_writer
from benchtest.values.events import TestFinished
finished = hdf5_writer._HANDLERS[TestFinished]
count = 0
def killed(writer, event):
    global count
    finished(writer, event)
    count += 1
    if count == 3:
        os._exit(9)  # killed half way through the merge
hdf5_writer._HANDLERS[TestFinished] = killed
site_merge.merge_runs(sys.argv[1:-1], sys.argv[-1])
"""


def test_a_killed_merge_leaves_no_file_that_passes_as_complete(tmp_path: Path) -> None:
    parts = [_part(tmp_path, "A", "U1"), _part(tmp_path, "B", "U2")]
    destination = tmp_path / "merged.h5"
    command = [sys.executable, "-c", KILLED_MERGE, *map(str, parts), str(destination)]
    assert subprocess.run(command, check=False, timeout=60).returncode == 9
    with open_run(destination) as run:  # created whole at its start, never finished
        assert run.outcome == schema.INCOMPLETE and run.metadata["outcome"] == "incomplete"
        assert len(run.tests) < 4
    assert all(part.exists() for part in parts)  # the sites' files stay the record


def _session(tmp_path: Path, launched: LaunchedSimulator | None, bench: Bench) -> DutSession:
    info = RunInfo(results_dir=tmp_path / "results")
    return DutSession(bench, DutProfile.load(DUT), info, simulate=True, simulator=launched)


def test_a_session_takes_the_simulator_launched_for_it(tmp_path: Path) -> None:
    bench, dut = Bench.load(BENCH), DutProfile.load(DUT)
    launched = LaunchedSimulator(bench, dut, "")
    pid, folder = launched.process.pid, launched.folder
    session = _session(tmp_path, launched, bench).start()
    try:
        assert session.pool is not None and session.bench.path == bench.path
        assert alive(pid)  # the one launched ahead, serving the session
        assert launched.process.resolved_bench
    finally:
        session.close("passed")
    assert not alive(pid) and not folder.exists()


def test_a_simulator_launched_for_another_bench_is_stopped(tmp_path: Path) -> None:
    bench = Bench.load(BENCH)
    other = LaunchedSimulator(Bench.load(BENCH), DutProfile.load(DUT), "")
    stale = other.process.pid
    session = _session(tmp_path, other, bench).start()
    try:
        assert not alive(stale) and not other.folder.exists()
        assert session.pool is not None
    finally:
        session.close("passed")
    unused = LaunchedSimulator(bench, DutProfile.load(DUT), "")
    pid = unused.process.pid
    _session(tmp_path, unused, bench).close("passed")  # closed before it started
    assert not alive(pid) and not unused.folder.exists()


def test_a_simulator_process_launches_then_waits() -> None:
    sim = SimulatorProcess(DUT, BENCH)
    with pytest.raises(SimulatorError, match="not running"):
        sim.wait_ready()
    sim.launch()
    try:
        with pytest.raises(SimulatorError, match="started already"):
            sim.launch()
        assert not sim.resolved_bench  # not waited for yet
        assert sim.wait_ready().resolved_bench["instruments"]["smu"]["resource"]
        assert sim.wait_ready() is sim
    finally:
        sim.stop()
    assert sim.returncode == 0


def _simulators() -> list[int]:
    """The simulator processes this process has started and that still run."""
    found = []
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline")
            if cmdline.exists() and b"benchtest.sim" in cmdline.read_bytes() and alive(int(pid)):
                found.append(int(pid))
    return found


@pytest.mark.parametrize(("selected", "outcome"), [("test_part", 0), ("nothing", 5)])
def test_the_first_sessions_simulator_starts_with_the_pytest_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, selected: str, outcome: int
) -> None:
    """Launched when the session starts and taken by the DUT session; stopped at the end when
    no test ran."""
    launched: list[LaunchedSimulator] = []
    launch = LaunchedSimulator.__init__

    def counted(self: LaunchedSimulator, *args: object) -> None:
        launch(self, *args)  # type: ignore[arg-type]
        launched.append(self)

    monkeypatch.setattr(LaunchedSimulator, "__init__", counted)
    pytester.makepyfile(test_plan="def test_part(dut):\n    assert dut.name == 'BT-LDO33'\n")
    before = _simulators()
    result = pytester.runpytest_inprocess(
        "--sim", f"--dut={DUT}", "--results-dir", str(pytester.path / "results"),
        "-p", "no:cacheprovider", "-k", selected,
    )  # fmt: skip
    assert result.ret == outcome
    assert len(launched) == 1  # at the session's start: the DUT session took that one
    assert _simulators() == before and not launched[0].folder.exists()
