"""The command line gives usage or one clear message, never a traceback or a wrong suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHTEST = [sys.executable, "-m", "benchtest.cli"]


def benchtest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENCHTEST, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_run_without_plans_gives_usage_and_runs_nothing() -> None:
    done = benchtest("run", "--sim")  # from the repository, whose testpaths is tests/
    assert done.returncode == 2, done.stdout + done.stderr
    assert "usage: benchtest run" in done.stderr
    assert "name the plans to run" in done.stderr
    assert "passed" not in done.stdout and "collected" not in done.stdout


def test_run_without_a_bench_says_so_once() -> None:
    done = benchtest("run", "test_plans/ldo", "-p", "no:cacheprovider")
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert output.count("--bench") == 1 and "--sim" in output, output
    assert "ERROR at setup" not in output and "Traceback" not in output


def test_plain_pytest_on_plans_without_a_bench_says_so_once(pytester: pytest.Pytester) -> None:
    """The sibling: the plans run by pytest itself, without --bench, --dut or --sim."""
    pytester.makepyfile(
        test_plan="import pytest\n\n@pytest.mark.parametrize('n', range(20))\n"
        "def test_x(n, measure):\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert text.count("benchtest plans") == 1, text
    assert "--sim" in text and "ERROR at setup" not in text


def test_an_ordinary_suite_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x():\n    assert True\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_run_help_shows_the_bench_options() -> None:
    done = benchtest("run", "--help")
    assert done.returncode == 0
    for option in ("--sim", "--serial-number", "--results-dir", "--strict-bench", "--lot"):
        assert option in done.stdout, option


@pytest.mark.parametrize("socket", ["foo", "host:", ":5025", "host:port", "host:99999"])
def test_scan_with_a_bad_socket_gives_usage(socket: str) -> None:
    done = benchtest("scan", "--no-identify", "--socket", socket)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "usage: benchtest scan" in done.stderr and "HOST:PORT" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf", "x"])
def test_scan_with_a_bad_timeout_gives_usage(timeout: str) -> None:
    done = benchtest("scan", "--no-identify", "--timeout", timeout)
    assert done.returncode == 2 and "usage: benchtest scan" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_run_hands_pytest_options_to_pytest_in_any_order(tmp_path: Path) -> None:
    """`-k EXPR` before the plans: EXPR is pytest's, not a plan."""
    done = benchtest(
        "run", "--sim", "-k", "startup", str(REPO / "test_plans" / "ldo" / "test_ldo_basics.py"),
        "--results-dir", str(tmp_path), "-p", "no:cacheprovider",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 2 deselected" in done.stdout
    # run reads the plugin's options before pytest starts, and pytest does not say it could not
    # rewrite the plugin's modules
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_scan_called_from_python_with_a_bad_socket_raises_a_benchtest_error() -> None:
    from benchtest import BenchtestError
    from benchtest.cli.discovery import scan

    with pytest.raises(BenchtestError, match="HOST:PORT"):
        scan(identify=False, sockets=["foo"])
