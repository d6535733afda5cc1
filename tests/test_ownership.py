"""One process owns an instrument at a time; a second one is told who holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchtest import open_instrument
from benchtest.driver.ownership import InstrumentBusyError, ResourceLock
from benchtest.sim.bench import SimulatedBench

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def private_lock_dir() -> Path:
    return Path(os.environ["BENCHTEST_LOCK_DIR"])  # set for every test by conftest.py


@pytest.fixture
def smu_resource() -> Iterator[str]:
    profile = yaml.safe_load((REPO / "dut_profiles" / "bt_ldo33.yaml").read_text())
    bench = {
        "schema_version": 1,
        "instruments": {"smu": {"driver": "keithley.k2450", "resource": "sim://smu"}},
    }
    with SimulatedBench(profile, bench) as simulated:
        yield simulated.resolved_bench()["instruments"]["smu"]["resource"]


def test_second_claim_names_the_holder() -> None:
    with (
        ResourceLock("TCPIP::10.0.0.5::5025::SOCKET", role="smu"),
        pytest.raises(InstrumentBusyError) as info,
    ):
        ResourceLock("TCPIP::10.0.0.5::5025::SOCKET", role="psu").acquire()
    message = str(info.value)
    assert message.startswith("[psu] TCPIP::10.0.0.5::5025::SOCKET is in use by process")
    assert f"process {os.getpid()} of " in message and "as role 'smu'" in message
    ResourceLock("TCPIP::10.0.0.5::5025::SOCKET").acquire().release()  # free again


def test_open_instrument_holds_the_claim_until_close(smu_resource: str) -> None:
    smu = open_instrument("keithley.k2450", smu_resource, role="smu")
    try:
        with pytest.raises(InstrumentBusyError, match="is in use by process"):
            open_instrument("keithley.k2450", smu_resource, role="other")
    finally:
        smu.close()
    again = open_instrument("keithley.k2450", smu_resource)
    again.close()


def test_another_process_is_refused_before_sending_anything(
    smu_resource: str, private_lock_dir: Path
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from benchtest import open_instrument; "
            f"smu = open_instrument('keithley.k2450', {smu_resource!r}, role='smu'); "
            "print('holding', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "BENCHTEST_LOCK_DIR": str(private_lock_dir)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(
            InstrumentBusyError, match=rf"in use by process {holder.pid} .*role 'smu'"
        ):
            open_instrument("keithley.k2450", smu_resource, role="smu")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()  # type: ignore[union-attr]
    open_instrument("keithley.k2450", smu_resource).close()  # released when the holder exited
