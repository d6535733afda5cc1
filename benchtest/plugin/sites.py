"""Multi-site runs as one record: the xdist controller merges the sites' run files.

Each worker (site) writes its own run file per DUT session and hands their paths to the
controller through xdist's `workeroutput`; its test reports also name them as they are opened,
so that the controller knows them even when the worker dies. When the session ends, the
controller merges the files of the same DUT session of every site into one run file
`<stamp>_<part>.h5` (see `benchtest.run.site_merge`), checks the merge, and then removes the
per-site files; when the merge or its check fails, the per-site files are kept and the reason
is reported. The files are merged only when every site's worker ended its session normally,
each once: when a site's worker died (it is not restarted: see `configuration`) or was
interrupted (as by a Ctrl-C or SIGTERM of the run), every site's file is kept as its site
wrote it, named in the summary, and the summary says why. A controller stopped by a signal
passes the stop on to the sites still running (`STOP_GRACE`). A site's files are read in a
background thread as soon as the site is done, while the others still run, and once the last
site is done the merge starts in that thread too, while the workers stop.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import atexit
import gc
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from benchtest.plugin.configuration import RunSettings, settings, worker_site
from benchtest.plugin.dut_sessions import RUN_FILES, run_files
from benchtest.values.errors import BenchtestError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from benchtest.results.run import Run

#: Key of the worker's run files (list of str, in DUT-session order) in `workeroutput`.
OUTPUT_KEY = "benchtest_run_files"
#: Attribute of a worker's test report naming its run files so far (list of str): set on the
#: first report after a run file is opened.
REPORT_KEY = "benchtest_run_files"
#: Exit statuses of a worker's session that ended normally: its tests ran (passed, failed, or
#: none collected).
_NORMAL_ENDS = (
    pytest.ExitCode.OK,
    pytest.ExitCode.TESTS_FAILED,
    pytest.ExitCode.NO_TESTS_COLLECTED,
)
#: Seconds a stopped controller waits for its sites to end before it sends them SIGTERM.
STOP_GRACE = 2.0
_PROBLEMS = pytest.StashKey[list[str]]()
_WORKERS = pytest.StashKey[dict[str, "_Worker"]]()  # the workers started, by id (controller)
_NAMED = pytest.StashKey[int]()  # how many run files the worker's reports have named (worker)


@dataclass
class _Worker:
    """What the controller knows of one site's worker."""

    node: Any  # xdist's WorkerController
    site: str
    files: list[str] = field(default_factory=list)  # its run files, in DUT-session order
    finished: bool = False  # its files came with the end of its session (`workeroutput`)
    down: str | None = None  # why its session did not end normally, when it did not

    @property
    def whole(self) -> bool:
        """Its session ended normally: its run files are complete."""
        return self.finished and self.down is None

    def take_output(self, error: object) -> bool:
        """Note how the worker ended (`error`: xdist's reason when it went down); True when
        this gave its files, from the end of a session that ended normally."""
        output: dict[str, Any] | None = getattr(self.node, "workeroutput", None)
        if error is not None and self.down is None:
            self.down = (
                "was interrupted"
                if error == "keyboard-interrupt"
                else f"died ({error}) and is not restarted"
            )
        if self.finished or output is None or OUTPUT_KEY not in output:
            return False
        self.files, self.finished = [str(f) for f in output[OUTPUT_KEY]], True
        status = output.get("exitstatus")
        if status == pytest.ExitCode.INTERRUPTED:
            self.down = self.down or "was interrupted"
        elif status not in _NORMAL_ENDS and self.down is None:
            self.down = f"ended with exit status {status}"
        return self.down is None


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
        if merged_groups != groups:
            self.drop_merged()
            return None
        self.merging = None
        return future.result()

    def drop_merged(self) -> None:
        """Wait for the merge started by `merge`, if any, and remove the files it wrote: it
        is not used."""
        if self.merging is None:
            return
        _, future = self.merging
        self.merging = None
        for result in future.result():
            if result.destination is not None:
                result.destination.unlink(missing_ok=True)

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


class _WorkerReports:
    """Worker: the first report after a run file is opened names the run files so far.
    Registered in workers only (`pytest_configure`): other runs pay nothing per test."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        config = item.config
        files = config.stash.get(RUN_FILES, [])
        if len(files) > config.stash.get(_NAMED, 0):
            setattr(report, REPORT_KEY, [str(f) for f in files])
            config.stash[_NAMED] = len(files)
        return report


class _ControllerReports:
    """Controller: note the run files a worker's report names. Registered on the xdist
    controller only (`pytest_configure`)."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        named = getattr(report, REPORT_KEY, None)
        node = getattr(report, "node", None)
        if named and node is not None:
            worker = node.config.stash.get(_WORKERS, {}).get(str(node.gateway.id))
            if worker is not None and not worker.finished:
                worker.files = [str(f) for f in named]


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(_WorkerReports(), "benchtest-worker-reports")
    elif getattr(config.option, "numprocesses", None):
        config.pluginmanager.register(_ControllerReports(), "benchtest-controller-reports")


@pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")
def pytest_sessionfinish_stop_sites(session: pytest.Session) -> None:
    """Controller stopped by a signal: before xdist ends its workers (a worker still running
    10 s later is killed, its instruments left as they were), each site that has not ended
    within `STOP_GRACE` gets SIGTERM, so that it makes its bench safe and closes its run file
    as interrupted. (A Ctrl-C or a stop sent to the process group has reached them already.)"""
    config = session.config
    run = settings(config)
    if run is None or not run.controller or session.exitstatus != pytest.ExitCode.INTERRUPTED:
        return
    if not hasattr(signal, "SIGKILL"):  # Windows: SIGTERM would end a worker at once
        return
    workers = list(config.stash.get(_WORKERS, {}).values())
    running = [p for p in map(_process, workers) if p]
    deadline = time.monotonic() + STOP_GRACE
    while running and time.monotonic() < deadline:
        time.sleep(0.05)
        running = [p for p in map(_process, workers) if p]
    for process in running:
        process.send_signal(signal.SIGTERM)


def _process(worker: _Worker) -> subprocess.Popen[bytes] | None:
    """The process of a worker whose session has not ended (execnet's popen gateway keeps
    it), if it still runs."""
    process = getattr(getattr(worker.node.gateway, "_io", None), "popen", None)
    if not isinstance(process, subprocess.Popen) or _ended(worker):
        return None
    return process if process.poll() is None else None


def _ended(worker: _Worker) -> bool:
    return worker.finished or getattr(worker.node, "workeroutput", None) is not None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Worker: report its run files (closed by now). Controller: merge the sites' files, or
    keep them when not every site ended normally."""
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
        workers = config.stash.get(_WORKERS, {})
        for worker in workers.values():  # ended after the controller stopped listening
            worker.take_output(None)
        groups, why_not = _mergeable(run, workers)
        if why_not:
            if reader is not None:
                reader.drop_merged()
            _keep(config, run, workers, why_not)
            return
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
    """Controller: a worker (site) starts; noted, to know its site and when it is done."""
    name = str(node.gateway.id)
    run = settings(node.config)
    site = worker_site(run.bench, name) if run is not None else None
    node.config.stash.setdefault(_WORKERS, {})[name] = _Worker(node, site or name)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Controller: collect the run files a worker (site) wrote; once every worker started is
    done, each with its session ended normally, start the merge while the workers stop.
    (xdist reports an interrupted worker down twice: its files are taken once.)"""
    config = node.config
    workers = config.stash.setdefault(_WORKERS, {})
    name = str(node.gateway.id)
    worker = workers.setdefault(name, _Worker(node, name))
    if worker.take_output(error) and worker.files:
        if _READER not in config.stash:
            config.stash[_READER] = _PartReader()
        config.stash[_READER].read([Path(f) for f in worker.files if Path(f).exists()])
    run = settings(config)
    reader = config.stash.get(_READER, None)
    if reader is None or run is None or not run.controller:
        return
    groups, why_not = _mergeable(run, workers)
    if not why_not:  # every site is done
        reader.merge(run.results_dir, groups)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    for problem in config.stash.get(_PROBLEMS, []):
        terminalreporter.write_line(f"benchtest: {problem}", yellow=True)


def _mergeable(run: RunSettings, workers: dict[str, _Worker]) -> tuple[list[list[Path]], str]:
    """The files of each DUT session to merge, one per site; or why they are not merged (every
    site's worker must have ended its session normally, and each site have one file per DUT
    session)."""
    by_site: dict[str, list[_Worker]] = defaultdict(list)
    for worker in workers.values():
        by_site[worker.site].append(worker)
    reasons = []
    for site in run.bench.sites:
        found = by_site.get(site, [])
        if len(found) != 1:
            reasons.append(f"site {site} had {len(found)} workers")
        elif not found[0].whole:
            why = found[0].down or "did not report its run files"
            reasons.append(f"site {site}'s worker {found[0].node.gateway.id} {why}")
    if reasons:
        return [], "; ".join(reasons)
    ordered = [by_site[site][0].files for site in run.bench.sites]
    groups = _same_sessions(ordered)
    if any(len(group) != len(ordered) for group in groups):
        counts = ", ".join(
            f"{site}: {len(f)}" for site, f in zip(run.bench.sites, ordered, strict=True)
        )
        return [], f"the sites have different numbers of run files ({counts})"
    return groups, ""


def _keep(config: pytest.Config, run: RunSettings, workers: dict[str, _Worker], why: str) -> None:
    """List every site's run file as a run file of the session, as its site wrote it, and say
    why they are not merged."""
    order = {site: n for n, site in enumerate(run.bench.sites)}
    kept = config.stash.setdefault(RUN_FILES, [])
    for worker in sorted(workers.values(), key=lambda w: order.get(w.site, len(order))):
        kept.extend(Path(f) for f in worker.files if Path(f).exists() and Path(f) not in kept)
    config.stash.setdefault(_PROBLEMS, []).append(
        f"the sites' run files are kept as they wrote them, not merged: {why}"
        + ("" if kept else " (none was written)")
    )


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
    """Report a merge that failed, and list its parts as the session's run files; of one that
    worked, list the merged file and remove the parts (the merged file is checked and durable
    by now)."""
    files = config.stash.setdefault(RUN_FILES, [])
    if merged.destination is None:
        config.stash.setdefault(_PROBLEMS, []).append(str(merged.problem))
        files.extend(merged.parts)
        return
    files.append(merged.destination)
    for path in merged.parts:
        path.unlink(missing_ok=True)
