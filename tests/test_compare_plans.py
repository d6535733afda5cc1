"""`benchtest compare` on real plan output: the LDO basics plan run on the simulated bench for
the same unit three times, the last with the part's sleep current drifted in its model. The
comparison flags exactly that parameter, and its page, opened in a real browser, shows the
regressed row, its tolerance and the trend of the parameter over the runs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchtest.cli.commands import main

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"
PROFILE = REPO / "dut_profiles" / "bt_ldo33.yaml"
SLEEP = "ldo/test_ldo_basics.py::test_quiescent_current[sleep]"
UNIT = "U0001"


def _start_plan(profile: Path, results: Path, scratch: Path) -> subprocess.Popen[str]:
    """Start the plan on the simulated bench for UNIT, its run file going to `results`."""
    env = {**os.environ, "TMPDIR": str(scratch), "BENCHTEST_LOCK_DIR": str(scratch)}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", str(PLAN), "--sim", "--dut", str(profile),
         "--serial-number", UNIT, "--results-dir", str(results), "-p", "no:cacheprovider", "-q"],
        cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _run_file(plan: subprocess.Popen[str], results: Path) -> Path:
    """Wait for the plan; the one run file it wrote."""
    try:
        output, _ = plan.communicate(timeout=300)
    finally:
        _stop(plan)
    assert plan.returncode == 0, output[-3000:]
    (found,) = results.glob("*.h5")
    return found


def _stop(plan: subprocess.Popen[str]) -> None:
    """Kill the plan's process if it still runs, and reap it."""
    if plan.poll() is None:
        plan.kill()
        plan.communicate()


@pytest.fixture(scope="module")
def plan_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """history, baseline: the unit as it is; drifted: its sleep current 1.2 -> 1.5 uA, and a
    drift tolerance for vout in its profile."""
    scratch = tmp_path_factory.mktemp("scratch")
    results = tmp_path_factory.mktemp("results")
    text = PROFILE.read_text(encoding="utf-8")
    drifted = text.replace("  iq_sleep: 1.2e-6       # A", "  iq_sleep: 1.5e-6       # A")
    drifted = drifted.replace(
        "    typ: 3.300\n    max: 3.366\n    conditions: {vin: 5.0}\n",
        "    typ: 3.300\n    max: 3.366\n    conditions: {vin: 5.0}\n    drift: {absolute: 0.01}\n",
        1,
    )
    assert drifted.count("1.5e-6") == 1 and drifted.count("drift:") == 1
    (scratch / "drifted.yaml").write_text(drifted, encoding="utf-8")
    # history and baseline side by side (either may start first), then the drifted run; each
    # in a folder of its own under `results`, the folder of the catalog
    first = {
        name: _start_plan(PROFILE, results / name, scratch) for name in ("history", "baseline")
    }
    try:
        runs = {name: _run_file(plan, results / name) for name, plan in first.items()}
    finally:  # the other one too, when one failed
        for plan in first.values():
            _stop(plan)
    drifted = _start_plan(scratch / "drifted.yaml", results / "drifted", scratch)
    return {**runs, "drifted": _run_file(drifted, results / "drifted")}


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_one_injected_drift_flags_exactly_that_parameter(
    plan_runs: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "compare.json"
    code, out, err = _cli("compare", str(plan_runs["baseline"]), str(plan_runs["drifted"]),
                          "--json", str(target))  # fmt: skip
    assert (code, err) == (1, "")
    data = json.loads(target.read_text(encoding="utf-8"))
    judged = {(p["test_id"], p["name"]): p for p in data["parameters"]}
    assert {key for key, p in judged.items() if p["regression"]} == {(SLEEP, "iq_sleep")}
    assert {p["status"] for key, p in judged.items() if key[1] != "iq_sleep"} == {"same"}
    assert len(judged) == 4 and all(t["status"] == "same" for t in data["tests"])
    iq = judged[(SLEEP, "iq_sleep")]
    assert iq["relative"] == pytest.approx(0.3 / 1.2, rel=0.05)  # the model moved by 0.3 uA
    assert iq["tolerance"]["source"] == "default" and iq["tolerance"]["allowed_by"] == "relative"
    vout = judged[("ldo/test_ldo_basics.py::test_startup_ramp", "vout")]
    assert vout["tolerance"]["absolute"] == 0.01 and vout["tolerance"]["allowed"] == 0.01
    assert vout["tolerance"]["source"].startswith("DUT profile recorded in")
    assert re.search(r"test_quiescent_current\[sleep\] .* iq_sleep .* moved", out), out
    assert "REGRESSION: 1 regression" in out and "\x1b[" not in out  # no colour codes in a log
    # the same unit without the drift: nothing moved
    code, out, _ = _cli("compare", str(plan_runs["history"]), str(plan_runs["baseline"]))
    assert code == 0 and "4 of 4 parameters within tolerance" in out


def test_a_tolerance_file_can_allow_the_drift(plan_runs: dict[str, Path], tmp_path: Path) -> None:
    rules = tmp_path / "tolerances.yaml"
    rules.write_text("schema_version: 1\nparameters:\n  iq_sleep: {relative: 0.3}\n", "utf-8")
    code, out, _ = _cli("compare", str(plan_runs["baseline"]), str(plan_runs["drifted"]),
                        "--tolerance-file", str(rules))  # fmt: skip
    assert code == 0 and "no regression" in out


def test_the_page_shows_the_regressed_row_its_tolerance_and_the_trend(
    plan_runs: dict[str, Path], tmp_path: Path, browser: object
) -> None:
    results = str(plan_runs["baseline"].parent.parent)
    code, _, err = _cli("baseline", "promote", str(plan_runs["baseline"]), "--name", "nightly-ldo",
                        "--results-dir", results)  # fmt: skip
    assert (code, err) == (0, "")
    page_path = tmp_path / "compare.html"
    code, _, err = _cli("compare", "--baseline", "nightly-ldo", str(plan_runs["drifted"]),
                        "--html", str(page_path), "--results-dir", results)  # fmt: skip
    assert (code, err) == (1, "")
    page = browser.open(page_path, "compare")  # type: ignore[attr-defined]
    text = page.text
    assert text.startswith("REGRESSION BT-LDO33")
    row = re.search(r"test_quiescent_current\[sleep\] iq_sleep (.*?) moved", text)
    assert row is not None, text
    cells = row.group(1)  # baseline, run, shift, relative, sigma, allowed, tolerance, source
    assert re.match(
        r"1\.2\d* µA 1\.5\d* µA \+30\d(\.\d+)? nA \+2\d\.\d\d % — ± 6\d(\.\d+)? nA "
        r"\(relative\) 5 % of baseline, 3 σ default$",
        cells,
    ), cells
    assert "1 regression. 4 parameters: 1 moved, 3 same." in text
    assert f"Baseline nightly-ldo {plan_runs['baseline']}" in text  # resolved by the catalog
    trends = re.findall(r'<svg class="trend".*?</svg>', page.dom, re.S)
    assert len(trends) == 1 and 'aria-label="trend of iq_sleep in ' + SLEEP in trends[0]
    circles = re.findall(r'<circle class="(history|baseline|run)" cx="([\d.]+)" cy="([\d.]+)" r=',
                         trends[0])  # fmt: skip
    points = [(role, float(x), float(y)) for role, x, y in circles]
    roles = [role for role, *_ in points]
    assert roles.count("history") == 1 + 1 and roles.count("baseline") == 1 + 1  # + legend
    assert roles.count("run") == 1 + 1
    # the data markers come first, in role order; the legend's three circles last
    history, base, run = (
        next(p for p in points if p[0] == r) for r in ("history", "baseline", "run")
    )
    assert max(history[1], base[1]) < run[1]  # the drifted run came last: furthest right
    assert run[2] < base[2] - 50 and history[2] == base[2]  # the drift is far above, in pixels
    assert "3 readings: 1 from earlier runs in the catalog, 1 of the baseline, 1 of the run" in text
    assert page.screenshot.stat().st_size > 10_000
