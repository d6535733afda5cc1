"""`benchtest run --resume RUN.h5`: a nightly run killed part-way is continued, not repeated.

A plan runs on the simulated bench three times: once uninterrupted, once killed with SIGKILL
(the whole process group, simulators included) while its fourth test waits at a gate, and
once resumed from the killed file. The resumed record must equal the uninterrupted one in
every test, outcome, measurement and waveform, apart from the timestamps; the tests that
finished before the kill must not run again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchtest.results import Run, open_run
from benchtest.run.resume import ResumeError, TestProgress, read_resume_point

REPO = Path(__file__).resolve().parent.parent
DUT = REPO / "dut_profiles" / "bt_ldo33.yaml"

# Values come from the simulated SMU's voltage readback (exact), the test's parameters and a
# waveform the plan builds: the same in every run, so two records can be compared value by
# value. Every test notes that it ran; the fourth waits at a gate when one is set; the last
# is out of limits, so the run fails (exit status 1).
PLAN = """
import os, pathlib, time
import numpy as np
import pytest
from benchtest import Waveform

LOG = pathlib.Path(os.environ["RESUME_LOG"])
GATE = os.environ.get("RESUME_GATE")


def _ran(name):
    with LOG.open("a") as log:
        log.write(name + "\\n")


@pytest.mark.requires("smu")
@pytest.mark.parametrize("step", range(6))
def test_vin(step, smu, measure):
    _ran(f"test_vin[{step}]")
    if GATE and step == 3:
        pathlib.Path(GATE).touch()
        time.sleep(120)  # killed here
    smu.source_voltage(3.25 + 0.02 * step if step < 5 else 3.4, current_limit=0.01)
    smu.output_on()
    measure("vout", smu.measure_voltage())
    samples = (np.arange(64, dtype=np.int16) * (step + 1)) % 200
    measure.waveform("ramp", Waveform(samples, dt=1e-6, scale=0.01, unit="V", channel="CH1"))


def test_skipped_on_purpose():
    _ran("test_skipped_on_purpose")
    pytest.skip("no chamber on this bench")
"""


def _command(plan: Path, results: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "benchtest.cli", "run", str(plan), "--sim", "--dut", str(DUT),
        "--results-dir", str(results), "-p", "no:cacheprovider", "-q", *extra,
    ]  # fmt: skip


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def _kill_at_gate(command: list[str], env: dict[str, str], gate: Path) -> None:
    """Run `command` and kill it with SIGKILL, with its simulators (its process group), once
    it has created the file `gate`."""
    night = subprocess.Popen(
        command, cwd=gate.parent, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not gate.exists():
            assert night.poll() is None and time.monotonic() < deadline, "never reached the gate"
            time.sleep(0.05)
    finally:
        os.killpg(night.pid, signal.SIGKILL)
        night.wait()


def _record(run: Run) -> dict[str, Any]:
    """Everything of a run but its timestamps and identity."""
    tests = []
    for test in run.tests:
        m = test.measurements
        tests.append(
            {
                "id": test.id, "attempt": test.attempt, "index": test.index,
                "entry": test.entry, "outcome": test.outcome, "message": test.message,
                "conditions": test.conditions,
                "measurements": [
                    (str(n), float(v), str(u), float(lo), float(hi), str(o))
                    for n, v, u, lo, hi, o in zip(m["name"], m["value"], m["unit"], m["low"],
                                                  m["high"], m["outcome"], strict=True)
                ],
                "waveforms": {k: w.to_waveform().values.tolist()
                              for k, w in test.waveforms.items()},
            }
        )  # fmt: skip
    kept = ("part", "serial_number", "lot", "operator", "outcome", "skipped", "skip_reasons",
            "plans_sha256")  # fmt: skip
    meta = {k: run.metadata.get(k) for k in kept}
    return {"meta": meta, "tests": tests}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX")
def test_a_killed_run_resumed_is_one_complete_run_equal_to_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plans" / "test_night.py"
    plan.parent.mkdir()
    plan.write_text(PLAN, encoding="utf-8")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    env = {**os.environ, "RESUME_LOG": str(tmp_path / "whole.log")}
    # The uninterrupted run goes on beside the nightly run that is killed (each its own files).
    uninterrupted = subprocess.Popen(
        _command(plan, whole, "--serial-number", "SN7"), cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        # The nightly run, killed with SIGKILL while its fourth test waits at the gate.
        gate, log = tmp_path / "gate", tmp_path / "killed.log"
        env = {**os.environ, "RESUME_LOG": str(log), "RESUME_GATE": str(gate)}
        _kill_at_gate(_command(plan, killed, "--serial-number", "SN7", "--lot", "L1"), env, gate)
        output, _ = uninterrupted.communicate(timeout=180)
    finally:
        if uninterrupted.poll() is None:
            os.killpg(uninterrupted.pid, signal.SIGKILL)
            uninterrupted.communicate()
    assert uninterrupted.returncode == 1, output
    (first,) = killed.glob("*.h5")
    with open_run(first) as run:
        assert run.outcome == "incomplete"
        assert [(t.id.split("::")[1], t.outcome) for t in run.tests] == [
            ("test_vin[0]", "passed"), ("test_vin[1]", "passed"), ("test_vin[2]", "passed"),
            ("test_vin[3]", "incomplete"),
        ]  # fmt: skip
        killed_tests = {t.id: (t.start, t.end) for t in run.tests if t.outcome == "passed"}
        killed_id = run.metadata["run_id"]

    # Resumed: the serial number and lot come from the killed file.
    log.write_text("", encoding="utf-8")
    env.pop("RESUME_GATE")
    resumed = _run(_command(plan, killed, "--resume", str(first)), tmp_path, env)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    ran_again = log.read_text(encoding="utf-8").split()
    assert ran_again == [f"test_vin[{k}]" for k in (3, 4, 5)] + ["test_skipped_on_purpose"]

    (final,) = killed.glob("*.h5")  # one record of the run: the killed file is kept aside
    assert final != first
    assert first.with_name(first.name + ".resumed").is_file()
    (reference,) = whole.glob("*.h5")
    with open_run(final) as got, open_run(reference) as want:
        assert not got.problems, got.problems
        expected = _record(want)
        expected["meta"]["lot"] = "L1"
        assert _record(got) == expected
        assert got.metadata["resumed_from"] == first.name
        assert got.metadata["resumed_run_id"] == killed_id
        assert got.metadata["run_id"] != killed_id
        kept = {t.id: (t.start, t.end) for t in got.tests if t.id in killed_tests}
        assert kept == killed_tests  # the finished tests as they were recorded, not run again
        assert got.metadata["end_time"] and got.outcome == "failed"


WRITER = """
import os, sys
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import RunFinished, TestFinished, TestStarted

path, outcome = sys.argv[1], sys.argv[2]
writer = Hdf5RunWriter(path)
writer(run_started())
for test, result in (("p.py::a", "passed"), ("p.py::b", "failed")):
    writer(TestStarted(test, "2026-12-01T20:00:00+00:00", {}))
    writer(TestFinished(test, result, "2026-12-01T20:00:01+00:00", 1.0, ""))
writer(TestStarted("p.py::c", "2026-12-01T20:00:02+00:00", {}))
if outcome == "incomplete":
    writer.commit()
    os._exit(0)  # as if killed: the run never finishes
writer(TestFinished("p.py::c", "passed", "2026-12-01T20:00:03+00:00", 1.0, ""))
writer(RunFinished("2026-12-01T20:00:04+00:00", outcome))
writer.close()
"""


def _killed_file(tmp_path: Path, outcome: str = "incomplete") -> Path:
    """A run file whose writer died in its third test (or that finished with `outcome`)."""
    path = tmp_path / "run.h5"
    subprocess.run([sys.executable, "-c", WRITER, str(path), outcome], check=True, timeout=60)
    return path


def test_a_failed_test_with_retries_left_is_run_again() -> None:
    assert TestProgress(1, "passed").finished(retries=2)
    assert not TestProgress(1, "failed").finished(retries=2)
    assert TestProgress(3, "failed").finished(retries=2)
    assert TestProgress(1, "error").finished(retries=0)
    assert not TestProgress(2, "incomplete").finished(retries=0)


def test_the_resume_point_names_what_finished(tmp_path: Path) -> None:
    point = read_resume_point(_killed_file(tmp_path))
    assert list(point.progress) == ["p.py::a", "p.py::b", "p.py::c"]
    assert point.finished(lambda test: 0) == {"p.py::a", "p.py::b"}
    assert point.finished(lambda test: 1 if test == "p.py::b" else 0) == {"p.py::a"}
    assert point.attributes == {"resumed_from": "run.h5", "resumed_run_id": point.run_id}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _killed_file(p, "passed"), "its run finished (outcome passed)"),
        (lambda p: p / "missing.h5", "no such file"),
        (lambda p: (p / "x.h5").write_bytes(b"not hdf5") and p / "x.h5", "x.h5"),
    ],
)
def test_a_file_that_cannot_be_resumed_gets_one_clear_error(
    tmp_path: Path, make: Any, message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ResumeError, match=f"cannot resume {path}") as caught:
        read_resume_point(path)
    assert message in str(caught.value)


def test_resume_of_a_finished_run_stops_before_any_test(tmp_path: Path) -> None:
    path = _killed_file(tmp_path, "passed")
    plan = tmp_path / "test_plan.py"
    plan.write_text(PLAN, encoding="utf-8")
    env = {**os.environ, "RESUME_LOG": str(tmp_path / "log")}
    done = _run(_command(plan, tmp_path, "--resume", str(path)), tmp_path, env)
    assert done.returncode != 0
    assert f"cannot resume {path}: its run finished (outcome passed)" in done.stderr
    assert not (tmp_path / "log").exists()  # no test ran
    assert sorted(p.name for p in tmp_path.glob("*.h5")) == ["run.h5"]


# Every test finishes; the run is killed after the last one is recorded, before the run ends.
LAST_PLAN = """
import pytest


@pytest.mark.parametrize("step", range(2))
def test_step(step, smu, measure):
    smu.source_voltage(3.28 + 0.02 * step, current_limit=0.01)
    smu.output_on()
    measure("vout", smu.measure_voltage())
"""


LAST_CONFTEST = """
import os, pathlib, time


def pytest_runtest_logfinish(nodeid, location):
    gate = os.environ.get("RESUME_GATE")
    if gate and nodeid.endswith("test_step[1]"):  # recorded in the run file by now
        pathlib.Path(gate).touch()
        time.sleep(120)  # killed here
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX")
def test_a_run_killed_after_its_last_test_is_completed_without_running_a_test(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "test_last.py"
    plan.write_text(LAST_PLAN, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(LAST_CONFTEST, encoding="utf-8")
    results, gate = tmp_path / "results", tmp_path / "gate"
    env = {**os.environ, "RESUME_GATE": str(gate)}
    _kill_at_gate(_command(plan, results, "--serial-number", "SN3"), env, gate)
    (killed,) = results.glob("*.h5")
    env.pop("RESUME_GATE")
    done = _run(_command(plan, results, "--resume", str(killed)), tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 deselected" in done.stdout
    (final,) = results.glob("*.h5")
    with open_run(final) as run:
        assert run.outcome == "passed" and not run.problems
        assert [(t.id.split("::")[1], t.outcome) for t in run.tests] == [
            ("test_step[0]", "passed"), ("test_step[1]", "passed"),
        ]  # fmt: skip
        assert run.metadata["resumed_from"] == killed.name
        assert run.metadata["serial_number"] == "SN3"
