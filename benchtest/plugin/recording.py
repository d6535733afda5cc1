"""The run recorder of a bench run, and the HDF5 run file that subscribes to it.

Tests emit events (test start, measurements, waveforms, test end); the HDF5 writer stores
them and commits every finished test to disk. The run file's path is printed at the end and
kept in the config stash (`run_file(config)`) for `benchtest demo` and other callers.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import uuid
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchtest.__about__ import __version__
from benchtest.errors import BenchtestError
from benchtest.plugin.configuration import RunSettings, settings
from benchtest.recorder import (
    ConfigSnapshot,
    RunFinished,
    RunRecorder,
    RunStarted,
    TestFinished,
    TestStarted,
    utc_now,
)

if TYPE_CHECKING:
    from benchtest.storage.hdf5_writer import Hdf5RunWriter

RECORDER = pytest.StashKey[RunRecorder]()
WRITER: pytest.StashKey[Hdf5RunWriter] = pytest.StashKey()
RUN_FILE = pytest.StashKey[Path]()
# Each phase's report of the running test, and whether it failed through bench trouble.
REPORTS = pytest.StashKey[list[tuple[pytest.TestReport, bool]]]()


def recorder(config: pytest.Config) -> RunRecorder:
    """The run recorder (a recorder with no subscribers when the plugin is inactive)."""
    if RECORDER not in config.stash:
        config.stash[RECORDER] = RunRecorder()
    return config.stash[RECORDER]


def run_file(config: pytest.Config) -> Path | None:
    """Path of this run's HDF5 file, once the session has started."""
    return config.stash.get(RUN_FILE, None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    run = settings(config)
    if run is None:
        return
    started = datetime.now(UTC)
    path = _run_path(run, started)
    from benchtest.storage.hdf5_writer import Hdf5RunWriter

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = Hdf5RunWriter(path)
    except (OSError, BenchtestError) as exc:
        raise pytest.UsageError(f"benchtest: cannot create the run file {path}: {exc}") from None
    config.stash[WRITER] = writer
    config.stash[RUN_FILE] = path
    recorder(config).subscribe(writer)
    commit, dirty = _git_state(Path(str(config.rootpath)))
    recorder(config).emit(
        RunStarted(
            run_id=uuid.uuid4().hex,
            started=started.isoformat(),
            framework_version=__version__,
            bench=ConfigSnapshot(str(run.bench.path), run.bench.text, run.bench.sha256),
            dut=ConfigSnapshot(str(run.dut.path), run.dut.text, run.dut.sha256),
            part=run.dut.name,
            serial_number=run.serial_number,
            lot=run.lot,
            operator=run.operator,
            station=run.bench.station,
            host=platform.node(),
            plans_commit=commit,
            plans_dirty=dirty,
        )
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    if RUN_FILE not in item.config.stash:
        return (yield)
    callspec = getattr(item, "callspec", None)
    conditions = dict(callspec.params) if callspec is not None else {}
    emit = recorder(item.config).emit
    emit(TestStarted(item.nodeid, utc_now(), conditions))
    item.stash[REPORTS] = []
    try:
        return (yield)
    finally:
        reports = item.stash[REPORTS]
        outcome, message, duration = _outcome(reports)
        emit(TestFinished(item.nodeid, outcome, utc_now(), duration, message))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    reports = item.stash.get(REPORTS, None)
    if reports is not None:
        bench_trouble = call.excinfo is not None and isinstance(call.excinfo.value, BenchtestError)
        reports.append((report, bench_trouble))
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    writer = config.stash.get(WRITER, None)
    if writer is None:
        return
    outcome = {0: "passed", 1: "failed", 2: "interrupted"}.get(int(exitstatus), "error")
    try:
        recorder(config).emit(RunFinished(utc_now(), outcome))
    finally:
        writer.close()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    path = run_file(config)
    if path is not None:
        terminalreporter.write_sep("-", "benchtest")
        terminalreporter.write_line(f"run file: {path}")


def _outcome(reports: list[tuple[pytest.TestReport, bool]]) -> tuple[str, str, float]:
    """passed / failed / error / skipped, a message, and the duration of a test's phases.

    A failure in setup or teardown, or one caused by a benchtest error (an instrument that
    did not answer, say), is an "error": bench trouble, not a verdict on the DUT.
    """
    duration = sum(r.duration for r, _ in reports)
    for report, bench_trouble in reports:
        if report.skipped:
            reason = (
                report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            )
            return "skipped", str(reason), duration
        if report.failed:
            kind = "error" if report.when != "call" or bench_trouble else "failed"
            return kind, _message(report), duration
    return "passed", "", duration


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longreprtext).strip().splitlines()[-1] if report.longreprtext else ""


def _run_path(run: RunSettings, started: datetime) -> Path:
    unit = f"_{run.serial_number}" if run.serial_number else ""
    stem = f"{started:%Y%m%dT%H%M%SZ}_{run.dut.name}{unit}"
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
    path = run.results_dir / f"{stem}.h5"
    counter = 1
    while path.exists():
        counter += 1
        path = run.results_dir / f"{stem}_{counter}.h5"
    return path


def _git_state(directory: Path) -> tuple[str, bool]:
    """The commit of the plans' repository and whether its work tree is dirty."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(commit) and bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.TimeoutExpired):
        return "", False
    return commit, dirty
