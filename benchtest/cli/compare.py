"""`benchtest compare` and `benchtest baseline`: a run against its baseline, and named baselines.

`compare BASELINE RUN` (or `compare --baseline NAME RUN`) prints what moved as a table, writes
the HTML page (`--html`) and the JSON (`--json`), and exits 0 when nothing regressed, 1 when
something did, 2 on a usage error or a file that cannot be compared. `baseline promote` and
`baseline list` keep the names in the catalog of the results folder; with a lab catalog
(`--catalog`, `$BENCHTEST_CATALOG`) `--baseline` takes the name from there, and the file from
the results folder. See `docs/compare.md`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from benchtest.report.compare_page import parameter_row, render_compare_page, write_text_atomically
from benchtest.results import Catalog
from benchtest.results.catalog import Baseline, BaselineError
from benchtest.results.lab_catalog import CATALOG_VARIABLE, catalog_target
from benchtest.review.compare import Comparison, compare_runs
from benchtest.review.compare_json import comparison_json
from benchtest.review.tolerance import ToleranceRules, load_tolerance_file
from benchtest.review.trend import trends

#: Width of the table in a log (not a terminal), so test ids are not folded at 80 columns.
LOG_WIDTH = 200


def console() -> Console:
    """Rich output on stdout: the terminal's width, or LOG_WIDTH in a log."""
    out = Console(file=sys.stdout, highlight=False)
    if not out.is_terminal:
        out = Console(file=sys.stdout, highlight=False, width=LOG_WIDTH)
    return out


def promoted_line(path: object, baseline: Baseline, where: object, earlier: int) -> str:
    """What `baseline promote` (and `lab promote`) print once a run is promoted."""
    return (
        f"{path} is now the baseline {baseline.name!r} of {where} "
        f"(run {baseline.run_id}, {baseline.part} {baseline.serial}; "
        f"{earlier} earlier promotion{'' if earlier == 1 else 's'} kept)"
    )


def print_baselines(rows: list[Baseline]) -> None:
    """The baselines (or one name's promotions) as a table."""
    table = Table(show_edge=False, pad_edge=False)
    for heading in ("name", "run file", "part", "serial", "run started", "promoted", "by", "note"):
        table.add_column(heading)
    for b in rows:
        table.add_row(*(Text(v) for v in (b.name, b.path, b.part, b.serial, b.start_time,
                                          b.promoted, b.promoted_by, b.note)))  # fmt: skip
    console().print(table)


def _folder(given: str | None, run: str) -> Path:
    """The catalog folder: the one given, else the folder of the run file."""
    return Path(given) if given else Path(run).parent


def _open_catalog(folder: Path) -> Catalog:
    if not folder.is_dir():
        raise BaselineError(f"{folder}: no such results folder (give it with --results-dir)")
    return Catalog(folder)


def _baseline_file(name: str, given: str | None, folder: Path) -> Path:
    """The run file of the baseline `name`: promoted in the catalog of the results folder
    (where `baseline promote` puts it), else in the catalog given (`--catalog`, else
    `$BENCHTEST_CATALOG`): a lab catalog's file is found under the results folder."""
    target = catalog_target(given, folder)
    with _open_catalog(folder) as catalog:
        if target == folder or any(b.name == name for b in catalog.baselines()):
            return catalog.baseline_path(name)
    try:
        if isinstance(target, Path):
            with _open_catalog(target) as other:
                return other.baseline_path(name)
        from benchtest.results.lab_postgres import PostgresCatalog  # needs psycopg

        with PostgresCatalog(target) as lab:
            return lab.baseline_path(name, folder)
    except BaselineError as exc:
        raise BaselineError(f"{exc}; nor is it promoted in the catalog of {folder}") from None


def _compare(args: argparse.Namespace, extra: list[str]) -> int:
    parser: argparse.ArgumentParser = args.parser
    expected = 1 if args.baseline else 2
    if len(args.runs) != expected:
        parser.error(
            "give RUN with --baseline NAME" if args.baseline else "give BASELINE and RUN files"
        )
    if args.html and args.json and Path(args.html).resolve() == Path(args.json).resolve():
        parser.error("--html and --json name the same file")
    rules = load_tolerance_file(args.tolerance_file) if args.tolerance_file else ToleranceRules()
    run = args.runs[-1]
    folder = _folder(args.results_dir, run)
    if args.baseline:
        baseline = _baseline_file(args.baseline, args.catalog, folder)
    else:
        baseline = Path(args.runs[0])
    comparison = compare_runs(baseline, run, rules, baseline_name=args.baseline or "")
    html = json_text = None
    if args.html:
        plotted = [
            p
            for p in comparison.parameters
            if args.trends == "all" or (args.trends == "moved" and p.status == "moved")
        ]
        found, notes = trends(comparison, folder if plotted else None, plotted)
        html = render_compare_page(comparison, found, notes)
    if args.json:
        json_text = comparison_json(comparison)
    # Everything is made before anything is written: a bad input leaves no file behind.
    if html is not None:
        write_text_atomically(html, args.html, "comparison page")
    if json_text is not None:
        write_text_atomically(json_text, args.json, "comparison JSON")
    print_comparison(comparison, console())
    return comparison.exit_code


def print_comparison(comparison: Comparison, console: Console) -> None:
    """The terminal summary: the parameters that are not the same, changed tests, the verdict."""
    base, run = comparison.baseline, comparison.run
    named = f" ({base.name})" if base.name else ""
    console.print(Text(f"baseline{named}: {base.path}  [{base.serial_number} {base.start_time}]"))
    console.print(Text(f"run: {run.path}  [{run.serial_number} {run.start_time}]"))
    changed = comparison.changed()
    if changed:
        table = Table(show_edge=False, pad_edge=False)
        for heading in ("test", "parameter", "baseline", "run", "shift", "relative", "sigma",
                        "allowed", "status"):  # fmt: skip
            table.add_column(heading, justify="right" if heading in _NUMBERS else "left")
        for change in changed:
            row = parameter_row(change)
            style = "bold red" if change.regression else ""
            table.add_row(
                *(Text(row[k]) for k in ("test_id", "name", "baseline", "run", "shift",
                                         "relative", "sigma", "allowed")),
                Text(row["status"], style=style),
            )  # fmt: skip
        console.print(table)
    same = len(comparison.parameters) - len(changed)
    console.print(Text(f"{same} of {len(comparison.parameters)} parameters within tolerance"))
    for test in comparison.tests:
        if test.status != "same":
            outcomes = f"{test.baseline_outcome or '—'} -> {test.run_outcome or '—'}"
            mark = " (regression)" if test.regression else ""
            console.print(Text(f"test {test.status}: {test.test_id}: {outcomes}{mark}"))
    for note in comparison.notes:
        console.print(Text(f"note: {note}"))
    count = len(comparison.regressions)
    if count:
        console.print(Text(f"REGRESSION: {count} regression{'s' if count > 1 else ''}", "bold red"))
    else:
        console.print(Text("no regression", "green"))


_NUMBERS = frozenset({"baseline", "run", "shift", "relative", "sigma", "allowed"})


def _promote(args: argparse.Namespace, extra: list[str]) -> int:
    folder = _folder(args.results_dir, args.run)
    with _open_catalog(folder) as catalog:
        baseline = catalog.promote_baseline(args.name, args.run, note=args.note)
        earlier = len(catalog.baseline_history(args.name)) - 1
    print(promoted_line(baseline.path, baseline, folder, earlier))
    return 0


def _list(args: argparse.Namespace, extra: list[str]) -> int:
    folder = Path(args.results_dir)
    with _open_catalog(folder) as catalog:
        rows: list[Baseline] = (
            catalog.baseline_history(args.name) if args.history else catalog.baselines()
        )
        if args.name and not args.history:
            rows = [catalog.baseline(args.name)]
    if not rows:
        print(f"no baselines in {folder} yet (benchtest baseline promote RUN --name NAME)")
        return 0
    print_baselines(rows)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `compare` and `baseline` to the `benchtest` parser."""
    compare = sub.add_parser(
        "compare",
        help="compare a run with its baseline; exit 1 on regression",
        usage="benchtest compare [options] BASELINE RUN\n"
        "       benchtest compare [options] --baseline NAME RUN",
        description="Compare a run file with a baseline run file: every parameter's shift "
        "against its drift tolerance, new and missing tests, changed outcomes. Exit status: "
        "0 no regression, 1 regression, 2 usage error or a file that cannot be compared.",
    )
    compare.add_argument(
        "runs", nargs="+", metavar="RUN", help="BASELINE RUN, or only RUN with --baseline NAME"
    )
    compare.add_argument(
        "--baseline",
        metavar="NAME",
        help="the baseline promoted as NAME in the lab catalog (--catalog), else in the "
        "results folder",
    )
    compare.add_argument(
        "--catalog",
        metavar="URL|DIR",
        help="the catalog that names baselines: a PostgreSQL URL or a results folder "
        f"(default: ${CATALOG_VARIABLE}, else the results folder)",
    )
    compare.add_argument(
        "--tolerance-file", metavar="FILE", help="drift tolerances that override the profile's"
    )
    compare.add_argument("--html", metavar="FILE", help="write the comparison page to FILE")
    compare.add_argument("--json", metavar="FILE", help="write the comparison as JSON to FILE")
    compare.add_argument(
        "--results-dir",
        metavar="DIR",
        help="the results folder whose catalog names baselines and gives the trends, and "
        "where a lab catalog's baseline file is found (default: the folder of RUN)",
    )
    compare.add_argument(
        "--trends",
        choices=("moved", "all", "none"),
        default="moved",
        help="which parameters get a trend plot on the page (default: the moved ones)",
    )
    compare.set_defaults(handler=_compare, parser=compare)

    baseline = sub.add_parser("baseline", help="promote a run to a named baseline; list them")
    actions = baseline.add_subparsers(dest="action", required=True, metavar="ACTION")
    promote = actions.add_parser("promote", help="make a run file the baseline called NAME")
    promote.add_argument("run", metavar="RUN", help="run file under the results folder")
    promote.add_argument("--name", required=True, help="the baseline's name, e.g. nightly-ldo")
    promote.add_argument("--note", default="", help="why this run (kept with the promotion)")
    promote.add_argument(
        "--results-dir", metavar="DIR", help="the results folder (default: the folder of RUN)"
    )
    promote.set_defaults(handler=_promote)
    listing = actions.add_parser("list", help="the baselines of a results folder")
    listing.add_argument("--results-dir", metavar="DIR", default="results", help="default: results")
    listing.add_argument("--name", help="only the baseline called NAME")
    listing.add_argument(
        "--history", action="store_true", help="every promotion, oldest first, not only the newest"
    )
    listing.set_defaults(handler=_list)
