"""A multi-site run whose sites do not all end normally: a site's worker killed, one stopped by
SIGTERM, the whole run cancelled. No worker is restarted, no file is merged from part of the
sites, every site's run file is kept and named, and the run ends with a clear status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_multisite import TWO_SITES

from benchtest import Bench
from benchtest.plugin.configuration import worker_site
from benchtest.results import open_run

# Site A's worker (gw0) meets SIGNAL in the middle test; site B runs the whole plan.
PLAN = """
import os
import signal


def test_first(smu):
    smu.source_voltage(1.0, current_limit=0.01)


def test_second(smu, request):
    smu.output_on()
    if request.config.workerinput["workerid"] == "gw0":
        os.kill(os.getpid(), signal.{signal})


def test_third(smu):
    smu.source_voltage(1.0, current_limit=0.01)
"""

# Each site notes that its test runs, then waits to be stopped.
WAITING_PLAN = """
import time
from pathlib import Path


def test_waits_to_be_stopped(smu, request):
    smu.output_on()
    Path(request.config.workerinput["workerid"] + ".running").touch()
    time.sleep(60)
"""

ARGS = (
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


def _site_files(folder: Path) -> dict[str, Path]:
    """The run files in `folder`, by site ("" for a merged one)."""
    files = {}
    for path in sorted((folder / "results").glob("*.h5")):
        stem = path.stem
        files[stem.rsplit("_site-", 1)[1] if "_site-" in stem else ""] = path
    return files


def _assert_each_named_once(output: str, files: dict[str, Path]) -> None:
    named = [line for line in output.splitlines() if line.startswith("run file: ")]
    assert sorted(Path(line.removeprefix("run file: ")).name for line in named) == sorted(
        path.name for path in files.values()
    ), output


@pytest.fixture
def two_sites(pytester: pytest.Pytester, ldo_profile_text: str) -> pytest.Pytester:
    pytester.makefile(".yaml", ldo=ldo_profile_text, bench=TWO_SITES)
    return pytester


def _run_with_site_a_stopped(
    two_sites: pytest.Pytester, signum: str, status: pytest.ExitCode, why: str
) -> dict[str, Path]:
    """Run the plan with site A's worker meeting `signum`: the run ends with `status` and
    keeps both sites' run files, each named once, saying `why`; no traceback, no restart."""
    two_sites.makepyfile(test_plan=PLAN.format(signal=signum))
    result = two_sites.runpytest_subprocess(*ARGS, timeout=60)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == status, output
    assert "Traceback" not in output and "replacing crashed worker" not in output
    result.stdout.fnmatch_lines(
        [f"benchtest: the sites' run files are kept as they wrote them, not merged: {why}"]
    )
    files = _site_files(two_sites.path)
    assert sorted(files) == ["A", "B"], output  # no merged file of a part of the sites
    _assert_each_named_once(output, files)
    return files


def test_a_killed_sites_worker_is_not_restarted_and_the_other_sites_file_is_kept(
    two_sites: pytest.Pytester,
) -> None:
    why = "site A's worker gw0 died (Not properly terminated) and is not restarted"
    files = _run_with_site_a_stopped(two_sites, "SIGKILL", pytest.ExitCode.TESTS_FAILED, why)
    with open_run(files["B"]) as run:
        assert (run.outcome, len(run.tests)) == ("passed", 3)
    with open_run(files["A"]) as run:  # as the killed worker left it: its first test kept
        assert [t.id.rsplit("::", 1)[1] for t in run.tests][:1] == ["test_first"]


def test_a_site_stopped_by_sigterm_keeps_every_sites_file_once(
    two_sites: pytest.Pytester,
) -> None:
    why = "site A's worker gw0 was interrupted"
    files = _run_with_site_a_stopped(two_sites, "SIGTERM", pytest.ExitCode.INTERRUPTED, why)
    outcomes = {}
    for site, path in files.items():
        with open_run(path) as run:
            assert run.metadata["site"] == site
            outcomes[site] = (run.outcome, [t.id.rsplit("::", 1)[1] for t in run.tests])
    assert outcomes == {
        "A": ("interrupted", ["test_first", "test_second"]),
        "B": ("passed", ["test_first", "test_second", "test_third"]),
    }


def _wait_for(paths: list[Path], run: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            output = run.communicate()[0].decode()
            pytest.fail(f"the sites did not start their test:\n{output}")
        time.sleep(0.05)


def test_sigterm_to_the_controller_alone_stops_every_site_and_names_their_files(
    two_sites: pytest.Pytester,
) -> None:
    """A CI cancel that reaches the controller only: it ends as an interrupt and passes the
    stop on to the sites, which make their bench safe and close their files as interrupted,
    before xdist would kill them."""
    two_sites.makepyfile(test_plan=WAITING_PLAN)
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", *ARGS],
        cwd=two_sites.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for([two_sites.path / "gw0.running", two_sites.path / "gw1.running"], run, 30.0)
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=30)[0].decode()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output and "cannot send" not in output
    files = _site_files(two_sites.path)
    assert sorted(files) == ["A", "B"], output
    _assert_each_named_once(output, files)
    assert "site A's worker gw0 was interrupted; site B's worker gw1 was interrupted" in output
    for path in files.values():
        with open_run(path) as record:
            assert record.outcome == "interrupted"
            # Its only test was stopped with the output on: made safe after the stop.
            log = record.safe_state_log
            assert "smu" in {str(role) for role in log["role"]} and log["ok"].all(), log


def test_a_multi_site_bench_refuses_worker_restarts(two_sites: pytest.Pytester) -> None:
    two_sites.makepyfile("def test_nothing():\n    pass\n")
    result = two_sites.runpytest_subprocess(*ARGS, "--max-worker-restart", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "a site's worker is not restarted" in result.stderr.str()


@pytest.mark.parametrize(
    ("worker", "site"), [("gw0", "A"), ("gw1", "B"), ("gw2", None), ("gwx", None), ("", None)]
)
def test_each_worker_tests_the_site_of_its_number(
    tmp_path: Path, worker: str, site: str | None
) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(TWO_SITES, encoding="utf-8")
    assert worker_site(Bench.load(path), worker) == site
