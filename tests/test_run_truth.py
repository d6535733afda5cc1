"""Runs that tell the truth: skips, strict benches, calibration and instruments that do not open.

A run with skipped tests says so in the terminal, the run file, the report and JUnit; a strict
bench (`--strict-bench`, or `strict: true` in the bench file) turns a missing role into an
error and refuses an instrument past its calibration due date; an instrument that cannot be
opened is one line naming role, resource and cause.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import pytest

from benchtest.report import write_report
from benchtest.report.html import report_context
from benchtest.results import open_run
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import InstrumentIdentified, RunFinished

REPO = Path(__file__).resolve().parents[1]

PLAN = """
import pytest

@pytest.mark.requires("chamber")
@pytest.mark.parametrize("temperature", [-40.0, 25.0, 85.0])
def test_hot_and_cold(temperature, measure):
    measure("t", temperature, unit="degC", low=-50.0, high=100.0)

def test_at_room(measure):
    measure("x", 1.0, unit="V", low=0.0, high=2.0)
"""


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def bench_text(*, strict: bool = False, due: str = "", port: int | None = None) -> str:
    """A bench without a chamber; its SMU is at a port nothing answers on."""
    lines = ["schema_version: 1", "name: small bench"]
    lines += ["strict: true"] if strict else []
    lines += [
        "instruments:",
        "  smu:",
        "    driver: keithley.k2450",
        f"    resource: 'TCPIP::127.0.0.1::{port or closed_port()}::SOCKET'",
        "    options: {timeout: 1.0}",
    ]
    lines += [f"    calibration_due: '{due}'"] if due else []
    return "\n".join(lines) + "\n"


def run(
    pytester: pytest.Pytester, bench: str, *extra: str, plan: str = PLAN
) -> tuple[pytest.RunResult, Path]:
    pytester.makefile(".yaml", bench=bench)
    (pytester.path / "ldo.yaml").write_text(
        (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    pytester.makepyfile(test_plan=plan)
    result = pytester.runpytest_inprocess(
        "--bench", "bench.yaml", "--dut", "ldo.yaml", "--results-dir", "results",
        "-p", "no:cacheprovider", "--junitxml", "junit.xml", *extra,
    )  # fmt: skip
    files = sorted((pytester.path / "results").glob("*.h5"))
    return result, files[0] if files else pytester.path / "results" / "missing.h5"


def test_a_run_with_skips_says_so_everywhere(pytester: pytest.Pytester) -> None:
    result, path = run(pytester, bench_text())
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == 0  # skips are not an error unless the bench is strict
    said = "passed, 3 skipped: no chamber on this bench (small bench)"
    assert any(said in line for line in result.outlines), result.outlines
    with h5py.File(path, "r") as file:
        assert file.attrs["outcome"] == "passed"
        assert int(file.attrs["skipped"]) == 3
        assert file.attrs["skip_reasons"] == "no chamber on this bench (small bench)"
    html = write_report(path).read_text(encoding="utf-8")
    assert '<header class="banner pass">' not in html  # no big green PASS
    assert "PASS, 3 SKIPPED" in html and said in html
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "3"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["benchtest.outcome"] == f"BT-LDO33: {said}"


def test_the_run_file_outcome_is_the_parts_own(pytester: pytest.Pytester) -> None:
    """A part whose test failed is recorded as failed, not as the session's last word."""
    plan = PLAN + "\ndef test_out_of_limits(measure):\n    measure('y', 5.0, unit='V', high=1.0)\n"
    result, path = run(pytester, bench_text(), plan=plan)
    result.assert_outcomes(passed=1, failed=1, skipped=3)
    with h5py.File(path, "r") as file:
        assert file.attrs["outcome"] == "failed" and int(file.attrs["skipped"]) == 3
    assert any("failed, 3 skipped: no chamber" in line for line in result.outlines)


@pytest.mark.parametrize("where", ["command line", "bench file"])
def test_a_strict_bench_refuses_to_run_without_a_role(
    pytester: pytest.Pytester, where: str
) -> None:
    strict_file = where == "bench file"
    extra = () if strict_file else ("--strict-bench",)
    result, path = run(pytester, bench_text(strict=strict_file), *extra)
    assert result.ret != 0
    message = [line for line in result.errlines + result.outlines if "strict" in line]
    assert message and "chamber" in message[0] and "test_hot_and_cold" in message[0], message
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not path.exists()  # refused before any test ran


def test_an_instrument_that_cannot_be_opened_is_one_line(pytester: pytest.Pytester) -> None:
    port = closed_port()
    plan = "def test_uses_the_smu(smu):\n    pass\n\ndef test_again(smu):\n    pass\n"
    result, _ = run(pytester, bench_text(port=port), plan=plan)
    result.assert_outcomes(errors=2)
    text = result.stdout.str()
    expected = f"[smu] cannot open keithley.k2450 at TCPIP::127.0.0.1::{port}::SOCKET:"
    lines = [line for line in result.outlines if expected in line]
    assert lines and "refused" in lines[0].lower(), text
    assert "transport.py" not in text and "pyvisa" not in text and "Traceback" not in text
    first = text.split("ERROR at setup of test_uses_the_smu", 1)[1]
    between = first.split("ERROR at setup of test_again", 1)[0]
    assert between.strip("_ \n").splitlines() == [lines[0]], between  # one line per test


def test_a_strict_bench_refuses_an_instrument_past_its_calibration(
    pytester: pytest.Pytester,
) -> None:
    plan = "def test_uses_the_smu(smu):\n    pass\n"
    result, path = run(pytester, bench_text(due="2001-02-03"), "--strict-bench", plan=plan)
    result.assert_outcomes(errors=1)
    lines = [line for line in result.outlines if "calibration was due" in line]
    assert lines and "2001-02-03" in lines[0] and "smu" in lines[0], result.outlines
    assert not any("refused" in line.lower() for line in result.outlines)  # never opened
    with open_run(path) as stored:
        assert stored.tests[0].outcome == "error"
        assert "2001-02-03" in stored.tests[0].message


def test_the_report_shows_calibration_due_dates_and_flags_expired_ones(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    started = run_started()  # started on 2024-...
    with Hdf5RunWriter(path) as writer:
        writer(started)
        writer(
            InstrumentIdentified("smu", "keithley.k2450", "TCPIP::a", "KEITHLEY 2450", "2001-02-03")
        )
        writer(
            InstrumentIdentified(
                "scope", "rigol.ds1000z", "TCPIP::b", "RIGOL DS1104Z", "2999-01-01"
            )
        )
        writer(InstrumentIdentified("dmm", "generic.scpi_dmm", "TCPIP::c", "DMM", ""))
        writer(RunFinished("t", "passed"))
    with open_run(path) as stored:
        rows = {row.role: row for row in report_context(stored)["instruments"]}
    assert rows["smu"].calibration_due == "2001-02-03" and rows["smu"].expired
    assert rows["scope"].calibration_due == "2999-01-01" and not rows["scope"].expired
    assert rows["dmm"].calibration_due == "—" and not rows["dmm"].expired
    html = write_report(path).read_text(encoding="utf-8")
    table = html.split('id="instruments"', 1)[1]
    assert "calibration due" in table and "2001-02-03" in table and "2999-01-01" in table
    assert table.count("EXPIRED") == 1


def test_check_fails_an_expired_instrument_of_a_strict_bench(tmp_path: Path) -> None:
    from benchtest.cli.discovery import check_bench

    path = tmp_path / "bench.yaml"
    path.write_text(bench_text(strict=True, due="2001-02-03"), encoding="utf-8")
    _, (smu,) = check_bench(path)
    assert not smu.ok and "2001-02-03" in smu.problem and "strict" in smu.problem
    path.write_text(bench_text(due="2001-02-03"), encoding="utf-8")  # not strict: a warning
    _, (smu,) = check_bench(path)
    assert smu.warning == "calibration was due on 2001-02-03"


TWO_SITES = """
schema_version: 1
name: two sites
sites:
  A: {instruments: {smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::9::SOCKET"}}}
  B: {instruments: {smu: {driver: keithley.k2450, resource: "TCPIP::127.0.0.1::19::SOCKET"}}}
"""


@pytest.mark.parametrize("strict", [False, True])
def test_a_multi_site_run_with_skips_says_so(pytester: pytest.Pytester, strict: bool) -> None:
    """Each site skips (or, strict, errs on) the chamber tests; the merged run file adds the
    sites' skips up, and the controller's summary reads it."""
    extra = ("-n", "2", "--serial-number", "A=U1,B=U2", *(("--strict-bench",) if strict else ()))
    result, path = run(pytester, TWO_SITES, *extra)
    if strict:
        result.assert_outcomes(passed=2, errors=6)
        assert result.ret != 0
        assert "MissingRoleError: no chamber on this bench (two sites); the bench is strict" in (
            result.stdout.str()
        )
        return
    result.assert_outcomes(passed=2, skipped=6)
    with h5py.File(path, "r") as file:
        assert int(file.attrs["skipped"]) == 6
        assert file.attrs["skip_reasons"] == "no chamber on this bench (two sites)"
    said = "BT-LDO33: passed, 6 skipped: no chamber on this bench (two sites)"
    assert any(said in line for line in result.outlines), result.outlines
