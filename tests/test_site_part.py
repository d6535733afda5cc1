"""A site's run file read for the merge from its tables: the same run as `open_run` reads, for a
file its writer closed cleanly; any other file is read by `open_run` itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from test_multisite_merge import _part, _site_run

from benchtest.results import open_run
from benchtest.results.run import Run
from benchtest.run.site_part import read_site_part
from benchtest.values.errors import ResultFileError


def _shape(run: Run) -> list[Any]:
    """Everything of `run` the merge reads, as plain values (rows as text: NaN limits)."""
    tests = [
        (
            t.id, t.entry, t.outcome, t.message, t.start, t.end, repr(t.duration), t.conditions,
            t.index, t.attempt, repr(np.asarray(t.measurements).tolist()),
            [(k, w.group.name, len(w), w.values().tolist()) for k, w in t.waveforms.items()],
            [(k, s.x.values[...].tolist(), s.y.values[...].tolist()) for k, s in t.sweeps.items()],
            sorted(t.families),
        )
        for t in run.tests
    ]  # fmt: skip
    return [
        run.metadata, run.problems, run.damage, run.bench_file, run.dut_profile,
        run.plans_manifest, run.instruments.tolist(), run.safe_state_log.tolist(), tests,
        repr(np.asarray(run.measurements).tolist()),
    ]  # fmt: skip


def test_a_cleanly_closed_site_file_reads_as_open_run_reads_it(tmp_path: Path) -> None:
    path = _site_run(tmp_path, "A", "U1", failing=True)  # a waveform, a sweep, a skipped test
    with open_run(path) as expected, read_site_part(path) as run:
        assert type(run) is not Run  # read from the tables
        assert _shape(run) == _shape(expected)
        assert [len(t.sweeps) for t in run.tests] == [1, 0]


KILLED_WRITER = """
import os, sys
from test_multisite_merge import PLAN, _site_start
from benchtest.storage.hdf5_writer import Hdf5RunWriter
from benchtest.values.events import TestFinished, TestStarted
writer = Hdf5RunWriter(sys.argv[1], sync="always")
for event in _site_start("A", "U1"):
    writer.handle(event)
writer.handle(TestStarted(PLAN, "2026-11-28T10:00:05+00:00", {"site": "A"}))
writer.handle(TestFinished(PLAN, "passed", "2026-11-28T10:00:06+00:00", 1.0))
writer.handle(TestStarted("plan.py::test_cut", "2026-11-28T10:00:07+00:00", {"site": "A"}))
writer.commit()
os._exit(0)  # killed: never closed
"""


def test_a_file_whose_writer_was_killed_is_read_by_open_run(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    tests = Path(__file__).parent
    subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path)], check=True, cwd=tests, timeout=60
    )
    with open_run(path) as expected, read_site_part(path) as run:
        assert type(run) is Run
        assert _shape(run) == _shape(expected)
        assert [t.outcome for t in run.tests] == ["passed", "incomplete"]


def test_a_test_stored_unfinished_at_close_reads_as_open_run_reads_it(tmp_path: Path) -> None:
    path = _part(tmp_path, "A", "U1")  # its second test never finished: stored incomplete
    with open_run(path) as expected, read_site_part(path) as run:
        assert _shape(run) == _shape(expected)
        assert run.tests[-1].outcome == "incomplete"


def test_a_waveform_family_is_read_as_open_run_reads_it(tmp_path: Path) -> None:
    path = _part(tmp_path, "A", "U1", family=True)
    with open_run(path) as expected, read_site_part(path) as run:
        assert _shape(run) == _shape(expected)
        assert [sorted(t.families) for t in run.tests] == [[], ["steps"]]


def test_damage_is_reported_as_open_run_reports_it(tmp_path: Path) -> None:
    path = _site_run(tmp_path, "A", "U1", failing=False)
    with h5py.File(path, "r+") as file:  # a sealed file changed afterwards
        file.attrs["operator"] = "someone else"
    with open_run(path) as expected, read_site_part(path) as run:
        assert run.damage and _shape(run) == _shape(expected)


def test_a_file_that_is_no_run_raises_as_open_run_does(tmp_path: Path) -> None:
    path = tmp_path / "noise.h5"
    path.write_bytes(b"not a run file")
    with pytest.raises(ResultFileError) as expected:
        open_run(path)
    with pytest.raises(ResultFileError) as raised:
        read_site_part(path)
    assert str(raised.value) == str(expected.value)
