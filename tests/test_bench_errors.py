"""An unreachable bench is a bench error, never a DUT failure; instrument errors are retried.

A run whose only trouble is instruments that could not be reached or stopped answering ends
with exit status 69 and JUnit <error>s that name the role; a DUT failure in the same run keeps
exit status 1. With `--instrument-retries N` such a test runs again up to N times, each time
with a fresh connection, and every attempt is recorded in the run file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_run_truth import closed_port, run  # the same pytester run of a plan on a bench

from benchtest.plugin.runner import EXIT_BENCH_ERROR
from benchtest.results import open_run

USES_SMU = """
def test_reads_the_smu(smu, measure):
    measure("x", float(smu.reading), unit="V", low=-1.0e3, high=1.0e3)
"""
IN_LIMITS = """
def test_in_limits(measure):
    measure("vout", 3.3)
"""
OUT_OF_LIMITS = """
def test_out_of_limits(measure):
    measure("vout", 5.0)
"""


def unreachable_bench() -> str:
    return (
        "schema_version: 1\nname: lab bench\ninstruments:\n  smu:\n"
        "    driver: keithley.k2450\n"
        f"    resource: 'TCPIP::127.0.0.1::{closed_port()}::SOCKET'\n"
        "    options: {timeout: 0.5}\n"
    )


def simulated_bench(smu_settings: str) -> str:
    return (
        "schema_version: 1\nname: sim bench\ninstruments:\n  smu:\n"
        f"    driver: keithley.k2450\n    resource: 'sim://smu?{smu_settings}'\n"
        "    options: {timeout: 0.3}\n  uart:\n    driver: serial.debug_port\n"
        "    resource: sim://uart\n    options: {timeout: 0.3}\n"
    )


def cases(pytester: pytest.Pytester) -> dict[str, ET.Element]:
    """The JUnit test cases by name: one per test, however many attempts it took."""
    root = ET.parse(pytester.path / "junit.xml").getroot()
    found = list(root.iter("testcase"))
    named = {str(case.get("name")): case for case in found}
    assert len(named) == len(found), [case.get("name") for case in found]
    return named


def properties(case: ET.Element) -> dict[str, str]:
    return {str(p.get("name")): str(p.get("value")) for p in case.iter("property")}


def attempts(path: Path) -> list[tuple[str, int, str, str]]:
    with open_run(path) as stored:
        return [(t.id.split("::")[1], t.attempt, t.outcome, t.message) for t in stored.tests]


def test_an_unreachable_bench_is_a_bench_error_not_a_dut_failure(
    pytester: pytest.Pytester,
) -> None:
    result, path = run(pytester, unreachable_bench(), plan=USES_SMU + IN_LIMITS)
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == EXIT_BENCH_ERROR == 69
    assert any("1 test(s) ended in a bench error" in line for line in result.outlines)
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("failures"), suite.get("errors")) == ("0", "1")
    case = cases(pytester)["test_reads_the_smu"]
    assert case.find("error") is not None and case.find("failure") is None
    said = properties(case)["benchtest.bench_error"]
    assert said.startswith("smu: InstrumentOpenError: [smu] cannot open keithley.k2450"), said
    assert "benchtest.bench_error" not in properties(cases(pytester)["test_in_limits"])
    [(_, attempt, outcome, message), _] = attempts(path)
    assert (attempt, outcome) == (1, "error") and "cannot open" in message


def test_a_dut_failure_beside_a_bench_error_keeps_exit_status_1(
    pytester: pytest.Pytester,
) -> None:
    result, _ = run(pytester, unreachable_bench(), plan=USES_SMU + OUT_OF_LIMITS)
    result.assert_outcomes(failed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    found = cases(pytester)
    assert found["test_out_of_limits"].find("failure") is not None
    assert found["test_reads_the_smu"].find("error") is not None


def test_instrument_errors_are_retried_a_bounded_number_of_times(
    pytester: pytest.Pytester,
) -> None:
    result, path = run(pytester, unreachable_bench(), "--instrument-retries", "2", plan=USES_SMU)
    assert result.parseoutcomes() == {"errors": 1, "rerun": 2}
    assert result.ret == EXIT_BENCH_ERROR
    recorded = attempts(path)
    assert [(a, o) for _, a, o, _ in recorded] == [(1, "error"), (2, "error"), (3, "error")]
    messages = [m for *_, m in recorded]
    assert "(instrument retry 1 of 2: a fresh connection to smu)" in messages[0]
    assert "(instrument retry 2 of 2: a fresh connection to smu)" in messages[1]
    assert "instrument retry" not in messages[2] and "cannot open" in messages[2]
    case = cases(pytester)["test_reads_the_smu"]
    assert case.find("error") is not None and properties(case)["benchtest.attempts"] == "3"
    assert properties(case)["benchtest.bench_error"].startswith("smu: InstrumentOpenError")


@pytest.mark.parametrize(
    ("held", "identified"),
    [(":READ?", 2), ("*IDN?", 1)],
    ids=["silent-in-the-test", "silent-when-opened"],
)
def test_a_retry_with_a_fresh_connection_recovers_a_silent_instrument(
    pytester: pytest.Pytester, held: str, identified: int
) -> None:
    """The SMU holds back its first reply to `held` (once): the first attempt times out (in
    the test, or while the SMU is opened), the retry opens and identifies it again and passes.
    A failed opening is not kept: the retry really connects again."""
    bench = simulated_bench(f"fault=late&match={held}&delay=2")
    result, path = run(pytester, bench, "--sim", "--instrument-retries", "1", plan=USES_SMU)
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    assert result.ret == pytest.ExitCode.OK
    recorded = attempts(path)
    assert [(a, o) for _, a, o, _ in recorded] == [(1, "error"), (2, "passed")]
    first = recorded[0][3]
    assert "no reply within 0.3 s" in first and held in first, first
    assert first.endswith("(instrument retry 1 of 1: a fresh connection to smu)")
    with open_run(path) as stored:
        roles = [
            role.decode() if isinstance(role, bytes) else role
            for role in stored.instruments["role"]
        ]
    assert roles.count("smu") == identified  # on each connection that answered
    case = cases(pytester)["test_reads_the_smu"]
    assert case.find("error") is None and case.find("failure") is None
    assert properties(case)["benchtest.attempts"] == "2"
    assert "benchtest.bench_error" not in properties(case)


def test_without_retries_a_silent_instrument_is_one_bench_error(
    pytester: pytest.Pytester,
) -> None:
    bench = simulated_bench("fault=late&match=:READ?&delay=2")
    result, path = run(pytester, bench, "--sim", plan=USES_SMU)
    assert result.ret == EXIT_BENCH_ERROR
    assert [(a, o) for _, a, o, _ in attempts(path)] == [(1, "error")]
    said = properties(cases(pytester)["test_reads_the_smu"])["benchtest.bench_error"]
    assert said.startswith("smu: InstrumentTimeoutError: [smu] no reply within 0.3 s"), said


ERRORS = "from benchtest.values.errors import *\n"


@pytest.mark.parametrize(
    "error",
    [
        "InstrumentReportedError('-222 data out of range', code=-222, role='smu')",
        "InstrumentTimeoutError('no prompt within 0.3 s', role='uart')",
        "ProtocolError('the reply is not a temperature', role='uart')",
    ],
    ids=["reported-by-the-smu", "silent-dut-console", "garbled-dut-console"],
)
def test_errors_that_are_not_the_bench_are_neither_retried_nor_exit_69(
    pytester: pytest.Pytester, error: str
) -> None:
    """An instrument that reported an error was reached; a DUT's console that went silent or
    answers garbage is the DUT: these stay ordinary errors."""
    plan = f"{ERRORS}def test_trouble(measure):\n    raise {error}\n"
    bench = simulated_bench("timing=instant")
    result, path = run(pytester, bench, "--sim", "--instrument-retries", "2", plan=plan)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert [(a, o) for _, a, o, _ in attempts(path)] == [(1, "error")]
    case = cases(pytester)["test_trouble"]
    assert case.find("error") is not None and "benchtest.bench_error" not in properties(case)


def test_a_dut_console_port_that_is_gone_is_the_bench(pytester: pytest.Pytester) -> None:
    plan = (
        f"{ERRORS}def test_console(measure):\n"
        "    raise ConnectionLostError('port /dev/ttyUSB0 vanished', role='uart')\n"
    )
    result, _ = run(pytester, simulated_bench("timing=instant"), "--sim", plan=plan)
    assert result.ret == EXIT_BENCH_ERROR
    said = properties(cases(pytester)["test_console"])["benchtest.bench_error"]
    assert said == "uart: ConnectionLostError: [uart] port /dev/ttyUSB0 vanished"


@pytest.mark.parametrize("count", ["-1", "x", "101", "1.5"])
def test_instrument_retries_must_be_a_small_whole_number(
    pytester: pytest.Pytester, count: str
) -> None:
    pytester.makepyfile(test_plan=IN_LIMITS)
    result = pytester.runpytest_inprocess("--sim", "--instrument-retries", count)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"expected a whole number from 0 to 100, got '{count}'" in result.stderr.str()
