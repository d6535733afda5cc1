"""The end of a run names every instrument whose safe state failed, and says whether the last
attempt failed too (the instrument may still be sourcing); the run file logs each outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest.run.safe_states import UnsafeRoles
from benchtest.values.events import SafeStateApplied

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "dut_profiles" / "bt_ldo33.yaml"
BENCH = REPO / "benches" / "sim.yaml"
PLAN = """\
def test_a(smu):
    smu.identify()


def test_b(smu):
    smu.identify()
"""
#: The SMU driver's safe state fails, on its first call or on every call (`FAILING`).
CONFTEST = """\
from instruments.keithley.k2450 import Keithley2450

FAILING = {failing!r}
original = Keithley2450.safe_state
calls = []


def safe_state(self):
    calls.append(1)
    if FAILING == "always" or len(calls) == 1:
        raise OSError("connection reset by the instrument")
    original(self)


Keithley2450.safe_state = safe_state
"""


@pytest.mark.parametrize(
    ("failing", "line"),
    [
        (
            "once",
            "*safe state of smu failed once, then succeeded; last failure: OSError: "
            "connection reset by the instrument (20*",
        ),
        (
            "always",
            "*safe state of smu FAILED 3 times, the last time too: check it is off before "
            "touching the DUT; last failure: OSError: connection reset by the instrument (20*",
        ),
    ],
)
def test_a_failed_safe_state_is_named_at_the_end_of_the_run(
    pytester: pytest.Pytester, failing: str, line: str
) -> None:
    pytester.makepyfile(test_plan=PLAN)
    pytester.makeconftest(CONFTEST.format(failing=failing))
    result = pytester.runpytest_subprocess(
        "--sim", f"--bench={BENCH}", f"--dut={PROFILE}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*run file: *", "*BT-LDO33: passed*", line])


def test_a_run_whose_safe_states_all_succeeded_names_no_instrument() -> None:
    unsafe = UnsafeRoles()
    for role in ("smu", "scope"):
        unsafe(SafeStateApplied(role, True, "2026-12-07T22:00:00+00:00", "safe state applied"))
    assert unsafe.lines() == []
    unsafe(SafeStateApplied("scope", False, "2026-12-07T22:00:01+00:00", "did not finish"))
    unsafe(SafeStateApplied("smu", True, "2026-12-07T22:00:02+00:00", "safe state applied"))
    ((text, still_unsafe),) = unsafe.lines()
    assert still_unsafe and text.startswith("safe state of scope FAILED once, the last time too")
    assert text.endswith("did not finish (2026-12-07T22:00:01+00:00)")
