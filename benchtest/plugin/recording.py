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
    utc_now,
)

if TYPE_CHECKING:
    from benchtest.storage.hdf5_writer import Hdf5RunWriter

RECORDER = pytest.StashKey[RunRecorder]()
WRITER: pytest.StashKey[Hdf5RunWriter] = pytest.StashKey()
RUN_FILE = pytest.StashKey[Path]()


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
    if run is None or run.controller:
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
            site=run.site,
        )
    )


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


def _run_path(run: RunSettings, started: datetime) -> Path:
    unit = f"_{run.serial_number}" if run.serial_number else ""
    unit += f"_site-{run.site}" if run.site else ""
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
