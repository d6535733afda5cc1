"""Acceptance: the same plan passes on the simulated bench whether VISA reaches its scope and SMU
over a raw socket, VXI-11 or HiSLIP; the plan and the DUT profile are unchanged, only the bench
file differs, and the run file records the resources the instruments were reached at."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import pytest

from benchtest.sim.server.vxi11 import unavailable_reason

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"
VXI11_REASON = unavailable_reason()
RESOURCE = {
    "socket": r"TCPIP::127\.0\.0\.1::\d+::SOCKET",
    "vxi11": r"TCPIP::127\.\d+\.\d+\.\d+::inst0::INSTR",
    "hislip": r"TCPIP::127\.0\.0\.1::hislip0,\d+::INSTR",
}
TRANSPORTS = [
    "socket",
    pytest.param(
        "vxi11", marks=pytest.mark.skipif(VXI11_REASON is not None, reason=VXI11_REASON or "")
    ),
    "hislip",
]


def bench_text(visa: str) -> str:
    """The plan's bench: its scope and SMU reached over `visa`, its debug port on a pty."""
    return f"""\
schema_version: 1
name: simulated bench over {visa}
instruments:
  smu:
    driver: keithley.k2450
    resource: sim://smu?visa={visa}
    options: {{timeout: 5.0}}
  scope:
    driver: rigol.ds1000z
    resource: sim://scope?visa={visa}
    options: {{timeout: 10.0}}
  uart:
    driver: serial.debug_port
    resource: sim://uart
    options: {{timeout: 2.0}}
"""


@pytest.mark.parametrize("visa", TRANSPORTS)
def test_the_same_plan_passes_over_socket_vxi11_and_hislip(
    visa: str, pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text, bench=bench_text(visa))
    pytester.makepyfile(test_ldo_basics=PLAN.read_text(encoding="utf-8"))
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        "--sim",
        "--bench",
        "bench.yaml",
        "--dut",
        "ldo.yaml",
        "--results-dir",
        str(results),
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=3)
    (run_file,) = results.glob("*.h5")
    with h5py.File(run_file, "r") as f:
        resources = {
            row["role"].decode(): row["resource"].decode() for row in f["run_info/instruments"][()]
        }
        values = {
            row["name"].decode(): float(row["value"]) for row in f["summary/measurements"][()]
        }
    assert re.fullmatch(RESOURCE[visa], resources["smu"]), resources
    assert re.fullmatch(RESOURCE[visa], resources["scope"]), resources
    assert values["iq_active"] == pytest.approx(45e-6, rel=0.03)
    assert values["vout"] == pytest.approx(3.3, abs=0.05)
    assert values["t_startup"] == pytest.approx(80e-6 * 2.197, rel=0.15)  # tau * ln 9
