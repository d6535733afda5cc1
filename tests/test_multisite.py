"""Multi-site benches: each pytest-xdist worker tests one site; shared instruments are claimed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_multisite_merge import nxdata_groups

from benchtest import Bench, ConfigError
from benchtest.report.html import render_report
from benchtest.results import open_run

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"

TWO_SITES = """
schema_version: 1
name: two-site LDO bench
instruments:
  scope: {driver: rigol.ds1000z, resource: sim://scope, options: {timeout: 10.0}}
sites:
  A:
    instruments:
      smu: {driver: keithley.k2450, resource: sim://smu}
      uart: {driver: serial.debug_port, resource: sim://uart}
  B:
    instruments:
      smu: {driver: keithley.k2450, resource: sim://smu}
      uart: {driver: serial.debug_port, resource: sim://uart}
"""


def test_a_site_sees_its_own_roles_and_the_shared_ones(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(TWO_SITES, encoding="utf-8")
    bench = Bench.load(path)
    assert list(bench.sites) == ["A", "B"] and list(bench.roles) == ["scope"]
    site_b = bench.for_site("B")
    assert (site_b.site, sorted(site_b.roles), site_b.shared) == (
        "B",
        ["scope", "smu", "uart"],
        frozenset({"scope"}),
    )
    with pytest.raises(ConfigError, match="no site 'C'; sites: A, B"):
        bench.for_site("C")


def test_a_role_both_shared_and_a_sites_own_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(
        TWO_SITES.replace(
            "      uart: {driver: serial.debug_port, resource: sim://uart}\n  B:",
            "      scope: {driver: rigol.ds1000z, resource: x}\n  B:",
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"sites\.A\.instruments\.scope: role 'scope' is also a shared instrument"
    ):
        Bench.load(path)


def test_every_site_runs_the_plan_in_its_own_worker(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text, bench=TWO_SITES)
    pytester.makepyfile(test_ldo_basics=PLAN.read_text(encoding="utf-8"))
    result = pytester.runpytest_subprocess(
        "--sim",
        "--bench",
        "bench.yaml",
        "--dut",
        "ldo.yaml",
        "--results-dir",
        "results",
        "-n",
        "2",
        "--serial-number",
        "A=U0001,B=U0002",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*gw0 -> site A, gw1 -> site B*"])
    files = sorted((pytester.path / "results").glob("*.h5"))
    # The controller merged the sites' run files into one and removed them after checking it.
    assert [f.name.split("_", 1)[1] for f in files] == ["BT-LDO33.h5"]
    result.stdout.fnmatch_lines([f"run file: *{files[0].name}"])
    with open_run(files[0]) as run:
        assert json.loads(run.metadata["sites"]) == {"A": "U0001", "B": "U0002"}
        assert len(json.loads(run.metadata["merged_from"])) == 2
        assert run.outcome == "passed" and not run.problems
        by_site = {site: {t.id for t in run.tests if t.conditions["site"] == site} for site in "AB"}
        assert by_site["A"] == by_site["B"] and len(by_site["A"]) == 3
        for test in run.tests:
            serial = {"A": "U0001", "B": "U0002"}[test.conditions["site"]]
            assert test.conditions["serial_number"] == serial
            for row in test.measurements:
                conditions = json.loads(row["conditions"])
                assert (conditions["site"], conditions["serial_number"]) == (
                    test.conditions["site"],
                    serial,
                )
        names = {str(n) for n in run.measurements["name"]}
        assert names == {"iq_active", "iq_sleep", "vout", "t_startup"}
        assert {str(r) for r in run.instruments["role"]} >= {"A:smu", "B:smu", "A:scope"}
        waveforms = [w for t in run.tests for w in t.waveforms]
        assert waveforms and "<html" in render_report(run).lower()
    assert nxdata_groups(files[0]) == len(waveforms)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "has sites A, B: choose one with --site NAME, or test them all at once with -n 2"),
        (("-n", "3"), "has 2 sites (A, B): run with -n 2 (or -n auto), one worker per site"),
        (("--site", "Z"), "has no site 'Z'; sites: A, B"),
    ],
)
def test_site_selection_mistakes_are_explained(
    pytester: pytest.Pytester, ldo_profile_text: str, args: tuple[str, ...], words: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text, bench=TWO_SITES)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--sim", "--bench", "bench.yaml", "--dut", "ldo.yaml", *args
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_a_single_site_bench_refuses_parallel_workers(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--sim", "--dut", "ldo.yaml", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is a single-site bench" in result.stderr.str()
