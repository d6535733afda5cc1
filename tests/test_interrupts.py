"""Interrupts of a real plan run: Ctrl-C, SIGTERM or SIGHUP while a query waits for its reply,
and a second Ctrl-C while the bench is being made safe.

Each test runs `pytest --sim` in a subprocess on a simulated bench whose SMU holds one reply
back (`fault=late`), waits until the simulator's journal shows that the reply is being held
(the run is then blocked in that query: no fixed sleep), sends the signal, and then proves
from the run file (`open_run`) and the journal that the SMU ended with its output off and its
level at 0, that safe state was recorded ok, and that the run is recorded as interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchtest.results import open_run
from benchtest.sim.server.journal import read_values
from benchtest.sim.testing import as_terminal_job, wait_until

REPO = Path(__file__).resolve().parents[1]
START = 60.0  # s: the most a subprocess may take to start its simulated bench and get there
MEASURING_PLAN = """
def test_reads_with_the_output_on(smu):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
    smu.measure_current()  # its reply is held back: the run waits here
"""
WAITING_PLAN = """
import pathlib, time

def test_waits_with_the_output_on(smu):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
    pathlib.Path("output_on").write_text("on", encoding="utf-8")
    time.sleep(600)
"""


def bench_file(folder: Path, held: str, timeout: float) -> Path:
    """The default simulated bench, its SMU holding back the first reply to `held`."""
    text = (REPO / "benches" / "sim.yaml").read_text(encoding="utf-8")
    original = "resource: sim://smu\n    options: {timeout: 5.0}"
    assert original in text
    late = (
        f"resource: sim://smu?fault=late&match={held}&delay=600\n"
        f"    options: {{timeout: {timeout}}}"
    )
    path = folder / "bench.yaml"
    path.write_text(text.replace(original, late), encoding="utf-8")
    return path


def start_run(folder: Path, plan: str, held: str, *, timeout: float = 5.0) -> subprocess.Popen[str]:
    (folder / "test_plan.py").write_text(plan, encoding="utf-8")
    profile = (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
    (folder / "ldo.yaml").write_text(profile, encoding="utf-8")
    command = [
        sys.executable, "-m", "pytest", "test_plan.py", "--sim",
        "--bench", str(bench_file(folder, held, timeout)), "--dut", "ldo.yaml",
        "--results-dir", "results", "-p", "no:cacheprovider", "-q",
    ]  # fmt: skip
    env = {**os.environ, "BENCHTEST_SIM_JOURNAL": str(folder / "journal.jsonl")}
    return subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=as_terminal_job,
    )


def send(run: subprocess.Popen[str], signum: signal.Signals) -> None:
    """`signum` as it arrives: Ctrl-C and a closed terminal (SIGINT, SIGHUP) reach the whole
    foreground process group (the run and its simulated bench), `kill` (SIGTERM) the run."""
    if signum == signal.SIGTERM:
        run.send_signal(signum)
    else:
        os.killpg(run.pid, signum)


def journal(folder: Path, event: str) -> list[Any]:
    return read_values(folder / "journal.jsonl", "smu", event)


def held_back(folder: Path, count: int = 1) -> bool:
    """Whether the SMU simulator holds back its `count`-th late reply now."""
    return len(journal(folder, "fault")) >= count


def finish(run: subprocess.Popen[str]) -> str:
    output, _ = run.communicate(timeout=START)
    return output


def assert_safe_and_interrupted(folder: Path, output: str) -> None:
    assert journal(folder, "output")[-1] is False, output
    assert journal(folder, "voltage")[-1] == 0.0, output
    (path,) = (folder / "results").glob("*.h5")
    run = open_run(path)
    try:
        assert run.outcome == "interrupted", output
        log = run.safe_state_log
        rows = [row for row in log if row["role"] in ("smu", b"smu")]
        assert rows and all(bool(row["ok"]) for row in rows), (rows, output)
    finally:
        run.close()


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_an_interrupt_during_a_query_still_leaves_the_bench_safe(
    tmp_path: Path, signum: signal.Signals
) -> None:
    run = start_run(tmp_path, MEASURING_PLAN, ":READ?")
    try:
        wait_until(lambda: held_back(tmp_path) or run.poll() is not None, timeout=START)
        assert run.poll() is None, finish(run)
        assert journal(tmp_path, "output")[-1] is True
        send(run, signum)
        output = finish(run)
    finally:
        run.kill()
        run.wait()
    assert_safe_and_interrupted(tmp_path, output)


def test_a_second_ctrl_c_during_safe_state_is_still_an_interrupted_run(tmp_path: Path) -> None:
    # Safe state reads the source function: that reply is held back, so the second Ctrl-C
    # arrives while the bench is being made safe.
    run = start_run(tmp_path, WAITING_PLAN, ":SOURce:FUNCtion?", timeout=2.0)
    try:
        marker = tmp_path / "output_on"
        wait_until(lambda: marker.exists() or run.poll() is not None, timeout=START)
        assert run.poll() is None, finish(run)
        send(run, signal.SIGINT)
        wait_until(lambda: held_back(tmp_path) or run.poll() is not None, timeout=START)
        assert run.poll() is None, finish(run)
        send(run, signal.SIGINT)
        output = finish(run)
    finally:
        run.kill()
        run.wait()
    assert_safe_and_interrupted(tmp_path, output)


PASSING_PLAN = """
def test_sources_with_the_output_on(smu):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
"""


def test_a_ctrl_c_during_the_last_safe_state_is_an_interrupted_run(tmp_path: Path) -> None:
    # The test passes and its teardown makes the SMU safe (one source-function query); the
    # second query, when the session closes, is held back: Ctrl-C lands in that safe state.
    bench = start_run(tmp_path, PASSING_PLAN, ":SOURce:FUNCtion?&after=1", timeout=2.0)
    try:
        wait_until(lambda: held_back(tmp_path) or bench.poll() is not None, timeout=START)
        assert bench.poll() is None, finish(bench)
        send(bench, signal.SIGINT)
        output = finish(bench)
    finally:
        bench.kill()
        bench.wait()
    assert_safe_and_interrupted(tmp_path, output)


SWALLOWING_PLAN = """
import os, signal, time

class Stopper:
    def __del__(self):  # the signal lands here: Python only prints "Exception ignored in"
        os.kill(os.getpid(), signal.{name})
        time.sleep(1)

def test_sources_and_drops_an_interrupt(smu):
    smu.source_voltage(3.0, current_limit=0.01)
    smu.output_on()
    Stopper()

def test_never_runs(smu):
    open("second_test_ran", "w").close()
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_an_interrupt_python_swallowed_still_stops_the_run(tmp_path: Path, name: str) -> None:
    """Ctrl-C or SIGTERM that arrives in a `__del__` or weakref callback (pytest-qt's set-up
    makes some) raises its KeyboardInterrupt there, where Python drops it; the run must still
    stop as interrupted at that test, the bench safe."""
    run = start_run(tmp_path, SWALLOWING_PLAN.format(name=name), "no-reply-held")
    try:
        output = finish(run)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output
    assert not (tmp_path / "second_test_ran").exists(), output
    assert_safe_and_interrupted(tmp_path, output)
