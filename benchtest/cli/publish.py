"""`benchtest publish` and `benchtest lab`: run files into the lab catalog, and what it knows.

`publish RUN…` stores finished run files in the lab's PostgreSQL catalog, each in one
transaction; publishing a file again stores nothing more. `lab migrate` brings the catalog's
layout up to date, `lab history` prints a parameter by part, bench and night, `lab promote`
and `lab baselines` name baselines there. The catalog is `--catalog URL` (or a results folder
for `history` and `baselines`), else `$BENCHTEST_CATALOG`. A URL's password is never printed.
Exit status: 0 done, 1 a run file was not published, 2 a usage error or a catalog that
cannot be reached. See `docs/lab-catalog.md`.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path

from rich.table import Table

from benchtest.cli.compare import console, print_baselines, promoted_line
from benchtest.results.lab_catalog import CATALOG_VARIABLE, CatalogError, catalog_target


def _moment(text: str) -> str:
    """A --since/--until value: an ISO 8601 date or time."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date or time, e.g. 2026-11-28, got {text!r}"
        ) from None
    return text


def _database(given: str | None) -> str:
    """The PostgreSQL URL to publish to: --catalog, else the environment."""
    target = catalog_target(given)
    if isinstance(target, Path):
        raise CatalogError(
            f"{target}: publish needs a PostgreSQL URL (postgresql://HOST/DB), not a folder: "
            "a results folder's catalog indexes its run files by itself"
        )
    return target


def _publish(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.results.lab_postgres import PostgresCatalog

    with PostgresCatalog(_database(args.catalog)) as catalog:
        failed = 0
        for number, run in enumerate(args.runs):
            try:
                done = catalog.publish(run)
            except CatalogError as exc:
                failed += 1
                print(f"benchtest publish: {exc}", file=sys.stderr)
                if catalog.closed:  # the server went away: the rest cannot be published now
                    rest = args.runs[number + 1 :]
                    if rest:
                        print(f"benchtest publish: not published either: {' '.join(rest)}",
                              file=sys.stderr)  # fmt: skip
                    return 1
                continue
            if done.already:
                print(f"{run}: already published (run {done.run_id})")
            else:
                print(
                    f"{run}: published to {catalog.where} (run {done.run_id}, {done.tests} "
                    f"tests, {done.measurements} measurements)"
                )
    return 1 if failed else 0


def _migrate(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.results.lab_postgres import PostgresCatalog

    with PostgresCatalog(_database(args.catalog), migrate=False) as catalog:
        before = catalog.version
        applied = catalog.migrate()
        after = catalog.version
    if applied:
        print(f"{catalog.where}: migrated from version {before} to {after}")
    else:
        print(f"{catalog.where}: at version {after}, nothing to migrate")
    return 0


def _history(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.results.lab import open_catalog

    with open_catalog(catalog_target(args.catalog, "results")) as catalog:
        rows = catalog.nightly(
            args.parameter, part=args.part, bench=args.bench, start=args.since, end=args.until
        )
    if not rows:
        print(f"no values of {args.parameter!r} in the catalog")
        return 0
    table = Table(show_edge=False, pad_edge=False)
    for heading in ("part", "bench", "night", "values", "mean", "min", "max", "out of limits"):
        table.add_column(heading, justify="right" if heading not in _TEXT else "left")
    for row in rows:
        table.add_row(row.part, row.bench, row.night, str(row.readings),
                      *(_number(v) for v in (row.mean, row.minimum, row.maximum)),
                      str(row.failed))  # fmt: skip
    console().print(table)
    return 0


_TEXT = frozenset({"part", "bench", "night"})


def _number(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.6g}"


def _promote(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.results.lab_postgres import PostgresCatalog

    with PostgresCatalog(_database(args.catalog)) as catalog:
        baseline = catalog.promote_baseline(args.name, args.run, note=args.note)
        earlier = len(catalog.baseline_history(args.name)) - 1
    print(promoted_line(args.run, baseline, catalog.where, earlier))
    return 0


def _baselines(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.results.lab import open_catalog

    with open_catalog(catalog_target(args.catalog, "results")) as catalog:
        if args.history:
            rows = catalog.baseline_history(args.name)
        else:
            rows = [catalog.baseline(args.name)] if args.name else catalog.baselines()
    if not rows:
        print("no baselines yet (benchtest lab promote RUN --name NAME)")
        return 0
    print_baselines(rows)
    return 0


def _catalog_option(parser: argparse.ArgumentParser, *, folder: bool) -> None:
    where = "a PostgreSQL URL or a results folder" if folder else "a PostgreSQL URL"
    default = f"${CATALOG_VARIABLE}" + (", else results" if folder else "")
    parser.add_argument(
        "--catalog",
        metavar="URL" if not folder else "URL|DIR",
        help=f"the lab catalog: {where} (default: {default}); keep the password in "
        "PGPASSWORD or ~/.pgpass, not in the URL",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `publish` and `lab` to the `benchtest` parser."""
    publish = sub.add_parser(
        "publish",
        help="store finished run files in the lab's PostgreSQL catalog",
        description="Store run files in the lab catalog, each in one transaction; a file "
        "published before is not stored again. Exit status: 0 all published, 1 a run file "
        "was not (it is unchanged: publish it again), 2 the catalog cannot be reached.",
    )
    publish.add_argument("runs", nargs="+", metavar="RUN", help="finished run files (.h5)")
    _catalog_option(publish, folder=False)
    publish.set_defaults(handler=_publish)

    lab = sub.add_parser("lab", help="the lab catalog: migrate, history, baselines")
    actions = lab.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate = actions.add_parser("migrate", help="bring the catalog's layout up to date")
    _catalog_option(migrate, folder=False)
    migrate.set_defaults(handler=_migrate)

    history = actions.add_parser("history", help="a parameter's values by part, bench and night")
    history.add_argument("parameter", help="the parameter's name, as in the DUT profile")
    history.add_argument("--part", help="only this part")
    history.add_argument("--bench", help="only this bench (its station)")
    history.add_argument(
        "--since", metavar="DATE", type=_moment, help="runs started from DATE (ISO, UTC)"
    )
    history.add_argument(
        "--until", metavar="DATE", type=_moment, help="runs started before DATE (ISO, UTC)"
    )
    _catalog_option(history, folder=True)
    history.set_defaults(handler=_history)

    promote = actions.add_parser("promote", help="make a published run the baseline NAME")
    promote.add_argument("run", metavar="RUN", help="the run file, published before")
    promote.add_argument("--name", required=True, help="the baseline's name, e.g. nightly-ldo")
    promote.add_argument("--note", default="", help="why this run (kept with the promotion)")
    _catalog_option(promote, folder=False)
    promote.set_defaults(handler=_promote)

    baselines = actions.add_parser("baselines", help="the catalog's named baselines")
    baselines.add_argument("--name", help="only the baseline called NAME")
    baselines.add_argument(
        "--history", action="store_true", help="every promotion, oldest first, not only the newest"
    )
    _catalog_option(baselines, folder=True)
    baselines.set_defaults(handler=_baselines)
