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
