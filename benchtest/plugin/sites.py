"""Multi-site runs as one record: the xdist controller merges the sites' run files.

Each worker (site) writes its own run file per DUT session and hands their paths to the
controller through xdist's `workeroutput`. When the session ends, the controller merges the
files of the same DUT session of every site into one run file `<stamp>_<part>.h5` (see
`benchtest.run.site_merge`), checks the merge, and then removes the per-site files; when the
merge or its check fails, the per-site files are kept and the reason is reported. A site's
files are read in a background thread as soon as the site is done, while the others still
run, so that after the last test only the last site's files are read.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import RUN_FILES, run_files
from benchtest.run.session import new_run_path
from benchtest.values.errors import BenchtestError

if TYPE_CHECKING:
    from benchtest.results.run import Run

#: Key of the worker's run files (list of str, in DUT-session order) in `workeroutput`.
OUTPUT_KEY = "benchtest_run_files"
_PARTS = pytest.StashKey[list[list[str]]]()
_PROBLEMS = pytest.StashKey[list[str]]()


class _PartReader:
    """Reads the run files of the sites that are done, one after another in a thread of its
    own, for the merge at the end of the session."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="benchtest-site-read")
        self._reading: dict[Path, Future[Run]] = {}

    def read(self, paths: list[Path]) -> None:
        from benchtest.run.site_merge import read_part

        for path in paths:
            self._reading[path] = self._pool.submit(read_part, path)

    def take(self, path: Path) -> Path | Run:
        """The run file `path` as read, or `path` when it was not read or could not be (the
        merge then reads it, and reports why it cannot)."""
        future = self._reading.pop(path, None)
        if future is None or future.exception() is not None:
            return path
        return future.result()

    def close(self) -> None:
        """Close the files read and not taken, and stop the thread."""
        self._pool.shutdown(wait=True)
        for future in self._reading.values():
            if future.exception() is None:
                future.result().close()
        self._reading.clear()


_READER = pytest.StashKey[_PartReader]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Worker: report its run files (closed by now). Controller: merge the sites' files."""
    config = session.config
    output: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if output is not None:
        output[OUTPUT_KEY] = [str(p) for p in run_files(config)]
        return
    reader = config.stash.get(_READER, None)
    try:
        run = settings(config)
        if run is None or not run.controller:
            return
        for group in _same_sessions(config.stash.get(_PARTS, [])):
            merged = _merge(config, run.results_dir, group, reader)
            if merged is not None:
                config.stash.setdefault(RUN_FILES, []).append(merged)
    finally:
        if reader is not None:
            reader.close()


def pytest_testnodedown(node: Any, error: object) -> None:
    """Controller: collect the run files a worker (site) wrote."""
    files = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
    if files:
        config = node.config
        config.stash.setdefault(_PARTS, []).append([str(f) for f in files])
        if _READER not in config.stash:
            config.stash[_READER] = _PartReader()
        config.stash[_READER].read([Path(f) for f in files if Path(f).exists()])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    for problem in config.stash.get(_PROBLEMS, []):
        terminalreporter.write_line(f"benchtest: {problem}", yellow=True)


def _same_sessions(workers: list[list[str]]) -> list[list[Path]]:
    """The workers' files grouped by DUT session: the n-th file of every worker."""
    groups: dict[int, list[Path]] = defaultdict(list)
    for files in workers:
        for n, name in enumerate(files):
            if Path(name).exists():
                groups[n].append(Path(name))
    return [groups[n] for n in sorted(groups)]


def _merge(
    config: pytest.Config, results_dir: Path, parts: list[Path], reader: _PartReader | None
) -> Path | None:
    from benchtest.run.site_merge import merge_runs, part_name

    destination: Path | None = None
    read = [reader.take(p) if reader is not None else p for p in parts]
    try:
        started, part = part_name(parts[0])
        destination = new_run_path(results_dir, started.astimezone(UTC), part)
        merge_runs(read, destination)  # checks the merged file against the parts
    except (BenchtestError, OSError, ValueError, KeyError) as exc:
        names = ", ".join(p.name for p in parts)
        config.stash.setdefault(_PROBLEMS, []).append(
            f"could not merge the sites' run files ({names}); they are kept: {exc}"
        )
        if destination is not None:
            destination.unlink(missing_ok=True)
        return None
    finally:
        for run in read:
            if not isinstance(run, Path):
                run.close()
    for path in parts:
        path.unlink()
    return destination
