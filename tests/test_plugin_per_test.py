"""What a bench run spares each test that uses no instrument: the DUT profile's limits looked
up once per DUT, no safe-state round when nothing is open, no JUnit work without --junitxml,
no fixture definition for `request` behind `measure`, no subscriber called for events it does
not count; and that each measurement still goes to its own test, judged as before."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from benchtest import Bench, DutProfile
from benchtest.config.dut import Parameter
from benchtest.results import open_run
from benchtest.run.instrument_pool import InstrumentPool
from benchtest.run.measuring import MarginalWarning, Measure, ProfileLimits
from benchtest.run.recorder import RunRecorder
from benchtest.values.events import (
    Event,
    MeasurementRecorded,
    TestFinished,
    TestStarted,
)
from benchtest.values.measurement import Limits, Measurement

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
    args = ["--bench", "bench.yaml", f"--dut={PROFILE}", "-s", "-p", "no:cacheprovider"]
    args += ["--junitxml", "out.xml"] if junit else []
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*JUNIT-PROPERTIES {junit}*"])
    if junit:
        assert "benchtest.test_id" in (pytester.path / "out.xml").read_text(encoding="utf-8")


def test_the_recorder_gives_a_subscriber_only_the_kinds_it_asked_for() -> None:
    recorder = RunRecorder()
    everything: list[Event] = []
    finished: list[Event] = []
    recorder.subscribe(everything.append)
    recorder.subscribe(finished.append, TestFinished)
    started = TestStarted("t.py::test_a", "2026-12-07T09:00:00+00:00")
    done = TestFinished("t.py::test_a", "passed", "2026-12-07T09:00:01+00:00", 1.0)
    for event in (started, done, started):
        recorder.emit(event)
    assert everything == [started, done, started] and finished == [done]
    later: list[Event] = []
    recorder.subscribe(later.append, TestStarted, TestFinished)  # routes found anew
    recorder.emit(done)
    assert finished == [done, done] and later == [done] and everything[-1] is done


@pytest.mark.parametrize(
    ("low", "high", "margin"),
    [(3.2, 3.4, 0.0), (3.2, 3.4, 0.05), (3.2, None, 0.0), (None, 3.4, 0.0), (None, None, 0.0)],
)
def test_the_judgement_of_measure_is_that_of_the_limits(
    low: float | None, high: float | None, margin: float
) -> None:
    """`measure` judges two-sided limits inline: the same outcome as `Limits.check`, NaN and
    infinities included, and the same frozen `Measurement` as its own constructor builds."""
    dut = DutProfile.load(PROFILE)
    limits = Limits(low, high, "V", margin)
    measure = Measure("t.py::test_a", dut, lambda event: None, {"n": 1})
    values = [3.1, 3.2, 3.22, 3.3, 3.38, 3.4, 3.5, math.nan, math.inf, -math.inf, np.float64(3.3)]
    for value in values:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MarginalWarning)  # the marginal band's values
            made = measure("vout", value, limits=limits)
        assert made.outcome is limits.check(float(value)), value
        assert type(made.value) is float  # a numpy scalar is stored as a plain number
        assert made == Measurement(
            "vout", float(value), "V", limits, made.outcome, made.timestamp, {"n": 1},
            made.description,
        ) or math.isnan(value)  # fmt: skip
        assert pickle.loads(pickle.dumps(made)).outcome is made.outcome
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.value = 1.0  # type: ignore[misc]
    assert measure("vout", True).value == 1.0  # as before: a bool is taken as a number


PER_TEST_PLAN = """
import pytest

@pytest.fixture
def recorded(request):
    return request.getfixturevalue("measure")  # the test's own `measure`, through a fixture

@pytest.mark.parametrize("vin", [4.0, 5.0])
def test_vout(vin, measure, recorded):
    assert recorded is measure
    measure("vout", 3.3 if vin == 4.0 else 3.5)

@pytest.mark.retry(1)
def test_iq(measure):
    measure("iq_sleep", 3.0e-6)
"""


def test_each_attempt_measures_for_its_own_test(pytester: pytest.Pytester) -> None:
    """The `measure` fixture takes its test from the runner, attempt by attempt: measurements
    go to the right test with its conditions, out-of-limit ones fail only their test, and the
    summary lists the last attempt's."""
    pytester.makepyfile(test_plan=PER_TEST_PLAN)
    pytester.makefile(".yaml", bench=BENCH)
    (pytester.path / "dut.yaml").write_text(PROFILE.read_text(encoding="utf-8"), "utf-8")
    result = pytester.runpytest_subprocess(
        "--bench", "bench.yaml", "--dut", "dut.yaml", "-p", "no:cacheprovider"
    )
    assert result.parseoutcomes() == {"passed": 1, "failed": 2, "rerun": 1}
    result.stdout.fnmatch_lines(
        [
            "*= 2 parameter(s) out of limits =*",
            "test_vout?5.0?  vout *3.5 *",
            "test_iq *iq_sleep*3e-06 *",
        ]
    )
    (run_file,) = (pytester.path / "results").glob("*.h5")
    with open_run(run_file) as run:
        table = run.measurements
        rows = [
            (str(test), str(name), str(outcome), json.loads(conditions) if conditions else {})
            for test, name, outcome, conditions in zip(
                table["test_id"], table["name"], table["outcome"], table["conditions"],
                strict=True,
            )
        ]  # fmt: skip
    assert sorted(rows, key=str) == sorted(
        [
            ("test_plan.py::test_vout[4.0]", "vout", "pass", {"vin": 4.0}),
            ("test_plan.py::test_vout[5.0]", "vout", "fail", {"vin": 5.0}),
            ("test_plan.py::test_iq", "iq_sleep", "fail", {}),
            ("test_plan.py::test_iq", "iq_sleep", "fail", {}),
        ],
        key=str,
    )
