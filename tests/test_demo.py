"""`benchtest demo`: ends with an existing run file and report; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchtest.sim.server.journal import read_values
from benchtest.sim.testing import as_terminal_job

DEMO = [sys.executable, "-m", "benchtest.cli", "demo"]


def test_demo_prints_existing_run_file_and_report(
    demo_run: subprocess.CompletedProcess[str],
) -> None:
    done = demo_run  # `DEMO --results-dir RESULTS`, shared with the viewer's test of its run
    assert done.args[: len(DEMO)] == DEMO
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    run_file = Path(lines[-2].removeprefix("Run file:").strip())
    report = Path(lines[-1].removeprefix("Report:").strip())
    assert run_file.suffix == ".h5" and run_file.is_file()
    assert report.suffix == ".html" and report.is_file()
    assert "BT-LDO33" in report.read_text(encoding="utf-8")


def _smu_output_events(path: Path) -> list[bool]:
    return [bool(value) for value in read_values(path, "smu", "output")]


def test_ctrl_c_leaves_no_simulator_and_the_smu_output_off(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    env = {**os.environ, "BENCHTEST_SIM_JOURNAL": str(journal)}
    demo = subprocess.Popen(
        [*DEMO, "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=as_terminal_job,
    )
    try:
        deadline = time.monotonic() + 60
        while True not in _smu_output_events(journal):
            assert demo.poll() is None, "demo ended before the SMU output was switched on"
            assert time.monotonic() < deadline, "the SMU output was never switched on"
            time.sleep(0.005)
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        assert demo.stdout is not None
        output = demo.stdout.read().decode(errors="replace")
        demo.stdout.close()
    assert demo.returncode == 130, output
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.killpg(demo.pid, 0)  # no process of the demo's group is left, simulator included
    assert _smu_output_events(journal)[-1] is False, output
