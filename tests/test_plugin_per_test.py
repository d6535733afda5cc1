"""What a bench run spares each test that uses no instrument: the DUT profile's limits looked
up once per DUT, no safe-state round when nothing is open, no JUnit work without --junitxml."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest import Bench, DutProfile
from benchtest.config.dut import Parameter
from benchtest.run.instrument_pool import InstrumentPool
from benchtest.run.measuring import Measure, ProfileLimits
from benchtest.values.events import Event, MeasurementRecorded

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "dut_profiles" / "bt_ldo33.yaml"


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The parameters `DutProfile.parameter` was asked for."""
    names: list[str] = []
    original = DutProfile.parameter

    def parameter(self: DutProfile, name: str) -> Parameter:
        names.append(name)
        return original(self, name)

    monkeypatch.setattr(DutProfile, "parameter", parameter)
    return names


def test_tests_of_one_dut_share_the_profile_limits(looked_up: list[str]) -> None:
    dut = DutProfile.load(PROFILE)
    events: list[Event] = []
    shared: ProfileLimits = {}
    first = Measure("t.py::test_a", dut, events.append, profile_limits=shared)
    second = Measure("t.py::test_b", dut, events.append, profile_limits=shared)
    passed = first("iq_sleep", 1.0e-6)
    failed = second("iq_sleep", 3.0e-6)
    assert looked_up == ["iq_sleep"]  # once for both tests
    assert passed.limits == failed.limits == dut.parameter("iq_sleep").limits
    assert (passed.outcome.value, failed.outcome.value) == ("pass", "fail")
    assert second.failures == [failed] and not first.failures
    assert [e.test_id for e in events if isinstance(e, MeasurementRecorded)] == [
        "t.py::test_a",
        "t.py::test_b",
    ]


def test_a_measure_of_its_own_looks_the_limits_up_itself(looked_up: list[str]) -> None:
    dut = DutProfile.load(PROFILE)
    for test in ("t.py::test_a", "t.py::test_b"):
        measure = Measure(test, dut, lambda event: None)
        measure("iq_sleep", 1.0e-6)
        measure("iq_sleep", 1.1e-6)
    assert looked_up == ["iq_sleep", "iq_sleep"]  # once per Measure


def test_nothing_open_means_no_safe_state_round(sim_bench_text: str, tmp_path: Path) -> None:
    (tmp_path / "sim.yaml").write_text(sim_bench_text, encoding="utf-8")
    events: list[Event] = []
    pool = InstrumentPool(
        Bench.load(tmp_path / "sim.yaml"), DutProfile.load(PROFILE), events.append
    )
    assert pool.make_safe() == []
    pool.release_shared()
    assert events == []


PLAN = "def test_value(measure):\n    measure('iq_sleep', 1.0e-6)\n"
BENCH = (
    "schema_version: 1\nname: idle bench\ninstruments:\n"
    "  smu: {driver: keithley.k2450, resource: 'TCPIP::127.0.0.1::9::SOCKET'}\n"
)


@pytest.mark.parametrize("junit", [False, True])
def test_the_junit_properties_hook_is_there_only_when_xml_is_written(
    pytester: pytest.Pytester, junit: bool
) -> None:
    pytester.makepyfile(test_plan=PLAN)
    pytester.makefile(".yaml", bench=BENCH)
    pytester.makeconftest(
        "def pytest_sessionfinish(session):\n"
        "    plugin = session.config.pluginmanager.get_plugin('benchtest-junit-properties')\n"
        "    print('JUNIT-PROPERTIES', plugin is not None)\n"
    )
    args = ["--bench", "bench.yaml", "--dut", str(PROFILE), "-s", "-p", "no:cacheprovider"]
    args += ["--junitxml", "out.xml"] if junit else []
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*JUNIT-PROPERTIES {junit}*"])
    if junit:
        assert "benchtest.test_id" in (pytester.path / "out.xml").read_text(encoding="utf-8")
