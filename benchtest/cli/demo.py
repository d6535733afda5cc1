"""`benchtest demo`: the example plan on the simulated bench, ending in a run file and a report.

It needs nothing but the install: the bench, DUT profile and plan ship with benchtest. The
simulated bench runs for the length of the demo and is gone when it ends, Ctrl-C included.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchtest.config.assets import DEFAULT_BENCH, DEMO_DUT, DEMO_PLANS, asset


class _RunFileCatcher:
    """A pytest plugin object that remembers where the run file went."""

    def __init__(self) -> None:
        self.path: Path | None = None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # Imported here: the plugin's modules must be first imported by pytest itself, so that
        # its assertion rewriting applies to them.
        from benchtest.plugin.dut_sessions import run_file

        self.path = run_file(config)


def run_demo(results_dir: Path, pytest_args: list[str] | None = None) -> int:
    """Run the demo; return an exit code (0 when every test passed)."""
    from benchtest.report import write_report

    plans = asset(DEMO_PLANS)
    catcher = _RunFileCatcher()
    args = [
        str(plans),
        "--sim",
        "--bench",
        str(asset(DEFAULT_BENCH)),
        "--dut",
        str(asset(DEMO_DUT)),
        "--results-dir",
        str(results_dir),
        "--serial-number",
        "SIM-0001",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(plans.parent),
        *(pytest_args or []),
    ]
    code = int(pytest.main(args, plugins=[catcher]))
    if catcher.path is None or not catcher.path.exists():
        print("benchtest demo: no run file was written", file=sys.stderr)
        return code or 1
    report = write_report(catcher.path)
    print(f"Run file: {catcher.path.resolve()}")
    print(f"Report:   {report.resolve()}")
    if code == pytest.ExitCode.INTERRUPTED:
        return 130
    return code
