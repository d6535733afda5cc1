"""`--catalog URL`: publish every finished run file of the run into the lab's PostgreSQL catalog.

The catalog is `--catalog`, else `$BENCHTEST_CATALOG`, else the bench file's `catalog`; without
any of them nothing is published.
Publishing happens once the run files are closed, so a catalog that cannot be reached, or a
server that goes away, costs nothing but the publish: the run file stays complete on the bench
host, the terminal summary says why in one line and how to publish it later (`benchtest
publish RUN`), and the run's exit status is that of its tests. The URL is shown redacted.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import run_files
from benchtest.results.lab_catalog import CATALOG_VARIABLE, CatalogError, catalog_target

# What publishing each run file came to: (run file, what happened, published).
OUTCOMES = pytest.StashKey[list[tuple[Path, str, bool]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("benchtest")
    group.addoption(
        "--catalog",
        metavar="URL",
        help="publish the run files into this lab catalog (postgresql://...) when the run "
        f"ends (default: ${CATALOG_VARIABLE}); keep the password in PGPASSWORD or ~/.pgpass",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = settings(config)
    if run is None or (run.site and not run.controller):  # a site's part: the merge publishes
        return
    files = [path for path in run_files(config) if path.is_file()]
    if not files:
        return
    try:
        given = config.getoption("catalog", None) or os.environ.get(CATALOG_VARIABLE, "")
        target = catalog_target(given or run.bench.catalog or None)
    except CatalogError:
        return  # no lab catalog configured: nothing to publish
    outcomes = config.stash.setdefault(OUTCOMES, [])
    if isinstance(target, Path):
        line = f"--catalog {target}: not a postgresql:// URL; the run files are not published"
        outcomes.extend((path, line, False) for path in files)
        return
    from benchtest.results.lab_postgres import PostgresCatalog

    try:
        catalog = PostgresCatalog(target)
    except CatalogError as exc:
        outcomes.extend((path, _later(path, str(exc)), False) for path in files)
        return
    with catalog:
        for path in files:
            try:
                done = catalog.publish(path)
            except CatalogError as exc:  # it names the file and how to publish it again
                outcomes.append((path, str(exc).removeprefix(f"{path}: "), False))
                continue
            verb = "already published to" if done.already else "published to"
            outcomes.append((path, f"{verb} {catalog.where} (run {done.run_id})", True))


def _later(path: Path, why: str) -> str:
    return f"not published: {why}; the run file is complete: publish it later with " \
        f"`benchtest publish {path}`"  # fmt: skip


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    outcomes = config.stash.get(OUTCOMES, [])
    if outcomes:
        terminalreporter.write_sep("-", "lab catalog")
        for path, line, published in outcomes:
            terminalreporter.write_line(f"{path}: {line}", green=published, red=not published)
