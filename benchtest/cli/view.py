"""`benchtest view`: see `register`. Qt is imported only when the viewer starts."""

from __future__ import annotations

import argparse
import os
import sys

from benchtest.viewer import INSTALL_HINT, display_problem, missing


def _view(args: argparse.Namespace, extra: list[str]) -> int:
    if missing():
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    # No open in this process takes HDF5's file lock, the fallbacks of benchtest.results for
    # damaged files included: a writer that opens its file later would be refused. HDF5 reads
    # this when it starts, which is on the import below (the command line has not imported it).
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    from benchtest.viewer.app import run

    return run(args.paths, args.baseline, args.screenshot)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command(s) of this module to the `benchtest` parser."""
    view = sub.add_parser(
        "view",
        help="the desktop result viewer: browse runs, compare units, look at waveforms",
        description="Open the desktop result viewer on run files, folders of run files or "
        "catalog folders (more can be dropped on its window). Runs still being written are "
        "followed. Needs the viewer extra: pip install 'benchtest[viewer]'.",
    )
    view.add_argument("paths", nargs="*", metavar="PATH", help="run files (.h5) or folders")
    view.add_argument("--baseline", metavar="RUN", help="run file to compare with (dashed)")
    view.add_argument(
        "--screenshot",
        metavar="PNG",
        help="save the window as this PNG once everything is open, then end (scripts, CI)",
    )
    view.set_defaults(handler=_view)
