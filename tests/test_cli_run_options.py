"""`benchtest run --help` lists the bench options pytest accepts, as the plugin declares them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchtest.cli.commands import main


def run_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


def pytest_bench_options() -> set[str]:
    """The options of pytest's `benchtest` group, as `pytest --help` lists them."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    section = done.stdout.split("bench testing (benchtest):", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^  (--[a-z][a-z-]*)", section, flags=re.MULTILINE))


def test_run_help_lists_the_instrument_retries_option(capsys: pytest.CaptureFixture[str]) -> None:
    text = run_help(capsys)
    assert "--instrument-retries N" in text
    assert "fresh connection" in text  # with the plugin's help, not a second one


def test_run_help_lists_every_bench_option_pytest_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = pytest_bench_options()
    assert {"--bench", "--sim", "--instrument-retries", "--progress"} <= options
    listed = set(re.findall(r"(--[a-z][a-z-]*)", run_help(capsys)))
    assert options - listed == set()


def test_run_checks_a_bench_option_value_with_the_plugin_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "test_plans/ldo", "--instrument-retries", "many"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "usage: benchtest run" in error and "--instrument-retries" in error and "'many'" in error


def test_other_commands_do_not_import_the_plugin() -> None:
    """`benchtest scan`, `check`, `--version` start without loading the pytest plugin."""
    code = (
        "import sys; from benchtest.cli.commands import _parser, _command_of\n"
        "_parser(run_options=_command_of(['scan', '--no-identify']) == 'run')\n"
        "print('benchtest.plugin.configuration' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
