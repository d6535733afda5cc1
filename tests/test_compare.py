"""`benchtest compare`: shifts in absolute, relative and sigma terms against each parameter's
tolerance; new, missing and changed tests; the exit code; bad input refused whole."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from compare_runs import IQ, PLAN, PROFILE, STARTUP, write_run

from benchtest.cli.commands import main
from benchtest.config.dut import DutProfile
from benchtest.review.compare import compare_runs
from benchtest.review.tolerance import (
    DEFAULT_TOLERANCE,
    DEFAULT_WINDOWED,
    Tolerance,
    ToleranceRules,
)
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.errors import ConfigError
from benchtest.values.events import MeasurementRecorded, RunFinished, TestFinished, TestStarted
from benchtest.values.measurement import Limits, Measurement

REPO = Path(__file__).resolve().parent.parent
VOUT_BASE = [3.300, 3.302, 3.298, 3.301, 3.299]  # five units: mean 3.300 V, sigma 1.58 mV
DROPOUT = f"{PLAN}::test_dropout"


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["compare", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("runs")
    base = {
        IQ: {"iq_sleep": [1.20e-6]},
        STARTUP: {"vout": VOUT_BASE, "t_startup": [180e-6]},
        DROPOUT: {"dropout": [0.150]},
    }
    return {
        "base": write_run(folder / "base.h5", base),
        "same": write_run(folder / "same.h5", base, start="2026-11-29T22:00:00+00:00"),
        "vout_moved": write_run(
            folder / "vout_moved.h5",
            {**base, STARTUP: {"vout": [v + 0.006 for v in VOUT_BASE], "t_startup": [181e-6]}},
        ),
        "changed": write_run(
            folder / "changed.h5",
            {
                IQ: {"iq_sleep": [1.21e-6]},  # within 5 %
                STARTUP: {"vout": VOUT_BASE},  # t_startup no longer measured
                f"{PLAN}::test_new": {"dropout": [0.1]},  # a new test; dropout test is missing
            },
            outcomes={IQ: "failed"},
        ),
        "units": write_run(folder / "units.h5", base, units={"iq_sleep": "mA"}),
        "nan": write_run(folder / "nan.h5", {**base, IQ: {"iq_sleep": [float("nan")]}}),
        "mcu": write_run(folder / "mcu.h5", base, part="BT-MCU-L0"),
    }


def test_the_same_run_again_is_no_regression(runs: dict[str, Path]) -> None:
    comparison = compare_runs(runs["base"], runs["same"])
    assert [p.status for p in comparison.parameters] == ["same"] * 4
    assert [t.status for t in comparison.tests] == ["same"] * 3
    assert comparison.exit_code == 0 and not comparison.regressions
    code, out, err = _cli(str(runs["base"]), str(runs["same"]))
    assert (code, err) == (0, "")
    assert "4 of 4 parameters within tolerance" in out and "no regression" in out


def test_shift_is_given_in_unit_relative_and_baseline_sigmas(runs: dict[str, Path]) -> None:
    comparison = compare_runs(runs["base"], runs["vout_moved"])
    vout = next(p for p in comparison.parameters if p.name == "vout")
    sigma = float(np.std(VOUT_BASE, ddof=1))
    assert vout.baseline is not None and vout.baseline.count == 5
    assert vout.baseline.std == pytest.approx(sigma)
    assert vout.shift == pytest.approx(0.006)
    assert vout.relative == pytest.approx(0.006 / 3.300)
    assert vout.sigma == pytest.approx(0.006 / sigma)  # 3.8 sigma
    # default with two limits: 5 % of the 132 mV window (6.6 mV) or 3 sigma (4.7 mV)
    assert vout.allowance is not None and vout.allowance.by == "window"
    assert vout.allowance.shift == pytest.approx(0.05 * (3.366 - 3.234))
    assert vout.status == "same" and comparison.exit_code == 0
    t_startup = next(p for p in comparison.parameters if p.name == "t_startup")
    assert t_startup.sigma is None and t_startup.shift == pytest.approx(1e-6)  # one reading


def test_a_sigma_tolerance_flags_a_shift_beyond_the_baseline_scatter(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    rules = tmp_path / "tolerances.yaml"
    rules.write_text(
        "schema_version: 1\nparameters:\n  vout: {sigma: 3}\n  t_startup: {absolute: 2.0e-6}\n",
        encoding="utf-8",
    )
    code, out, _ = _cli(str(runs["base"]), str(runs["vout_moved"]), "--tolerance-file",
                        str(rules), "--json", str(tmp_path / "c.json"))  # fmt: skip
    assert code == 1
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    [moved] = [p for p in data["parameters"] if p["regression"]]
    assert (moved["name"], moved["status"]) == ("vout", "moved")
    assert moved["tolerance"]["sigma"] == 3.0 and moved["tolerance"]["allowed_by"] == "sigma"
    assert moved["tolerance"]["allowed"] == pytest.approx(3 * np.std(VOUT_BASE, ddof=1))
    assert moved["tolerance"]["source"] == f"tolerance file {rules}"
    assert moved["sigma"] == pytest.approx(0.006 / np.std(VOUT_BASE, ddof=1))
    assert "vout" in out and "moved" in out and "REGRESSION: 1 regression" in out


def test_new_missing_and_changed_tests_and_parameters(runs: dict[str, Path]) -> None:
    comparison = compare_runs(runs["base"], runs["changed"])
    status = {(p.test_id, p.name): p.status for p in comparison.parameters}
    assert status == {
        (IQ, "iq_sleep"): "same",
        (STARTUP, "vout"): "same",
        (STARTUP, "t_startup"): "missing",
        (DROPOUT, "dropout"): "missing",
        (f"{PLAN}::test_new", "dropout"): "new",
    }
    tests = {t.test_id: (t.status, t.baseline_outcome, t.run_outcome, t.regression)
             for t in comparison.tests}  # fmt: skip
    assert tests == {
        IQ: ("changed", "passed", "failed", True),
        STARTUP: ("same", "passed", "passed", False),
        DROPOUT: ("missing", "passed", "", True),
        f"{PLAN}::test_new": ("new", "", "passed", False),
    }
    assert len(comparison.regressions) == 4  # two missing parameters, a failure, a missing test
    # the other way round: fail -> pass is no regression, a new test neither, missing ones are
    back = compare_runs(runs["changed"], runs["base"])
    assert {t.test_id for t in back.tests if t.regression} == {f"{PLAN}::test_new"}


def test_a_changed_unit_and_a_value_that_is_no_number_are_regressions(
    runs: dict[str, Path],
) -> None:
    units = compare_runs(runs["base"], runs["units"])
    [changed] = [p for p in units.parameters if p.regression]
    assert (changed.name, changed.status, changed.shift) == ("iq_sleep", "unit changed", None)
    nan = compare_runs(runs["base"], runs["nan"])
    [missing] = [p for p in nan.parameters if p.regression]
    assert (missing.name, missing.status) == ("iq_sleep", "no value")
    assert missing.run is not None and missing.run.unreadable == 1


def test_tolerance_bounds_take_the_largest_that_applies() -> None:
    tolerance = Tolerance(
        absolute=np.float32(1e-3), relative=np.float64(0.01), window=0.1, sigma=np.int64(2)
    )
    assert tolerance.allowed(np.float64(3.3), None, np.nan, np.nan) == pytest.approx(
        (0.033, "relative")
    )
    assert tolerance.allowed(3.3, 0.02, np.nan, np.nan) == pytest.approx((0.04, "sigma"))
    assert tolerance.allowed(3.3, None, 3.0, 4.0) == pytest.approx((0.1, "window"))
    assert tolerance.allowed(0.0, None, np.nan, np.nan) == pytest.approx((1e-3, "absolute"))
    assert Tolerance(sigma=3.0).allowed(1.0, None, 0.0, 2.0) == (0.0, "")  # no bound applies
    assert Tolerance.from_mapping({"relative": np.float64(0.02)}, "x").relative == 0.02
    rules = ToleranceRules()
    assert rules.for_parameter("iq") is DEFAULT_TOLERANCE
    assert rules.for_parameter("vout", np.float64(3.2), np.float32(3.4)) is DEFAULT_WINDOWED
    assert rules.for_parameter("vout", 3.2, np.nan) is DEFAULT_TOLERANCE  # one-sided
    assert DEFAULT_TOLERANCE.describe() == "5 % of baseline, 3 σ"
    assert DEFAULT_WINDOWED.describe() == "5 % of limit window, 3 σ"
    chosen = ToleranceRules(default=Tolerance(absolute=1.0, source="file"))
    assert chosen.for_parameter("vout", 3.2, 3.4).source == "file"


@pytest.mark.parametrize("kind", ["text", "plain_hdf5", "missing", "truncated", "other_part"])
def test_bad_input_gets_one_line_exit_2_and_nothing_written(
    kind: str, runs: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.h5"
    expected = {
        "text": "not an HDF5 file",
        "plain_hdf5": "not a benchtest run",
        "missing": "no such file",
        "truncated": "damaged",
        "other_part": "part 'BT-MCU-L0'",
    }[kind]
    if kind == "text":
        bad.write_text("name,value\niq,1e-6\n", encoding="utf-8")
    elif kind == "plain_hdf5":
        with h5py.File(bad, "w") as f:
            f["x"] = np.arange(3)
    elif kind == "truncated":
        bad.write_bytes(runs["base"].read_bytes()[:-3000])
    elif kind == "other_part":
        bad = runs["mcu"]
    html, data = tmp_path / "out" / "c.html", tmp_path / "out" / "c.json"
    code, out, err = _cli(str(runs["base"]), str(bad), "--html", str(html), "--json", str(data))
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("benchtest compare: "), err
    assert expected in err and str(bad) in err, err
    assert not html.parent.exists() or list(html.parent.iterdir()) == []


def test_a_bad_tolerance_file_names_the_file_and_the_field(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    rules = tmp_path / "tolerances.yaml"
    rules.write_text("schema_version: 1\nparameters:\n  vout: {relative: -0.1}\n", "utf-8")
    code, _, err = _cli(str(runs["base"]), str(runs["same"]), "--tolerance-file", str(rules))
    assert code == 2
    assert f"{rules}: parameters.vout.relative: " in err and err.count("\n") == 1


def test_usage_errors_exit_2(runs: dict[str, Path], tmp_path: Path) -> None:
    for args in (
        [str(runs["base"])],  # one file, no --baseline
        [str(runs["base"]), str(runs["same"]), "--baseline", "nightly"],
        [str(runs["base"]), str(runs["same"]), "--html", "x.out", "--json", "x.out"],
    ):
        with pytest.raises(SystemExit) as stopped, contextlib.redirect_stderr(io.StringIO()):
            main(["compare", *args])
        assert stopped.value.code == 2


def test_an_output_that_cannot_be_written_leaves_no_part_file(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code, _, err = _cli(str(runs["base"]), str(runs["same"]), "--json", str(blocker / "c.json"))
    assert code == 2 and "cannot write the comparison JSON" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_the_json_is_strict_and_complete(runs: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    code, _, _ = _cli(str(runs["base"]), str(runs["changed"]), "--json", str(target))
    assert code == 1
    text = target.read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert (data["format"], data["format_version"], data["verdict"]) == (
        "benchtest-compare", 1, "regression",
    )  # fmt: skip
    assert data["exit_code"] == 1 and data["regressions"] == 4
    assert data["baseline"]["path"] == str(runs["base"]) and data["run"]["serial_number"] == "U0001"
    missing = next(p for p in data["parameters"] if p["status"] == "missing")
    assert missing["run"] is None and missing["shift"] is None
    assert missing["tolerance"]["allowed"] is None
    iq = next(p for p in data["parameters"] if p["name"] == "iq_sleep")
    assert iq["baseline"]["low"] is None and iq["baseline"]["high"] == 2e-6
    assert iq["shift"] == pytest.approx(0.01e-6) and iq["baseline"]["std"] is None


def test_a_profile_drift_is_validated_where_it_is_written(tmp_path: Path) -> None:
    text = (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
    anchor = "    typ: 1.2e-6\n    max: 2.0e-6\n"
    assert text.count(anchor) == 1
    good = tmp_path / "good.yaml"
    good.write_text(
        text.replace(anchor, anchor + "    drift: {relative: 0.1, sigma: 4}\n"), "utf-8"
    )
    parameter = DutProfile.load(good).parameter("iq_sleep")
    assert parameter.drift == {"relative": 0.1, "sigma": 4.0}
    assert DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml").parameter("vout").drift == {}
    for drift, problem in (
        ("{relative: -0.1}", "parameters.iq_sleep.drift.relative: expected a fraction >= 0"),
        ("{percent: 5}", "parameters.iq_sleep.drift: Additional properties are not allowed"),
        ("{}", "parameters.iq_sleep.drift: "),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace(anchor, anchor + f"    drift: {drift}\n"), "utf-8")
        with pytest.raises(ConfigError) as error:
            DutProfile.load(bad)
        assert str(error.value).startswith(f"{bad}: {problem}"), str(error.value)


def test_a_bad_drift_in_a_recorded_profile_is_named(tmp_path: Path) -> None:
    profile = PROFILE.replace("max: 2.0e-6}", "max: 2.0e-6, drift: {sigma: -3}}")
    assert profile != PROFILE
    base = write_run(tmp_path / "a.h5", {IQ: {"iq_sleep": [1e-6]}})
    run = write_run(tmp_path / "b.h5", {IQ: {"iq_sleep": [1e-6]}}, profile=profile)
    code, _, err = _cli(str(base), str(run))
    assert code == 2
    assert f"{run}: run_info/dut_profile: parameters.iq_sleep.drift.sigma: not a drift" in err


def _sites_run(path: Path, values: dict[str, list[float]]) -> Path:
    """A multi-site run: per site, the attempts of one test (the last passes), one iq each."""
    event = dataclasses.replace(run_started(path.stem), part="BT-LDO33", serial_number="")
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(event)
        for site, attempts in values.items():
            for attempt, iq in enumerate(attempts, start=1):
                started = TestStarted(IQ, event.started, {"site": site}, attempt)
                writer(started)
                m = Measurement.judge("iq_sleep", iq, "A", Limits(None, 2e-6, "A"))
                writer(MeasurementRecorded(IQ, m))
                last = attempt == len(attempts)
                writer(TestFinished(IQ, "passed" if last else "failed", event.started, 0.1))
        writer(RunFinished(event.started, "passed"))
    return path


def test_the_sites_of_a_multi_site_run_pool_their_last_attempts(tmp_path: Path) -> None:
    base = _sites_run(tmp_path / "a.h5", {"A": [9e-6, 1.0e-6], "B": [1.1e-6], "C": [1.2e-6]})
    run = _sites_run(tmp_path / "b.h5", {"A": [1.4e-6], "B": [1.5e-6], "C": [1.6e-6]})
    comparison = compare_runs(base, run)
    [iq] = comparison.parameters
    assert iq.baseline is not None and iq.baseline.values.tolist() == [1.0e-6, 1.1e-6, 1.2e-6]
    assert iq.baseline.std == pytest.approx(0.1e-6)
    assert iq.shift == pytest.approx(0.4e-6) and iq.sigma == pytest.approx(4.0)
    assert iq.allowance is not None and iq.allowance.by == "sigma"  # 3 sigma: 300 nA > 55 nA
    assert iq.status == "moved"
    [test] = comparison.tests
    assert (test.status, test.baseline_outcome) == ("same", "passed")  # the retry passed


def test_the_page_plots_the_trends_asked_for(runs: dict[str, Path], tmp_path: Path) -> None:
    rules = tmp_path / "tolerances.yaml"
    rules.write_text("schema_version: 1\nparameters:\n  vout: {sigma: 3}\n", encoding="utf-8")
    page, folder = tmp_path / "page.html", tmp_path / "results"
    folder.mkdir()
    for trends, plots in (("none", 0), ("moved", 1), ("all", 4)):
        code, _, _ = _cli(str(runs["base"]), str(runs["vout_moved"]), "--html", str(page),
                          "--trends", trends, "--results-dir", str(folder),
                          "--tolerance-file", str(rules))  # fmt: skip
        assert code == 1
        assert page.read_text(encoding="utf-8").count('<svg class="trend"') == plots
        # the catalog is read for the trends only
        assert (folder / ".benchtest-catalog.sqlite3").exists() == (plots > 0)


def test_a_parameter_with_two_limits_is_judged_against_its_window(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    """10 mV is 0.3 % of VOUT but 7.6 % of its 132 mV limit window: it moved."""
    shifted = {STARTUP: {"vout": [v + 0.010 for v in VOUT_BASE]}}
    run = write_run(tmp_path / "run.h5", shifted)
    [vout] = [p for p in compare_runs(runs["base"], run).parameters if p.name == "vout"]
    assert vout.status == "moved" and vout.allowance is not None
    assert vout.allowance.by == "window" and vout.relative == pytest.approx(0.010 / 3.3)
