"""`--resume RUN.h5`: continue a killed run, keeping what finished and running the rest.

At configure time the killed run file is read (`benchtest.run.resume`): the new run takes its
serial number, lot and operator, and writes into its folder. At collection the tests that
finished in it are deselected, and so are the tests of other parts. The DUT session then opens
one new run file, replays the finished tests into it, renames the killed file to
`<name>.resumed`, and runs the rest: one complete run. When nothing is left to run, the session
is opened all the same, so the complete run file is still written. See `docs/resume.md`.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from benchtest.plugin.configuration import SETTINGS, settings
from benchtest.plugin.dut_sessions import (
    ITEM_DUT,
    RESUME,
    activate,
    close_active,
    run_files,
    test_id,
)

if TYPE_CHECKING:
    from benchtest.run.resume import ResumePoint

DEFAULT_RESULTS_DIR = "results"  # --results-dir when not given
POINT: pytest.StashKey[ResumePoint] = pytest.StashKey()
# A test of the resumed part, kept to open its DUT session when no test is left to run.
ANY_ITEM = pytest.StashKey[pytest.Item]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("benchtest")
    group.addoption(
        "--resume",
        metavar="RUN.h5",
        help="continue the killed run in RUN.h5: its finished tests are kept, the others run "
        "again, and one complete run file is written beside it",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("resume", None)
    run = settings(config)
    if not given:
        return
    if run is None:
        raise pytest.UsageError(
            "benchtest: --resume needs a bench run: add --sim, or --bench FILE (and --dut)"
        )
    if run.controller or run.site:
        raise pytest.UsageError("benchtest: --resume resumes a single-site run; drop -n/--site")
    from benchtest.run.resume import ResumeError, read_resume_point

    try:
        point = read_resume_point(given)
    except ResumeError as exc:
        raise pytest.UsageError(f"benchtest: {exc}") from None
    if run.dut is not None and run.dut.name != point.part:
        raise pytest.UsageError(
            f"benchtest: cannot resume {point.path}: it tested {point.part}, and --dut is "
            f"{run.dut.name}"
        )
    option = config.option
    for name, value, was in (
        ("--serial-number", option.serial_number, point.serial_number),
        ("--lot", option.lot, point.lot),
    ):
        if value and value != was:
            raise pytest.UsageError(
                f"benchtest: cannot resume {point.path} with {name} {value}: it was {was!r}"
            )
    beside = option.results_dir == DEFAULT_RESULTS_DIR  # not given: beside the killed file
    config.stash[SETTINGS] = replace(
        run,
        serial_number=point.serial_number,
        lot=point.lot,
        operator=point.operator or run.operator,
        results_dir=point.path.parent if beside else run.results_dir,
    )
    config.stash[POINT] = point


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    point = config.stash.get(POINT, None)
    if point is None:
        return
    retries = _retries_by_id(items)
    finished = point.finished(lambda test: retries.get(test, 0))
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        dut = item.stash.get(ITEM_DUT, None)
        ours = dut is not None and dut.name == point.part
        if ours and ANY_ITEM not in config.stash:
            config.stash[ANY_ITEM] = item
        (keep if ours and test_id(item) not in finished else drop).append(item)
    if ANY_ITEM not in config.stash:
        raise pytest.UsageError(
            f"benchtest: cannot resume {point.path}: no test of {point.part} was collected; "
            "name the plans it ran"
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    from benchtest.run.resume import Resumption

    config.stash[RESUME] = Resumption(point, finished)


def _retries_by_id(items: list[pytest.Item]) -> dict[str, int]:
    """Each collected test's retry(n) count, by its id in the run file."""
    found: dict[str, int] = {}
    for item in items:
        marker = item.get_closest_marker("retry")
        if marker is None:
            continue
        count = marker.args[0] if marker.args else marker.kwargs.get("n", 1)
        found[test_id(item)] = count if isinstance(count, int) else 0
    return found


def pytest_report_header(config: pytest.Config) -> str | None:
    point = config.stash.get(POINT, None)
    if point is None:
        return None
    done = len(point.progress)
    return f"benchtest: resuming {point.path} ({point.part} {point.serial_number}, {done} tests)"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing left to run: open the resumed part's session anyway, to write its run file."""
    config = session.config
    point = config.stash.get(POINT, None)
    if point is None or run_files(config) or int(exitstatus) not in (0, 5):
        return
    activate(config.stash[ANY_ITEM])
    close_active(config, "passed")  # the outcome is what the replayed tests came to
    session.exitstatus = pytest.ExitCode.OK
