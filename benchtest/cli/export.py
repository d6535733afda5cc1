"""`benchtest export`: see `register`."""

from __future__ import annotations

import argparse


def _export(args: argparse.Namespace, extra: list[str]) -> int:
    from benchtest.export.formats import export_runs

    print(export_runs(args.runs, args.format, args.output))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command(s) of this module to the `benchtest` parser."""
    export = sub.add_parser(
        "export",
        help="export run files to STDF V4 (yield and ATE tools) or CSV (spreadsheets)",
        description="Export run files to one STDF V4 or CSV file: each run file is a part "
        "(one per site when merged from a multi-site run). The file is written whole or "
        "not at all. STDF needs the stdf extra: pip install 'benchtest[stdf]'.",
    )
    export.add_argument("runs", nargs="+", metavar="RUN", help="run files (.h5)")
    export.add_argument(
        "--format",
        metavar="FORMAT",
        help="stdf or csv (default: the one the -o file's suffix names)",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (default: beside the run file, with .stdf or .csv)",
    )
    export.set_defaults(handler=_export)
