"""Crash safety: a writer killed with SIGKILL at a random moment keeps every finished test.

The child writes a realistic run (instruments, tests with measurements, some with waveforms,
the end of the run with its entry building) and, after each TestFinished returns, appends the
test id to a side file that it fsyncs. The parent kills it after a random delay and checks that
every test named in the side file reads back exactly, and that the report still renders.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchtest.report.html import render_report
from benchtest.results import open_run

TESTS = 60
POINTS = 20_000
TRIALS = 8

CHILD = f"""
import os, sys
import numpy as np
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.events import (
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.waveform import Waveform
import benchtest.storage.hdf5_writer as hdf5_writer

hdf5_writer.BATCH_TESTS = 16  # kills land in table appends too, not only in journal records
writer = Hdf5RunWriter(sys.argv[1])
side = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
writer(run_started())
writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::x", "KEITHLEY,2450"))
print("started", flush=True)
for i in range({TESTS}):
    tid = f"plan.py::test_{{i}}[{{i % 3}}]"
    writer(TestStarted(tid, "2026-11-28T15:43:00+00:00", {{"i": i}}))
    for j in range(1 + i % 4):
        m = Measurement.judge(f"p{{j}}", i + j / 8, "V", Limits(None, 50.0, "V"))
        writer(MeasurementRecorded(tid, m))
    if i % 3 == 0:
        codes = np.random.default_rng(i).integers(-2000, 2000, {POINTS}).astype(np.int16)
        writer(WaveformRecorded(tid, "vout", Waveform(codes, dt=1e-6, scale=1e-3)))
    writer(TestFinished(tid, "passed" if i < 50 else "failed", "2026-11-28T15:43:01+00:00", 0.1))
    os.write(side, (tid + "\\n").encode())
    os.fsync(side)
writer(RunFinished("2026-11-28T15:44:00+00:00", "failed"))
print("finished", flush=True)
"""


def _run_and_kill(tmp_path: Path, delay_s: float) -> tuple[Path, list[str], bool]:
    path, side, script = tmp_path / "run.h5", tmp_path / "done.txt", tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), str(side)], stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == b"started\n", "the writer died before its first test"
        time.sleep(delay_s)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finished = child.stdout.read() == b"finished\n"
    done = side.read_text().splitlines() if side.exists() else []
    return path, done, finished


def _check_test(record: object, test_id: str) -> None:
    i = int(test_id.split("_")[1].split("[")[0])
    assert record.outcome == ("passed" if i < 50 else "failed")  # type: ignore[attr-defined]
    m = record.measurements  # type: ignore[attr-defined]
    assert m["name"].tolist() == [f"p{j}" for j in range(1 + i % 4)]
    assert m["value"].tolist() == [i + j / 8 for j in range(1 + i % 4)]
    assert record.conditions == {"i": i}  # type: ignore[attr-defined]
    if i % 3 == 0:
        expected = np.random.default_rng(i).integers(-2000, 2000, POINTS).astype(np.int16)
        wf = record.waveforms["vout"]  # type: ignore[attr-defined]
        np.testing.assert_array_equal(wf.codes[...], expected)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_a_random_moment_loses_no_finished_test(tmp_path: Path, trial: int) -> None:
    delay_s = random.Random(trial).uniform(0.0, 0.12)
    path, done, finished = _run_and_kill(tmp_path, delay_s)
    with open_run(path) as run:
        by_id = {t.id: t for t in run.tests}
        for test_id in done:
            assert test_id in by_id, f"finished test {test_id} lost (killed after {delay_s:.3f} s)"
            _check_test(by_id[test_id], test_id)
        unfinished = [t for t in run.tests if t.id not in done]
        assert len(unfinished) <= 1  # the test cut short (or committed just before the kill)
        assert all(t.outcome in ("incomplete", "passed", "failed") for t in unfinished)
        assert run.outcome == ("failed" if finished else run.outcome)
        assert "<html" in render_report(run)
