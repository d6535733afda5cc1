"""--progress: a live status per site on a terminal, one line per finished test in a CI log."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from test_multisite import TWO_SITES

from benchtest.plugin.progress import (
    ERASE_BELOW,
    Progress,
    StatusBelow,
    choose_mode,
    column_after,
    finished_line,
    site_summary,
    status_lines,
)

#: Passes, fails a limit, meets bench trouble (an error, not the DUT's failure), is skipped,
#: and passes on its second attempt (on every site).
PLAN = """
import os
from pathlib import Path
import pytest
from benchtest.values.errors import InstrumentTimeoutError

def test_iq_sleep(measure):
    measure("iq_sleep", 1.0e-6)

def test_iq_active(measure):
    measure("iq_active", 99e-6)

def test_smu_silent():
    raise InstrumentTimeoutError("no answer", role="smu", command=":READ?")

@pytest.mark.skip(reason="no chamber on this bench")
def test_hot():
    pass

@pytest.mark.retry(1)
def test_flaky_contact(measure):
    first = Path(f"attempt-{os.environ.get('PYTEST_XDIST_WORKER', 'single')}")
    measure("iq_sleep", 1.0e-6 if first.exists() else 3.0e-6)
    first.touch()
"""
TESTS = ["t.py::test_iq_sleep", "t.py::test_iq_active", "t.py::test_hot", "t.py::test_flaky"]


def screen(output: str) -> list[str]:
    """What a terminal shows after `output`: lines, cursor moves and erasing as a VT100 does
    them (a newline also returns the carriage, as the terminal driver makes it)."""
    rows: list[list[str]] = [[]]
    row = column = 0
    for token in re.findall(r"\x1b\[(\d*)([A-Za-z])|(\n)|(\r)|([^\x1b\r\n])", output):
        count, command, newline, carriage, char = token
        if newline:
            row, column = row + 1, 0
            rows.extend([] for _ in range(row + 1 - len(rows)))
        elif carriage:
            column = 0
        elif char:
            line = rows[row]
            line.extend(" " for _ in range(column + 1 - len(line)))
            line[column] = char
            column += 1
        elif command == "A":
            row = max(row - int(count or 1), 0)
        elif command == "C":
            column += int(count or 1)
        elif command == "J":
            rows[row] = rows[row][:column]
            del rows[row + 1 :]
    return ["".join(line).rstrip() for line in rows]


def two_sites() -> Progress:
    progress = Progress(["A", "B"])
    progress.collected("B", "U0002", TESTS, now=100.0)  # its worker was quicker
    progress.collected("A", "U0001", TESTS, now=100.0)
    return progress


def run_test(progress: Progress, site: str, test: str, *categories: str) -> None:
    """Feed the reports of one attempt: setup, call (when given), teardown."""
    phases = ["setup", "call", "teardown"] if len(categories) == 3 else ["setup", "teardown"]
    for when, category in zip(phases, categories, strict=True):
        progress.record(site, test, when, category, 0.25, now=160.0)


def test_a_site_counts_each_test_once_by_its_worst_phase() -> None:
    progress = two_sites()
    run_test(progress, "A", TESTS[0], "", "passed", "error")  # teardown trouble
    run_test(progress, "A", TESTS[1], "", "failed", "")
    run_test(progress, "A", TESTS[2], "skipped", "")
    a, b = progress.sites["A"], progress.sites["B"]
    assert (a.done, dict(a.outcomes), a.current) == (
        3,
        {"error": 1, "failed": 1, "skipped": 1},
        TESTS[3],
    )
    assert (b.done, b.current, b.ended) == (0, TESTS[0], None)


def test_a_retried_attempt_is_a_rerun_and_the_test_keeps_running() -> None:
    progress = two_sites()
    for test in TESTS[:3]:
        run_test(progress, "A", test, "", "passed", "")
    progress.record("A", TESTS[3], "setup", "", 0.1, now=170.0)
    progress.record("A", TESTS[3], "call", "rerun", 0.5, now=170.0)
    rerun = progress.record("A", TESTS[3], "teardown", "", 0.1, now=170.0)
    site = progress.sites["A"]
    assert rerun is not None and (rerun.outcome, rerun.attempt) == ("rerun", 1)
    assert rerun.seconds == pytest.approx(0.7)
    assert (site.done, site.current, site.attempt) == (3, TESTS[3], 2)
    run_test(progress, "A", TESTS[3], "", "passed", "")
    assert (site.done, site.current, site.ended) == (4, None, 160.0)
    assert dict(site.outcomes) == {"passed": 4, "rerun": 1}


def test_status_shows_every_site_its_dut_counts_time_and_test() -> None:
    progress = two_sites()
    run_test(progress, "A", TESTS[0], "", "passed", "")
    run_test(progress, "A", TESTS[1], "", "failed", "")
    progress.record("A", TESTS[2], "setup", "", 0.0, now=0.0)
    for test in TESTS:
        run_test(progress, "B", test, "", "passed", "")
    assert status_lines(progress, now=225.0, width=80) == [
        "A  U0001  2/4  2:05  1 passed, 1 failed  t.py::test_hot",
        "B  U0002  4/4  1:00  4 passed            done",
    ]
    narrow = status_lines(progress, now=225.0, width=54)[0]
    assert narrow == "A  U0001  2/4  2:05  1 passed, 1 failed  ...:test_hot"  # the name kept


def test_a_single_site_without_serial_shows_just_its_progress() -> None:
    progress = Progress()
    progress.collected("", "", TESTS, now=0.0)
    progress.record("", TESTS[0], "setup", "", 0.0, now=1.0)
    progress.record("", TESTS[0], "call", "rerun", 0.4, now=1.0)
    rerun = progress.record("", TESTS[0], "teardown", "", 0.1, now=1.0)
    assert status_lines(progress, now=3725.0, width=80) == [
        "0/4  1:02:05  0 passed, 1 rerun  t.py::test_iq_sleep (attempt 2)"
    ]
    assert rerun is not None
    assert finished_line(rerun) == "[0/4] RERUN   t.py::test_iq_sleep (attempt 1) 0.50s"


def test_a_log_line_names_site_dut_count_outcome_test_and_duration() -> None:
    progress = two_sites()
    progress.record("B", TESTS[0], "setup", "", 0.25, now=101.0)
    progress.record("B", TESTS[0], "call", "failed", 1.5, now=101.0)
    finished = progress.record("B", TESTS[0], "teardown", "", 0.0, now=101.0)
    assert finished is not None
    assert finished_line(finished) == "[B U0002 1/4] FAILED  t.py::test_iq_sleep 1.75s"
    assert site_summary(progress.sites["B"], now=104.0) == (
        "site B U0002: 1/4 tests, 0 passed, 1 failed in 0:04"
    )


@pytest.mark.parametrize(
    ("asked", "terminal", "multi_site", "verbose", "mode"),
    [
        ("auto", True, True, False, "live"),
        ("auto", True, False, True, "live"),
        ("auto", False, True, False, "lines"),
        ("auto", False, True, True, "off"),  # -v prints a line per test and worker already
        ("auto", False, False, False, "off"),  # one site: -v is that line
        ("lines", False, False, True, "lines"),
        ("live", False, False, False, "live"),
        ("off", True, True, False, "off"),
    ],
)
def test_auto_is_live_on_a_terminal_and_lines_in_a_multi_site_log(
    asked: str, terminal: bool, multi_site: bool, verbose: bool, mode: str
) -> None:
    assert choose_mode(asked, terminal=terminal, multi_site=multi_site, verbose=verbose) == mode


def test_the_cursor_column_ignores_colours_and_restarts_at_line_ends() -> None:
    assert column_after(4, "\x1b[32m..\x1b[0m") == 6
    assert column_after(4, "F\nt.py ") == 5
    assert column_after(9, "\rready") == 5


def test_the_status_stays_below_pytests_output_and_goes_at_the_end() -> None:
    terminal = io.StringIO()
    status = ["A  U0001  1/4", "B  U0002  0/4"]
    below = StatusBelow(terminal, lambda width, height: status)
    below.write("t.py .")
    below.redraw()
    assert screen(terminal.getvalue()) == ["t.py .", *status]
    status[1] = "B  U0002  1/4"
    below.write(".")
    below.write("F\n")
    below.write("t2.py s")
    assert screen(terminal.getvalue()) == ["t.py ..F", "t2.py s", *status]
    below.erase()
    below.file.write("[100%]\n== 1 failed ==\n")  # pytest's summary, after the status went
    assert screen(terminal.getvalue()) == ["t.py ..F", "t2.py s[100%]", "== 1 failed ==", ""]
    assert terminal.getvalue().startswith(ERASE_BELOW + "t.py .")


COMMON = ("--sim", "--dut", "ldo.yaml", "--results-dir", "results", "-p", "no:cacheprovider")
MULTI_SITE = ("--bench", "bench.yaml", "-n", "2", "--serial-number", "A=U0001,B=U0002")


def _run(pytester: pytest.Pytester, profile: str, *args: str) -> pytest.RunResult:
    pytester.makefile(".yaml", ldo=profile, bench=TWO_SITES)
    pytester.makepyfile(test_plan=PLAN)
    return pytester.runpytest_inprocess(*COMMON, *args)


def expected_lines(label: str) -> list[str]:
    """The log lines of PLAN's tests on the site (and DUT) `label`, as fnmatch patterns."""
    return [
        f"[[]{label} 1/5] PASSED  test_plan.py::test_iq_sleep *s",
        f"[[]{label} 2/5] FAILED  test_plan.py::test_iq_active *s",
        f"[[]{label} 3/5] ERROR   test_plan.py::test_smu_silent *s",
        f"[[]{label} 4/5] SKIPPED test_plan.py::test_hot *s",
        f"[[]{label} 4/5] RERUN   test_plan.py::test_flaky_contact (attempt 1) *s",
        f"[[]{label} 5/5] PASSED  test_plan.py::test_flaky_contact (attempt 2) *s",
    ]


def test_a_multi_site_log_gets_one_line_per_test_and_site(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    result = _run(pytester, ldo_profile_text, *MULTI_SITE)
    assert result.parseoutcomes() == {"passed": 4, "failed": 4, "skipped": 2, "rerun": 2}
    for label in ("A U0001", "B U0002"):
        result.stdout.fnmatch_lines(expected_lines(label))
    assert not [line for line in result.stdout.lines if re.match(r"[.FsR]{2}", line)]  # no dots
    result.stdout.fnmatch_lines(
        [
            "*- benchtest sites -*",
            "site A U0001: 5/5 tests, 2 passed, 1 failed, 1 error, 1 skipped, 1 rerun in *",
            "site B U0002: 5/5 tests, 2 passed, 1 failed, 1 error, 1 skipped, 1 rerun in *",
        ]
    )


def test_the_live_status_leaves_pytests_output_as_it_was(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    pytester.makefile(".yaml", ldo=ldo_profile_text, bench=TWO_SITES)
    pytester.makepyfile(test_plan=PLAN)
    done = subprocess.run(  # not pytester's run: it splits the output at "\r" too
        [sys.executable, "-m", "pytest", *COMMON, *MULTI_SITE, "--progress", "live"],
        cwd=pytester.path,
        capture_output=True,
        timeout=120,
    )
    output = done.stdout.decode()  # as written: no text mode, which reads "\r" as "\n"
    assert "4 failed, 4 passed, 2 skipped, 2 rerun in" in output, output + done.stderr.decode()
    for label in ("A  U0001", "B  U0002"):  # drawn while the tests ran
        assert re.search(rf"\n(\x1b\[\d+m)?{label}  \d/5  \d:\d\d  \d passed", output)
    shown = screen(output)
    assert not [line for line in shown if "U0001  " in line]  # and gone at the end
    assert "4 failed, 4 passed, 2 skipped, 2 rerun in" in shown[-2]
    progress_line = next(line for line in shown if line.endswith("[100%]"))
    assert sorted(progress_line.split()[0]) == sorted("..FFFFssRR..")
    assert "site B U0002: 5/5 tests, 2 passed, 1 failed, 1 error, 1 skipped, 1 rerun in " in output


def test_a_single_site_gets_lines_when_asked(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    result = _run(pytester, ldo_profile_text, "--serial-number", "U0042", "--progress", "lines")
    assert result.parseoutcomes() == {"passed": 2, "failed": 2, "skipped": 1, "rerun": 1}
    result.stdout.fnmatch_lines(expected_lines("U0042"))
    assert "benchtest sites" not in result.stdout.str()


def test_a_single_site_log_is_left_to_pytest(
    pytester: pytest.Pytester, ldo_profile_text: str
) -> None:
    result = _run(pytester, ldo_profile_text)
    assert result.parseoutcomes() == {"passed": 2, "failed": 2, "skipped": 1, "rerun": 1}
    result.stdout.fnmatch_lines(["test_plan.py .FFsR. *[[]100%]"])
    assert ERASE_BELOW not in result.stdout.str()


#: Counts how often pytest_report_teststatus is asked about each report, in the process that
#: reports (the controller on a multi-site run).
COUNTING_CONFTEST = """
import collections
ASKED = collections.Counter()

def pytest_report_teststatus(report):
    ASKED[id(report)] += 1

def pytest_sessionfinish(session):
    # The controller (or the one process) writes; an xdist worker has `workerinput`. (Not the
    # PYTEST_XDIST_WORKER variable: it is inherited when this suite itself runs under xdist.)
    if not hasattr(session.config, "workerinput"):
        with open("asked.txt", "w") as f:
            f.write(" ".join(map(str, sorted(set(ASKED.values())))))
"""


@pytest.mark.parametrize(
    "sites", [("--serial-number", "U0042"), MULTI_SITE], ids=["one site", "two sites"]
)
def test_progress_asks_no_report_its_status_again(
    pytester: pytest.Pytester, ldo_profile_text: str, sites: tuple[str, ...]
) -> None:
    # The terminal reporter asks for each report's status; progress lines take it from there.
    pytester.makeconftest(COUNTING_CONFTEST)
    result = _run(pytester, ldo_profile_text, *sites, "--progress", "lines")
    assert result.parseoutcomes()["rerun"] == (2 if sites == MULTI_SITE else 1)
    assert (pytester.path / "asked.txt").read_text() == "1"  # every report asked exactly once
    result.stdout.fnmatch_lines(expected_lines("A U0001" if sites == MULTI_SITE else "U0042"))
