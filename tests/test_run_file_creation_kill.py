"""A run file is readable from the moment it exists: kill -9 in the first milliseconds.

A server process imports the writer once, then forks one writer per trial and kills it with
SIGKILL at many moments: some counted from the fork (before and while the file is created),
some from the moment the file's name appears. Every run file that exists afterwards must open
with plain h5py and with `open_run`, as a run with no tests that did not finish.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from benchtest.results import Catalog, open_run

TRIALS = 48

SERVER = """
import json, os, signal, sys, time
from pathlib import Path
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import InstrumentIdentified

folder, trials = Path(sys.argv[1]), int(sys.argv[2])
started = run_started()
for trial in range(trials):
    path = folder / f"run{trial:02d}.h5"
    after_appearance = trial % 2 == 1
    step = trial // 2
    delay = (step % 12) * 0.0004 if after_appearance else (step % 24) * 0.0008
    pid = os.fork()
    if pid == 0:  # the writer: create the run file, record an instrument, wait to be killed
        writer = Hdf5RunWriter(path)
        writer(started)
        writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::x", "KEITHLEY,2450"))
        writer.commit()
        time.sleep(60)
        os._exit(0)
    if after_appearance:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            pass
    time.sleep(delay)
    existed = path.exists()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    print(json.dumps({"path": str(path), "after_appearance": after_appearance,
                      "delay": delay, "existed": existed}), flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="POSIX")
def test_a_writer_killed_while_creating_leaves_a_readable_file_or_none(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER, encoding="utf-8")
    folder = tmp_path / "results"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, str(script), str(folder), str(TRIALS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    trials = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(trials) == TRIALS
    before = [t for t in trials if not t["after_appearance"] and not Path(t["path"]).exists()]
    assert before, "no kill landed before the file existed: the delays are too long here"
    for trial in trials:
        path = Path(trial["path"])
        if trial["after_appearance"]:
            assert path.exists(), trial
        if not path.exists():
            continue
        with h5py.File(path, "r") as f:  # plain h5py, no benchtest
            assert f.attrs["outcome"] == "incomplete" and len(f["summary/tests"]) == 0, trial
        with open_run(path) as run:
            assert run.tests == [] and run.outcome == "incomplete", (trial, run.problems)
            assert not run.damaged, (trial, run.damage)
    leftovers = [p.name for p in folder.iterdir() if not p.name.endswith(".h5")]
    # a file being created, or the commit log a killed writer leaves beside its run file
    assert all(
        name.startswith(".") and name.endswith((".creating", ".commit")) for name in leftovers
    )
    with Catalog(folder) as catalog:  # every run file there indexes; leftovers are not runs
        assert catalog.skipped == []
        assert len(catalog) == sum(Path(t["path"]).exists() for t in trials)
