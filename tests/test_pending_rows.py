"""Instrument and safe-state rows wait for the next commit and are appended together.

They are committed with the test that made them: a run killed right after a test's commit
has them all, in order; rows recorded after the last commit are written when the file closes,
and noted in the journal when the writer stopped before it could append them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py

from benchtest.results import open_run
from benchtest.runfile.commit_log import LoggedReader, read_log
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import InstrumentIdentified, RunFinished, SafeStateApplied
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started

T = "2026-11-28T15:43:00+00:00"

CHILD = """
import os, sys
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import (InstrumentIdentified, SafeStateApplied, TestFinished,
                                     TestStarted)
T = "2026-11-28T15:43:00+00:00"
writer = Hdf5RunWriter(sys.argv[1])
writer(run_started())
writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::h::5025::SOCKET", "KEITHLEY,2450"))
for i in range(3):
    writer(TestStarted(f"plan.py::test_{i}", T))
    for role in ("smu", "psu", "scope"):
        writer(SafeStateApplied(role, True, T, f"after test {i}"))
    writer(TestFinished(f"plan.py::test_{i}", "passed", T, 0.1))
writer(SafeStateApplied("smu", True, T, "never committed"))
os._exit(0)  # killed right after the third test's commit
"""


def test_rows_are_committed_with_their_test(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, timeout=60)
    # as readers see a killed file: with its commit log applied (the last commits may be
    # only in the log, see docs/results-format.md)
    with h5py.File(LoggedReader(path, read_log(path)), "r") as f:
        log = f["run_info/safe_state_log"][...]
        instruments = f["run_info/instruments"][...]
    messages = [m.decode() for m in log["message"]]
    assert messages == [f"after test {i}" for i in range(3) for _ in range(3)]
    assert [r.decode() for r in log["role"]] == ["smu", "psu", "scope"] * 3
    assert [r.decode() for r in instruments["role"]] == ["smu"]
    with open_run(path) as run:
        assert [t.outcome for t in run.tests] == ["passed"] * 3


def test_rows_after_the_last_commit_are_written_at_close(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(Started("plan.py::test_a", T))
        writer(Finished("plan.py::test_a", "passed", T, 0.1))
        writer(SafeStateApplied("smu", False, T, "timeout after 2 s"))  # at session end
        writer(InstrumentIdentified("psu", "rigol.dp800", "TCPIP::h::5555::SOCKET", "RIGOL"))
        writer(RunFinished(T, "passed"))
    with h5py.File(path, "r") as f:
        log = f["run_info/safe_state_log"][...]
        assert [(r.decode(), bool(ok)) for r, ok in zip(log["role"], log["ok"], strict=True)] == [
            ("smu", False)
        ]
        assert [r.decode() for r in f["run_info/instruments"]["role"]] == ["psu"]
