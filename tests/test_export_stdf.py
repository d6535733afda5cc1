"""STDF export: every PTR carries the run file's value, limits and unit, every PRR the unit's
outcome, read back by two readers that share no code with the writer (stdf-convert, pystdf).

The runs are a real plan on the simulated bench, and runs written from events for the edge
cases: NaN, one-sided and missing limits, skipped, errored and retried tests, interrupted
and killed runs, a merged multi-site run, a retested unit, names longer than STDF allows.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from export_cases import (
    LONG,
    MULTI_SITE_BENCH,
    StdfPart,
    Test,
    edge_tests,
    float32,
    judge,
    read_pystdf,
    read_stdf_convert,
    records_of,
    same_r4,
    stdf_parts,
    write_run,
)

from benchtest.cli.commands import main
from benchtest.export import numbering
from benchtest.export.formats import export_runs
from benchtest.results import open_run
from benchtest.run.site_merge import merge_runs

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"
#: part outcome -> (hard bin, soft bin, PART_FLG) as docs/export.md gives the bin map
BIN_MAP = {
    "passed": (1, 1, 0x00),
    "marginal": (1, 2, 0x00),
    "failed": (2, 3, 0x08),
    "error": (3, 4, 0x08),
    "interrupted": (4, 5, 0x14),
    "incomplete": (4, 6, 0x14),
}


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The LDO basics plan, run with --sim: a real run file."""
    folder = tmp_path_factory.mktemp("sim")
    (folder / "test_ldo_basics.py").write_text(PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    profile = REPO / "dut_profiles" / "bt_ldo33.yaml"
    env = {
        **os.environ,
        "BENCHTEST_LOCK_DIR": str(tmp_path_factory.mktemp("locks")),
        "TMPDIR": str(tmp_path_factory.mktemp("tmp")),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "test_ldo_basics.py", "--sim",
         f"--dut={profile}", "--results-dir", "results", "--serial-number", "U0007",
         "-p", "no:cacheprovider"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = (folder / "results").glob("*.h5")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run files written from events, one per edge case, in the order they were tested."""
    folder = tmp_path_factory.mktemp("runs")
    passing = [Test("plans/test_a.py::test_vout", "passed", [judge("vout", 3.3, "V", 3.2, 3.4)])]
    site_a = write_run(
        folder / "site_a.h5", passing, serial="U1", outcome="passed", minute=0, site="A",
        bench_text=MULTI_SITE_BENCH,
    )  # fmt: skip
    failing = [Test("plans/test_a.py::test_vout", "failed", [judge("vout", 3.5, "V", 3.2, 3.4)])]
    site_b = write_run(
        folder / "site_b.h5", failing, serial="U2", outcome="failed", minute=0, site="B",
        bench_text=MULTI_SITE_BENCH,
    )  # fmt: skip
    killed = [
        Test("plans/test_a.py::test_vout", "passed", [judge("vout", 3.3, "V", 3.2, 3.4)]),
        Test("plans/test_a.py::test_cut", None, [judge("iq", 5e-6, "A", high=6e-6)]),
    ]
    marginal = [
        Test("plans/test_a.py::test_vout", "passed", [judge("vout", 3.39, "V", 3.2, 3.4, 0.02)])
    ]
    return {
        "merged": merge_runs([site_a, site_b], folder / "merged.h5"),
        "edges": write_run(
            folder / "edges.h5", edge_tests(), serial="E1", outcome="error", minute=1
        ),
        "interrupted": write_run(
            folder / "interrupted.h5", passing, serial="I1", outcome="interrupted", minute=2
        ),
        "killed": write_run(folder / "killed.h5", killed, serial="K1", outcome=None, minute=3),
        "marginal": write_run(
            folder / "marginal.h5", marginal, serial="M1", outcome="passed", minute=4
        ),
        "retest": write_run(folder / "retest.h5", passing, serial="E1", outcome="passed", minute=5),
    }


#: (PART_ID, SITE_NUM, outcome) of the parts of `runs`, in test order; B is site 1 because
#: the bench file lists it first
EXPECTED_PARTS = [
    ("U1", 2, "passed"),
    ("U2", 1, "failed"),
    ("E1", 1, "error"),
    ("I1", 1, "interrupted"),
    ("K1", 1, "incomplete"),
    ("M1", 1, "marginal"),
    ("E1", 1, "passed"),
]


@pytest.fixture(scope="module")
def exported(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "lot.stdf"
    # given out of order: the export orders parts by when they were tested
    return export_runs([runs[k] for k in reversed(list(runs))], "stdf", out)


@pytest.fixture(scope="module")
def records(exported: Path) -> list[tuple[str, dict[str, Any]]]:
    return read_stdf_convert(exported)


def expected_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Per site ("" for a single-site run): the measurements of each test's last attempt,
    as the reader gives them: (name, value, unit, low, high, outcome)."""
    with open_run(path) as run:
        last = {t.id: t.attempt for t in run.tests}
        for test in run.tests:
            last[test.id] = max(last[test.id], test.attempt)
        found: dict[str, list[tuple[Any, ...]]] = {}
        for test in run.tests:
            if test.attempt != last[test.id]:
                continue
            site = str(test.conditions.get("site", ""))
            for row in test.measurements.tolist():
                name, value, unit, low, high, outcome = row[:6]
                found.setdefault(site, []).append((name, value, unit, low, high, outcome))
        return found


def assert_ptr_matches(ptr: dict[str, Any], row: tuple[Any, ...], site: int) -> None:
    name, value, unit, low, high, outcome = row
    what = (name, ptr)
    assert ptr["SITE_NUM"] == site and ptr["HEAD_NUM"] == 1, what
    assert same_r4(ptr["RESULT"], value), what
    assert ptr["UNITS"] == unit, what
    if math.isnan(low):
        assert ptr["OPT_FLAG"] & 0x40, what  # no low limit
    else:
        assert not ptr["OPT_FLAG"] & 0x50 and ptr["LO_LIMIT"] == float32(low), what
    if math.isnan(high):
        assert ptr["OPT_FLAG"] & 0x80, what  # no high limit
    else:
        assert not ptr["OPT_FLAG"] & 0xA0 and ptr["HI_LIMIT"] == float32(high), what
    assert ptr["OPT_FLAG"] & 0x0E == 0x0E, what  # reserved bit, no spec limits
    assert bool(ptr["TEST_FLG"] & 0x80) == (outcome == "fail"), what
    assert bool(ptr["TEST_FLG"] & 0x40) == (outcome == "info"), what
    assert bool(ptr["TEST_FLG"] & 0x02) == math.isnan(value), what
    assert bool(ptr["PARM_FLG"] & 0x08) == (value > high), what
    assert bool(ptr["PARM_FLG"] & 0x10) == (value < low), what
    assert ptr["PARM_FLG"] & 0xC0 == 0xC0, what  # a value on a limit passes
    if len(ptr["TEST_TXT"]) < 255:  # not cut; ASCII, other characters as backslash escapes
        name = name.encode("ascii", "backslashreplace").decode("ascii")
        assert ptr["TEST_TXT"].endswith(f" {name}") or f" {name} @ " in ptr["TEST_TXT"], what


def assert_part_matches(part: StdfPart, serial: str, site: int, outcome: str) -> None:
    hard, soft, flags = BIN_MAP[outcome]
    prr = part.prr
    assert (prr["PART_ID"], prr["SITE_NUM"], part.pir["SITE_NUM"]) == (serial, site, site)
    assert (prr["HARD_BIN"], prr["SOFT_BIN"]) == (hard, soft), (serial, prr)
    assert prr["PART_FLG"] & ~0x01 == flags, (serial, prr)
    assert prr["NUM_TEST"] == len(part.ptrs)


def test_sim_run_exports_every_measurement_with_its_limits_and_unit(
    sim_run: Path, tmp_path: Path
) -> None:
    out = export_runs([sim_run], "stdf", tmp_path / "sim.stdf")
    records = read_stdf_convert(out)
    (part,) = stdf_parts(records)
    (rows,) = expected_rows(sim_run).values()
    assert len(part.ptrs) == len(rows) == 4
    for ptr, row in zip(part.ptrs, rows, strict=True):
        assert_ptr_matches(ptr, row, 1)
    assert_part_matches(part, "U0007", 1, "passed")
    scales = {ptr["TEST_TXT"].rsplit(" ", 1)[-1]: ptr["RES_SCAL"] for ptr in part.ptrs}
    assert scales == {"iq_active": 6, "iq_sleep": 6, "vout": 0, "t_startup": 6}  # uA, V, us
    (mir,) = records_of(records, "MIR")
    assert mir["AUX_FILE"] == sim_run.name and mir["PART_TYP"] == "BT-LDO33"
    assert mir["EXEC_TYP"] == "benchtest" and mir["SPEC_NAM"].endswith("bt_ldo33.yaml")
    assert part.dtrs == [f"benchtest run file: {sim_run.name} (run id {_run_id(sim_run)})"]
    assert [r[0] for r in records][:3] == ["FAR", "MIR", "SDR"] and records[-1][0] == "MRR"


def _run_id(path: Path) -> str:
    with open_run(path) as run:
        return str(run.metadata["run_id"])


def test_every_ptr_and_prr_matches_its_run_file(
    runs: dict[str, Path], records: list[tuple[str, dict[str, Any]]]
) -> None:
    parts = stdf_parts(records)
    assert [(p.prr["PART_ID"], p.prr["SITE_NUM"]) for p in parts] == [
        (serial, site) for serial, site, _ in EXPECTED_PARTS
    ]
    merged = expected_rows(runs["merged"])
    expected = [
        merged["A"], merged["B"], *(expected_rows(runs[k])[""] for k in list(runs)[1:])
    ]  # fmt: skip
    for part, rows, (serial, site, outcome) in zip(parts, expected, EXPECTED_PARTS, strict=True):
        assert len(part.ptrs) == len(rows), serial
        for ptr, row in zip(part.ptrs, rows, strict=True):
            assert_ptr_matches(ptr, row, site)
        assert_part_matches(part, serial, site, outcome)


def test_a_second_reader_reads_the_same_file(
    exported: Path, records: list[tuple[str, dict[str, Any]]]
) -> None:
    other = read_pystdf(exported)
    assert [kind for kind, _ in other] == [kind for kind, _ in records]
    fields = ("TEST_NUM", "SITE_NUM", "TEST_FLG", "PARM_FLG", "OPT_FLAG", "UNITS", "TEST_TXT")
    for mine, theirs in zip(records_of(records, "PTR"), records_of(other, "PTR"), strict=True):
        assert {f: mine[f] for f in fields} == {f: theirs[f] for f in fields}
        for f in ("RESULT", "LO_LIMIT", "HI_LIMIT"):
            assert mine[f] == theirs[f] or (math.isnan(mine[f]) and math.isnan(theirs[f]))
    bins = ("PART_ID", "HARD_BIN", "SOFT_BIN", "PART_FLG", "NUM_TEST")
    for mine, theirs in zip(records_of(records, "PRR"), records_of(other, "PRR"), strict=True):
        assert {f: mine[f] for f in bins} == {f: theirs[f] for f in bins}


def test_edge_cases_map_to_stdf_flags(records: list[tuple[str, dict[str, Any]]]) -> None:
    edges = stdf_parts(records)[2]
    by_text = {p["TEST_TXT"].removeprefix("plans/test_edges.py::"): p for p in edges.ptrs}
    nan = by_text["test_nan vref"]
    assert math.isnan(nan["RESULT"]) and nan["TEST_FLG"] == 0x82  # invalid result, failed
    assert by_text["test_one_sided iq"]["OPT_FLAG"] == 0x4E  # no low limit
    assert by_text["test_one_sided vout"]["OPT_FLAG"] == 0x8E  # no high limit
    info = by_text["test_no_limits temp"]
    assert info["OPT_FLAG"] == 0xCE and info["TEST_FLG"] == 0x40 and info["RES_SCAL"] == 0
    assert info["UNITS"] == "degC"
    equal = by_text["test_equal id"]
    assert equal["LO_LIMIT"] == equal["HI_LIMIT"] == 5.0 and equal["TEST_FLG"] == 0
    assert by_text["test_error vdd"]["TEST_FLG"] == 0  # measured before the error: kept
    assert not any("test_skipped" in t for t in by_text)  # nothing measured, nothing written
    (retry,) = [p for t, p in by_text.items() if t.startswith("test_retry")]
    assert retry["RESULT"] == 10.0e6 and retry["TEST_FLG"] == 0  # the last attempt counts
    assert retry["RES_SCAL"] == -6  # MHz
    loads = {t: p["TEST_NUM"] for t, p in by_text.items() if t.startswith("test_load")}
    assert set(loads) == {"test_load vout @ iload=0.01", "test_load vout @ iload=0.1"}
    assert len(set(loads.values())) == 2  # one test per condition
    assert by_text['test_text vout_\\u0394 @ note=quoted "x", and\nnewline, unit=q']


def test_names_past_255_bytes_are_cut_and_stay_distinct(
    exported: Path, records: list[tuple[str, dict[str, Any]]]
) -> None:
    long = [p for p in stdf_parts(records)[2].ptrs if LONG[:50] in p["TEST_TXT"]]
    assert len(long) == 2
    assert all(len(p["TEST_TXT"]) == 255 and p["TEST_TXT"][-9] == "~" for p in long)
    assert long[0]["TEST_TXT"] != long[1]["TEST_TXT"]
    assert long[0]["TEST_NUM"] != long[1]["TEST_NUM"]
    for _, row in records:
        assert row["rec_len"] <= 65_535
        texts = [v for v in row.values() if isinstance(v, str)]
        assert all(len(t.encode("ascii")) <= 255 for t in texts), row


def test_summaries_count_parts_bins_and_tests(records: list[tuple[str, dict[str, Any]]]) -> None:
    pcr = {(r["HEAD_NUM"], r["SITE_NUM"]): r for r in records_of(records, "PCR")}
    total = pcr[(255, 255)]
    assert total["PART_CNT"] == 7 and total["GOOD_CNT"] == 3  # U1, M1, E1 retested
    assert total["ABRT_CNT"] == 2 and total["RTST_CNT"] == 1  # I1 and K1; E1 again
    assert pcr[(1, 2)]["PART_CNT"] == 1 and pcr[(1, 1)]["PART_CNT"] == 6
    hbr = {r["HBIN_NUM"]: r for r in records_of(records, "HBR") if r["HEAD_NUM"] == 255}
    assert {n: (r["HBIN_CNT"], r["HBIN_PF"], r["HBIN_NAM"]) for n, r in hbr.items()} == {
        1: (3, "P", "PASS"), 2: (1, "F", "FAIL"), 3: (1, "F", "ERROR"), 4: (2, "F", "INCOMPLETE")
    }  # fmt: skip
    sbr = {r["SBIN_NUM"]: r["SBIN_CNT"] for r in records_of(records, "SBR") if r["HEAD_NUM"] == 255}
    assert sbr == {1: 2, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}
    retested = [r for r in records_of(records, "PRR") if r["PART_ID"] == "E1"]
    assert [r["PART_FLG"] & 0x01 for r in retested] == [0, 1]  # the later one supersedes
    ptrs = list(records_of(records, "PTR"))
    tsr = {r["TEST_NUM"]: r for r in records_of(records, "TSR") if r["HEAD_NUM"] == 255}
    assert set(tsr) == {p["TEST_NUM"] for p in ptrs}
    for number, summary in tsr.items():
        mine = [p for p in ptrs if p["TEST_NUM"] == number]
        assert summary["EXEC_CNT"] == len(mine) and summary["TEST_TYP"] == "P"
        assert summary["FAIL_CNT"] == sum(bool(p["TEST_FLG"] & 0x80) for p in mine)
        assert summary["TEST_NAM"] == mine[0]["TEST_TXT"]


def test_test_numbers_are_stable_across_runs_and_exports(
    runs: dict[str, Path], records: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    alone = read_stdf_convert(export_runs([runs["retest"]], "stdf", tmp_path / "one.stdf"))
    (ptr,) = records_of(alone, "PTR")
    together = {p["TEST_TXT"]: p["TEST_NUM"] for p in records_of(records, "PTR")}
    assert together[ptr["TEST_TXT"]] == ptr["TEST_NUM"]
    # pinned: a test's number must not change between benchtest versions
    assert ptr["TEST_TXT"] == "plans/test_a.py::test_vout vout"
    assert ptr["TEST_NUM"] == 675_101_881


KILLED = """
import sys, time
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import events_of_test, run_started
from benchtest.values.events import MeasurementRecorded, TestStarted
from benchtest.values.measurement import Limits, Measurement

writer = Hdf5RunWriter(sys.argv[1])
writer(run_started())
for event in events_of_test("plan.py::test_done", "failed", points=200):
    writer(event)
writer(TestStarted("plan.py::test_cut", "2026-11-28T15:43:05+00:00"))
writer(MeasurementRecorded("plan.py::test_cut", Measurement.judge("x", 1, "V", Limits())))
print("ready", flush=True)
time.sleep(60)
"""


def test_a_run_killed_mid_test_exports_what_it_committed_as_incomplete(tmp_path: Path) -> None:
    path, script = tmp_path / "killed.h5", tmp_path / "child.py"
    script.write_text(KILLED)
    child = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    (part,) = stdf_parts(read_stdf_convert(export_runs([path], "stdf", tmp_path / "k.stdf")))
    (rows,) = expected_rows(path).values()
    assert [r[0] for r in rows] == ["iq", "dropout"]  # the committed test; the cut one had none
    for ptr, row in zip(part.ptrs, rows, strict=True):
        assert_ptr_matches(ptr, row, 1)
    assert_part_matches(part, "SN0042", 1, "incomplete")  # though its one test failed


def test_colliding_hashes_get_the_next_free_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numbering, "hashed_number", lambda key: 2**31 - 2)
    assert numbering.number_tests(["c", "a", "b", "a"]) == {"a": 2**31 - 2, "b": 2**31 - 1, "c": 1}


def test_command_line_writes_the_stdf_beside_the_run(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "marginal.h5"
    run.write_bytes(runs["marginal"].read_bytes())
    assert main(["export", str(run), "--format", "STDF"]) == 0
    assert capsys.readouterr().out.strip() == str(run.with_suffix(".stdf"))
    (part,) = stdf_parts(read_stdf_convert(run.with_suffix(".stdf")))
    assert_part_matches(part, "M1", 1, "marginal")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marginal.h5", "marginal.stdf"]
