"""A results folder that fills up: the run stops with a clear error, the instruments are made
safe, and every test finished before stays readable, value by value.

Two ways to run out of room, both real: a small tmpfs mounted for the test in a private mount
namespace (`unshare`; skipped where the machine does not allow it), and a file-size limit
(RLIMIT_FSIZE) on the process, which makes the kernel refuse writes past it (EFBIG) on any
POSIX system. The writer is tested alone at many limits, and whole plan runs (`pytest --sim`)
in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.sim.server.journal import read_values

resource = pytest.importorskip("resource", reason="file-size limits need a POSIX system")

WRITER = """
import json, resource, sys
import h5py
import numpy as np
from pathlib import Path
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.storage.failure import RunFileWriteError
from benchtest.values.events import (InstrumentIdentified, MeasurementRecorded, RunFinished,
    SafeStateApplied, TestFinished, TestStarted, WaveformRecorded)
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform
import benchtest.runfile.schema as schema

# A journal of 64 KiB fills within these 600 tests, so some limits are met as a test starts.
schema.JOURNAL_BYTES = 64 * 1024
T = "2026-11-28T15:43:00+00:00"
folder, cases = Path(sys.argv[1]), [x.split(":") for x in sys.argv[2:]]
unlimited = resource.getrlimit(resource.RLIMIT_FSIZE)
for limit, every in ((int(a), int(b)) for a, b in cases):
    path = folder / f"run_{limit}_{every}.h5"
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, unlimited[1]))
    writer, finished, errors = Hdf5RunWriter(path), [], []
    try:
        writer(run_started())
        writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::x", "KEITHLEY,2450"))
        for i in range(600):
            tid = f"plan.py::test_{i}"
            writer(TestStarted(tid, T, {"i": i}))
            for j in range(1 + i % 3):
                m = Measurement.judge(f"p{j}", i + j / 8, "V", Limits(None, 1e6, "V"))
                writer(MeasurementRecorded(tid, m))
            if every and i % every == 0:
                codes = np.random.default_rng(i).integers(-30000, 30000, 30000).astype(np.int16)
                writer(WaveformRecorded(tid, "vout", Waveform(codes, dt=1e-6, scale=1e-3)))
            writer(TestFinished(tid, "passed", T, 0.1))
            finished.append(tid)
    except RunFileWriteError as exc:
        errors.append(str(exc))
    writer(SafeStateApplied("smu", True, T, "safe state applied"))
    try:
        writer(RunFinished(T, "passed"))
    except RunFileWriteError as exc:
        errors.append(str(exc))
    resource.setrlimit(resource.RLIMIT_FSIZE, unlimited)
    kinds = h5py.h5f.OBJ_FILE | h5py.h5f.OBJ_DATASET | h5py.h5f.OBJ_GROUP
    still_open = len(h5py.h5f.get_obj_ids(types=kinds))  # closed by the run end
    print(json.dumps({"path": str(path), "every": every, "finished": finished,
                      "errors": errors, "open": still_open}), flush=True)
"""

#: File-size limits, and how often a test records a waveform (0: never), that stop the writer
#: while creating the file, storing a waveform, moving the journal into the tables as a test
#: starts or commits, and building the entries as the run closes.
CASES = ("50000:7", "300000:7", "1500000:7", "3000000:7", "500000:0", "1000000:0", "2500000:0")


def _check_test(test: object, i: int, every: int) -> None:
    m = test.measurements  # type: ignore[attr-defined]
    assert test.outcome == "passed" and test.conditions == {"i": i}  # type: ignore[attr-defined]
    assert m["value"].tolist() == [i + j / 8 for j in range(1 + i % 3)]
    if every and i % every == 0:
        codes = test.waveforms["vout"].codes[...]  # type: ignore[attr-defined]
        expected = np.random.default_rng(i).integers(-30000, 30000, 30000).astype(np.int16)
        np.testing.assert_array_equal(codes, expected)


def test_the_writer_stops_cleanly_at_every_limit_and_keeps_what_finished(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), *CASES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Segmentation" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    stopped_at = set()
    for result in results:
        path, finished, errors = Path(result["path"]), result["finished"], result["errors"]
        assert len(errors) == 1, result  # one clear error, once
        assert result["open"] == 0, result  # nothing of the file left open
        error = errors[0]
        assert error.startswith(f"{path}: cannot write the run file: the file is larger than")
        stopped_at.add(error.split(", while ")[1].split(" ")[0])
        if not path.exists():  # the file could not even be created: nothing had finished
            assert finished == [] and "while creating the run file" in error
            continue
        kept = len(finished)
        assert ("no test had finished" if kept == 0 else f"the {kept} tests finished") in error
        with open_run(path) as run:
            assert not run.damaged, run.damage  # consistent, closed and sealed
            assert any("the writer stopped" in p and "file-size limit" in p for p in run.problems)
            by_id = {t.id: t for t in run.tests}
            for test_id in finished:
                _check_test(by_id[test_id], int(test_id.rsplit("_", 1)[1]), result["every"])
            assert [t.outcome for t in run.tests if t.id not in finished] in ([], ["incomplete"])
            assert run.safe_state_log["ok"].tolist()[-1]
            # the outcome is recorded as the run ends: a writer that stopped before never wrote it
            closing = "while closing" in error
            assert run.outcome == ("passed" if closing else "incomplete")
    assert {"creating", "storing", "starting", "closing"} <= stopped_at, stopped_at


PLAN = """
import numpy as np
import pytest
from benchtest import Waveform

@pytest.mark.parametrize("n", range(30))
def test_record(n, smu, measure):
    smu.source_voltage(1.0, current_limit=0.01)
    smu.output_on()
    codes = np.random.default_rng(n).integers(-30000, 30000, 100_000).astype(np.int16)
    measure.waveform("noise", Waveform(codes, dt=1e-6, scale=1e-3))
"""
SIZE = 3 << 20  # room for a few tests of PLAN


def _tmpfs_available(tmp_path: Path) -> str:
    """Why a small tmpfs cannot be mounted here ("" when it can)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "no unshare or mount command"
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "{probe}"'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "" if done.returncode == 0 else f"cannot mount a tmpfs in a namespace: {done.stderr}"


def _run_plan(
    tmp_path: Path, profile: str, how: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "test_fill.py").write_text(PLAN, encoding="utf-8")
    (plan / "ldo.yaml").write_text(profile, encoding="utf-8")
    results, kept = tmp_path / "results", tmp_path / "kept"
    results.mkdir()
    kept.mkdir()
    pytest_args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--sim"]
    pytest_args += ["--dut", "ldo.yaml", "--results-dir", str(results), "test_fill.py"]
    env = {**os.environ, "BENCHTEST_SIM_JOURNAL": str(tmp_path / "sim.jsonl")}
    if how == "tmpfs":
        shell = (
            f'mount -t tmpfs -o size={SIZE} tmpfs "$1" && shift && "$@"; code=$?; '
            f'cp -a "{results}/." "{kept}/"; exit $code'
        )
        command = ["unshare", "-rm", "sh", "-c", shell, "sh", str(results), *pytest_args]
        done = subprocess.run(
            command, cwd=plan, env=env, capture_output=True, text=True, timeout=240
        )
    else:

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (SIZE, resource.RLIM_INFINITY))

        done = subprocess.run(
            pytest_args, cwd=plan, env=env, capture_output=True, text=True, timeout=240,
            preexec_fn=limit,
        )  # fmt: skip
        shutil.copytree(results, kept, dirs_exist_ok=True)
    files = sorted(kept.glob("*.h5"))
    assert len(files) == 1, (done.stdout[-3000:], done.stderr[-3000:])
    return done, files[0]


@pytest.mark.parametrize("how", ["tmpfs", "file-size-limit"])
def test_a_plan_run_that_fills_the_disk_stops_safe_and_keeps_its_tests(
    tmp_path: Path, ldo_profile_text: str, how: str
) -> None:
    if how == "tmpfs" and (reason := _tmpfs_available(tmp_path)):
        pytest.skip(reason)
    done, path = _run_plan(tmp_path, ldo_profile_text, how)
    out = done.stdout + done.stderr
    cause = "the disk is full" if how == "tmpfs" else "the file is larger than"
    assert done.returncode == 2, out[-3000:]  # interrupted: not a crash, not "passed"
    assert f"cannot write the run file: {cause}" in out and "Interrupted: benchtest:" in out
    assert "Segmentation" not in out and "INTERNALERROR" not in out, out[-3000:]
    passed = int(out.split(" passed")[0].rsplit(" ", 1)[-1]) if " passed" in out else 0
    with open_run(path) as run:
        assert not run.damaged and run.outcome == "incomplete", run.problems
        assert any("the writer stopped" in p and cause in p for p in run.problems)
        done_tests = [t for t in run.tests if t.outcome == "passed"]
        assert len(done_tests) == passed >= 1
        for test in done_tests:
            n = int(test.id.split("[")[1].rstrip("]"))
            codes = np.random.default_rng(n).integers(-30000, 30000, 100_000).astype(np.int16)
            np.testing.assert_array_equal(test.waveforms["noise"].codes[...], codes)
        assert run.safe_state_log["ok"].all() and len(run.safe_state_log) >= 1
    outputs = [bool(v) for v in read_values(tmp_path / "sim.jsonl", "smu", "output")]
    assert outputs[0] is True and outputs[-1] is False  # the SMU was left safe


SIBLINGS = """
import resource, sys
from benchtest.cli.commands import main
from benchtest.results import Catalog
from benchtest.values.errors import ResultFileError

run, folder = sys.argv[1], sys.argv[2]
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
print("report exit", main(["report", run, "-o", run + ".html"]), flush=True)
try:
    Catalog(folder)
except ResultFileError as exc:
    print("catalog:", exc, flush=True)
"""


def test_the_report_and_the_catalog_say_when_they_do_not_fit(tmp_path: Path) -> None:
    from benchtest.storage.example import write_example_run

    folder = tmp_path / "results"
    run = write_example_run(folder / "run.h5", points=2000)
    script = tmp_path / "siblings.py"
    script.write_text(SIBLINGS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(run), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "report exit 2" in done.stdout
    assert f"benchtest report: {run}.html: cannot write the report: [Errno 27]" in done.stderr
    assert not (folder / "run.h5.html.part").exists() and not (folder / "run.h5.html").exists()
    assert "catalog: " in done.stdout and "cannot" in done.stdout and "catalog index" in done.stdout
