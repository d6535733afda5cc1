"""Shared helpers for benchtest's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def ldo_profile_text() -> str:
    return (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")


@pytest.fixture
def sim_bench_text() -> str:
    return (REPO / "benches" / "sim.yaml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _private_lock_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instrument ownership locks of each test go to a folder of its own."""
    monkeypatch.setenv("BENCHTEST_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
