"""`benchtest characterise`: the datasheet-style table across units, from run files, folders
or a catalog query; printed, and written as HTML (`-o`) and CSV (`--csv`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchtest.cli.arguments import positive_number
from benchtest.review.stats import DEFAULT_CPK_MIN

_FILTERS = ("part", "plan", "lot", "serial", "since", "until")


def _characterise(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.report.characterise_page import write_page
    from benchtest.review.characterise import characterise
    from benchtest.review.characterise_catalog import Query, select
    from benchtest.review.characterise_read import CharacteriseError
    from benchtest.review.characterise_table import terminal_table, write_csv

    filters = [f"--{name}" for name in _FILTERS if getattr(args, name) is not None]
    if args.catalog is None and filters:
        raise CharacteriseError(f"{', '.join(filters)} filter a catalog: add --catalog FOLDER")
    if args.catalog is not None and args.runs:
        raise CharacteriseError("give run files and folders, or --catalog FOLDER, not both")
    for output in (args.csv, args.html):  # before anything is read or written
        folder = Path(output).parent if output is not None else None
        if folder is not None and not folder.is_dir():
            raise CharacteriseError(f"{output}: cannot write: the folder {folder} does not exist")
    sources: list[str | Path] = list(args.runs)
    if args.catalog is not None:
        query = Query(
            Path(args.catalog), args.part, args.plan, args.lot, args.serial, args.since, args.until
        )
        selected, skipped = select(query)
        sources = list(selected)
        for path, reason in skipped:
            print(f"benchtest characterise: the catalog skipped {path}: {reason}", file=sys.stderr)
    result = characterise(sources, cpk_min=args.cpk_min, sweeps=args.html is not None)
    print(terminal_table(result))
    if args.csv is not None:
        print(f"CSV: {write_csv(result, args.csv)}")
    if args.html is not None:
        print(f"HTML: {write_page(result, args.html, args.title or '')}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command(s) of this module to the `benchtest` parser."""
    parser = sub.add_parser(
        "characterise",
        help="datasheet-style table across units: min/typ/max, mean, sigma, Cpk, yield",
        description="Statistics of every parameter and condition across the run files of many "
        "units of one part, against the limits recorded with each measurement. Sigma is the "
        "sample standard deviation (n - 1); rows with Cpk below --cpk-min are flagged.",
    )
    parser.add_argument("runs", nargs="*", help="run files (.h5) or folders of run files")
    parser.add_argument("-o", "--html", metavar="FILE", help="write the HTML page to FILE")
    parser.add_argument("--csv", metavar="FILE", help="write the table as CSV to FILE")
    parser.add_argument(
        "--cpk-min",
        type=positive_number("a number > 0, e.g. 1.67"),
        default=DEFAULT_CPK_MIN,
        metavar="CPK",
        help=f"flag rows with Cpk below this (default {DEFAULT_CPK_MIN}; automotive: 1.67)",
    )
    parser.add_argument("--title", help="title of the HTML page")
    query = parser.add_argument_group("catalog query (instead of run files)")
    query.add_argument(
        "--catalog", metavar="FOLDER", help="select the runs of this folder's catalog"
    )
    query.add_argument("--part", help="only runs of this part")
    query.add_argument("--plan", metavar="FILE", help="only runs that ran this plan file")
    query.add_argument("--lot", help="only runs of this lot")
    query.add_argument("--serial", metavar="SN", help="only runs of this serial number")
    query.add_argument("--since", metavar="DATE", help="only runs started at or after (ISO, UTC)")
    query.add_argument("--until", metavar="DATE", help="only runs started before (ISO, UTC)")
    parser.set_defaults(handler=_characterise)
