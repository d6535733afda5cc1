"""Crash safety: a writer killed with SIGKILL keeps every test it had finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.storage.example import startup_waveform

POINTS = 200_000

WRITER = f"""
import sys
from pathlib import Path
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import events_of_test, run_started

writer = Hdf5RunWriter(Path(sys.argv[1]))
writer(run_started())
for i in range(1, 1000):
    for event in events_of_test(f"plan.py::test_{{i}}", "passed", points={POINTS}):
        writer(event)
    print(i, flush=True)  # after TestFinished returned, i.e. after its commit
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize(("committed", "delay_s"), [(1, 0.0), (2, 0.007), (4, 0.019)])
def test_sigkill_loses_no_committed_test(tmp_path: Path, committed: int, delay_s: float) -> None:
    path = tmp_path / "killed.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    child = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE)
    assert child.stdout is not None
    try:
        for _ in range(committed):
            line = child.stdout.readline()
            assert line, "writer died before committing"
        time.sleep(delay_s)  # land somewhere inside the next test
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL

    expected = startup_waveform(POINTS)
    with open_run(path) as run:
        assert run.outcome == "incomplete"
        ids = [t.id for t in run.tests]
        assert ids[:committed] == [f"plan.py::test_{i}" for i in range(1, committed + 1)]
        for test in run.tests:
            if test.outcome == "incomplete":
                continue
            assert test.outcome == "passed"
            assert test.measurements["name"].tolist() == ["iq", "dropout"]
            np.testing.assert_array_equal(
                test.waveforms["vout_startup"].codes[...], expected.samples
            )
        assert sum(t.outcome == "passed" for t in run.tests) >= committed
