"""Multi-site runs as one record: the xdist controller merges the sites' run files.

Each worker (site) writes its own run file per DUT session and hands their paths to the
controller through xdist's `workeroutput`. When the session ends, the controller merges the
files of the same DUT session of every site into one run file `<stamp>_<part>.h5` (see
`benchtest.run.site_merge`), checks the merge, and then removes the per-site files; when the
merge or its check fails, the per-site files are kept and the reason is reported. A site's
files are read in a background thread as soon as the site is done, while the others still
run, and once the last site is done the merge starts in that thread too, while the workers
stop; it is used when no site's files came in after it (a worker restarted by xdist), else
its merged files are removed and the merge is made again.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import atexit
import gc
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import RUN_FILES, run_files
from benchtest.values.errors import BenchtestError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from benchtest.results.run import Run

#: Key of the worker's run files (list of str, in DUT-session order) in `workeroutput`.
OUTPUT_KEY = "benchtest_run_files"
_PARTS = pytest.StashKey[list[list[str]]]()
_PROBLEMS = pytest.StashKey[list[str]]()
_STARTED = pytest.StashKey[set[str]]()  # the workers started, by id (controller)
_DONE = pytest.StashKey[set[str]]()  # the workers done, by id (controller)


@dataclass(frozen=True)
class _Merged:
    """What merging the files of one DUT session (`parts`) came to: the merged file, or why
    there is none."""

    parts: list[Path]
    destination: Path | None
    problem: str | None


class _PartReader:
    """Reads the run files of the sites that are done, one after another in a thread of its
    own, and merges them there once every site is done, for the end of the session."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="benchtest-site-read")
        self._reading: dict[Path, Future[Run]] = {}
        self.merging: tuple[list[list[Path]], Future[list[_Merged]]] | None = None

    def read(self, paths: list[Path]) -> None:
        from benchtest.run.site_merge import read_part

        for path in paths:
            self._reading[path] = self._pool.submit(read_part, path)

    def merge(self, results_dir: Path, groups: list[list[Path]]) -> None:
        """Merge `groups` (the files of each DUT session) in the thread, after the reads
        submitted so far; the parts are kept until `take_merged` says the merge is used."""
        if self.merging is not None:
            return
        future = self._pool.submit(lambda: [_merge(results_dir, g, self) for g in groups])
        self.merging = (groups, future)

    def take_merged(self, groups: list[list[Path]]) -> list[_Merged] | None:
        """The merge started by `merge`, if it merged exactly `groups`; None when none was
        started, or when it merged other files (its merged files are then removed)."""
        if self.merging is None:
            return None
        merged_groups, future = self.merging
        self.merging = None
        results = future.result()
        if merged_groups == groups:
            return results
        for result in results:
            if result.destination is not None:
                result.destination.unlink(missing_ok=True)
        return None

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
        groups = _same_sessions(config.stash.get(_PARTS, []))
        merged = reader.take_merged(groups) if reader is not None else None
        if merged is None:
            merged = [_merge(run.results_dir, group, reader) for group in groups]
        for result in merged:
            _conclude(config, result)
    finally:
        if reader is not None:
            reader.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    """When the process exits, what is left of a benchtest session is frozen out of the
    garbage collector, so that the interpreter's exit does not walk the whole heap once more
    (seconds of CPU for four sites and the controller on a busy machine, while xdist waits for
    every worker to stop); the memory goes back with the process. At exit only: a session run
    inside a longer-lived process (pytester) changes nothing for it."""
    if settings(config) is not None:
        atexit.unregister(gc.freeze)  # registered once per process, however many sessions
        atexit.register(gc.freeze)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Controller: a worker (site) starts; noted, to know when the last one is done."""
    node.config.stash.setdefault(_STARTED, set()).add(str(node.gateway.id))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Controller: collect the run files a worker (site) wrote; once every worker started is
    done, start the merge while the workers stop."""
    config = node.config
    done = config.stash.setdefault(_DONE, set())
    done.add(str(node.gateway.id))
    files = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
    if files:
        config.stash.setdefault(_PARTS, []).append([str(f) for f in files])
        if _READER not in config.stash:
            config.stash[_READER] = _PartReader()
        config.stash[_READER].read([Path(f) for f in files if Path(f).exists()])
    run = settings(config)
    reader = config.stash.get(_READER, None)
    if (
        reader is not None
        and run is not None
        and run.controller
        and done >= config.stash.get(_STARTED, set())
    ):
        reader.merge(run.results_dir, _same_sessions(config.stash.get(_PARTS, [])))


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


def _merge(results_dir: Path, parts: list[Path], reader: _PartReader | None) -> _Merged:
    """Merge the sites' files `parts` of one DUT session and check the merged file; the parts
    are left for `_conclude`."""
    from benchtest.run.session import new_run_path
    from benchtest.run.site_merge import merge_runs, part_name

    destination: Path | None = None
    read = [reader.take(p) if reader is not None else p for p in parts]
    try:
        started, part = part_name(parts[0])
        destination = new_run_path(results_dir, started.astimezone(UTC), part)
        merge_runs(read, destination)  # checks the merged file against the parts
    except (BenchtestError, OSError, ValueError, KeyError) as exc:
        names = ", ".join(p.name for p in parts)
        if destination is not None:
            destination.unlink(missing_ok=True)
        problem = f"could not merge the sites' run files ({names}); they are kept: {exc}"
        return _Merged(parts, None, problem)
    finally:
        for run in read:
            if not isinstance(run, Path):
                run.close()
    return _Merged(parts, destination, None)


def _conclude(config: pytest.Config, merged: _Merged) -> None:
    """Report a merge that failed; of one that worked, list the merged file as the session's
    run file and remove the parts (the merged file is checked and durable by now)."""
    if merged.destination is None:
        config.stash.setdefault(_PROBLEMS, []).append(str(merged.problem))
        return
    config.stash.setdefault(RUN_FILES, []).append(merged.destination)
    for path in merged.parts:
        path.unlink()
