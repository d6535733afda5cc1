"""Shared helpers for benchtest's own tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from browser import Browser, find_chromium
from pg_server import lab_url, postgres_server  # noqa: F401  (one PostgreSQL server per session)

from benchtest import DutProfile
from benchtest.values.events import Event

REPO = Path(__file__).resolve().parent.parent
_SESSION_CACHE = pytest.StashKey[tuple[str, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    """Configuration files remembered as valid (`benchtest.config.valid_files`) by what runs
    outside a test's own folders (collection, session- and module-scoped fixtures and the
    processes they start) go to a folder of the session's, removed when it ends, never to the
    user's cache; each test gets a folder of its own (`_private_folders`)."""
    folder = tempfile.mkdtemp(prefix="benchtest-test-cache-")
    config.stash[_SESSION_CACHE] = folder, os.environ.get("BENCHTEST_CACHE_DIR")
    os.environ["BENCHTEST_CACHE_DIR"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder, before = config.stash[_SESSION_CACHE]
    if before is None:
        os.environ.pop("BENCHTEST_CACHE_DIR", None)
    else:
        os.environ["BENCHTEST_CACHE_DIR"] = before
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def ldo_profile_text() -> str:
    return (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")


@pytest.fixture
def ldo_dut(ldo_profile_text: str, tmp_path: Path) -> DutProfile:
    """The BT-LDO33 profile, loaded from a copy in the test's folder."""
    path = tmp_path / "ldo.yaml"
    path.write_text(ldo_profile_text, encoding="utf-8")
    return DutProfile.load(path)


@pytest.fixture
def events() -> list[Event]:
    """Where a `Measure` under test emits its events."""
    return []


@pytest.fixture
def sim_bench_text() -> str:
    return (REPO / "benches" / "sim.yaml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _private_folders(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test's instrument locks and temporary files (its subprocesses' too) stay under
    pytest's tmp folder, so nothing is left in the system's temp folder, even by a process a
    test kills on purpose. Configuration files remembered as valid too: each test starts with
    none."""
    monkeypatch.setenv("BENCHTEST_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
    monkeypatch.setenv("BENCHTEST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    temp = tmp_path_factory.mktemp("tmp")
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    """A real headless Chromium to open reports in; the test is skipped when none is installed."""
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return Browser(executable, tmp_path_factory.mktemp("chromium-profile"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """`benchtest demo --results-dir RESULTS`, run once for the tests that only read what it
    printed and the run file and report it wrote (`demo_run.args[-1]` is RESULTS). Its locks
    and temporary files stay under pytest's tmp folder, as `_private_folders` keeps a test's."""
    folder = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "BENCHTEST_LOCK_DIR": str(tmp_path_factory.mktemp("demo-locks")),
        "TMPDIR": str(tmp_path_factory.mktemp("demo-tmp")),
    }
    command = [sys.executable, "-m", "benchtest.cli", "demo", "--results-dir"]
    return subprocess.run(
        [*command, str(folder / "results")],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
