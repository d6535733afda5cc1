"""JUnit XML: limit failures are <failure>, bench trouble is <error>, values are properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

PLAN = """
from benchtest import InstrumentTimeoutError

def test_in_limits(measure):
    measure("iq_sleep", 1.1e-6)
    measure("vout", 3.3)

def test_out_of_limits(measure):
    measure("iq_sleep", 3.2e-6)

def test_instrument_silent(measure):
    measure("vout", 3.3)
    raise InstrumentTimeoutError("no reply within 5 s", role="smu", command=":READ?")
"""


def test_junit_separates_dut_failures_from_bench_trouble(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile(test_plan=PLAN)
    result = pytester.runpytest_inprocess(
        "--sim",
        "--dut",
        "ldo.yaml",
        "--results-dir",
        "results",
        "--junitxml",
        "junit.xml",
        "-o",
        "junit_family=xunit1",
    )
    result.assert_outcomes(passed=1, failed=2)
    [run_file] = (pytester.path / "results").glob("*.h5")
    root = ET.parse(pytester.path / "junit.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_in_limits"].iter("property")}
    assert props["iq_sleep"] == "1.1e-06 A pass"
    assert props["vout"] == "3.3 V pass"
    limit = cases["test_out_of_limits"].find("failure")
    assert limit is not None and "iq_sleep = 3.2e-06 A is above the high limit 2e-06 A" in (
        limit.get("message") or ""
    )
    assert cases["test_out_of_limits"].find("error") is None
    bench = cases["test_instrument_silent"].find("error")
    assert bench is not None and "[smu] no reply within 5 s" in (bench.get("message") or "")
    assert cases["test_instrument_silent"].find("failure") is None
    for case in cases.values():
        out = case.find("system-out")
        assert out is not None and f"[[ATTACHMENT|results/{run_file.name}]]" in (out.text or "")
