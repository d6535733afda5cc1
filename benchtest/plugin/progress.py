"""Progress per site and test: a live status on a terminal, one line per finished test in a log.

`Progress` is the state: each site's tests in order, how many finished with which outcome, and
the test running now (every site runs every test in order, so it is the one after the last
finished). It needs no terminal. `StatusBelow` keeps the status lines below pytest's own
output on a terminal; `finished_line` is the line a CI log gets. `--progress` chooses.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

import pytest

from benchtest.plugin.configuration import serial_number_of, settings
from benchtest.plugin.runner import RERUN

if TYPE_CHECKING:
    from _pytest._io import TerminalWriter

MODES = ("auto", "live", "lines", "off")
#: A test's outcome: the first of these among the categories of its reports (setup, call,
#: teardown); a call that failed and a teardown error make a failed test, as for the DUT.
OUTCOMES = ("failed", "error", "xpassed", "xfailed", "skipped", "passed")
_SHOWN = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", RERUN)
ERASE_BELOW = "\x1b[J"  # from the cursor to the end of the screen
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class SiteProgress:
    """One site's run: its DUT, its tests in order, and how far it got."""

    name: str  # "" for the one site of a single-site bench
    serial: str
    tests: list[str]
    started: float  # time.monotonic() of collection
    done: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # and reruns
    ended: float | None = None
    attempt: int = 1  # of the test running now
    phases: list[str] = field(default_factory=list)  # categories of this attempt's reports
    seconds: float = 0.0  # of this attempt

    @property
    def current(self) -> str | None:
        """The test running now (or next), None when every test finished."""
        return self.tests[self.done] if self.done < len(self.tests) else None

    def elapsed(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.name, self.serial) if part)


@dataclass(frozen=True)
class Finished:
    """A test that finished on a site, or an attempt of it that runs again (`rerun`)."""

    site: SiteProgress
    test: str
    outcome: str  # one of OUTCOMES, or RERUN
    seconds: float  # of this attempt
    attempt: int


class Progress:
    """Every site's progress, fed with each test report's phase and category; the sites in
    the `order` given (the bench's), whatever order their tests were collected in."""

    def __init__(self, order: list[str] | None = None) -> None:
        self.sites: dict[str, SiteProgress] = {}
        self._order = order or []

    def collected(self, site: str, serial: str, tests: list[str], now: float) -> None:
        self.sites[site] = SiteProgress(site, serial, list(tests), started=now)
        rank = {name: n for n, name in enumerate(self._order)}
        self.sites = dict(sorted(self.sites.items(), key=lambda s: rank.get(s[0], len(rank))))

    def record(
        self, site: str, test: str, when: str, category: str, seconds: float, now: float
    ) -> Finished | None:
        """Take one report; at an attempt's teardown (or a crashed test's report), what finished."""
        state = self.sites.get(site)
        if state is None:
            return None
        state.seconds += seconds
        state.phases.append(category)
        if when in ("setup", "call"):
            return None
        attempt, spent, phases = state.attempt, state.seconds, state.phases
        state.phases, state.seconds = [], 0.0
        if RERUN in phases:
            state.attempt += 1
            state.outcomes[RERUN] += 1
            return Finished(state, test, RERUN, spent, attempt)
        outcome = next((o for o in OUTCOMES if o in phases), "passed")
        state.done += 1
        state.outcomes[outcome] += 1
        state.attempt = 1
        if state.done >= len(state.tests):
            state.ended = now
        return Finished(state, test, outcome, spent, attempt)


def counts(site: SiteProgress) -> str:
    """`2 passed, 1 failed`: passed always, the other outcomes when there are any."""
    return ", ".join(f"{site.outcomes[o]} {o}" for o in _SHOWN if o == "passed" or site.outcomes[o])


def clock(seconds: float) -> str:
    """`4:07`, `1:02:03`."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def status_lines(progress: Progress, now: float, width: int) -> list[str]:
    """One line per site, in columns: site, serial, done/total, elapsed, counts, and the test
    running now (`done` at the end), shortened from the left to fit in `width`."""
    sites = list(progress.sites.values())
    columns = [
        _pad([s.name for s in sites]),
        _pad([s.serial for s in sites]),
        _pad([f"{s.done}/{len(s.tests)}" for s in sites], right=True),
        _pad([clock(s.elapsed(now)) for s in sites], right=True),
        _pad([counts(s) for s in sites]),
    ]
    heads = ["".join(f"{cell}  " for cell in row if cell) for row in zip(*columns, strict=True)]
    return [_fit(head, _doing(site), width - 1) for head, site in zip(heads, sites, strict=True)]


def _pad(cells: list[str], *, right: bool = False) -> list[str]:
    width = max((len(cell) for cell in cells), default=0)
    return [cell.rjust(width) if right else cell.ljust(width) for cell in cells]


def _doing(site: SiteProgress) -> str:
    current = site.current
    if current is None:
        return "done"
    return f"{current} (attempt {site.attempt})" if site.attempt > 1 else current


def _fit(head: str, tail: str, width: int) -> str:
    """`head + tail` in `width` characters, cutting the start of `tail` (a test id ends with
    its name) or, when even that is not enough, the end of the line."""
    if len(head) + len(tail) <= width:
        return head + tail
    room = width - len(head)
    if room >= 12:
        return head + "..." + tail[len(tail) - room + 3 :]
    return (head + tail)[:width]


def finished_line(finished: Finished) -> str:
    """`[A U0001 2/3] FAILED  test_plan.py::test_vout 0.84s`: one line for a CI log."""
    site = finished.site
    label = " ".join(part for part in (site.label, f"{site.done}/{len(site.tests)}") if part)
    again = finished.attempt > 1 or finished.outcome == RERUN
    attempt = f" (attempt {finished.attempt})" if again else ""
    word = finished.outcome.upper()
    return f"[{label}] {word:<7} {finished.test}{attempt} {finished.seconds:.2f}s"


def site_summary(site: SiteProgress, now: float) -> str:
    """`site A U0001: 3/3 tests, 2 passed, 1 failed in 0:04`, for the end of a multi-site run."""
    done = f"{site.done}/{len(site.tests)} tests"
    return f"site {site.label}: {done}, {counts(site)} in {clock(site.elapsed(now))}"


def choose_mode(asked: str, *, terminal: bool, multi_site: bool, verbose: bool) -> str:
    """`--progress auto`: live on a terminal; else a line per test and site on a multi-site
    run, unless -v prints one already; nothing on a single site (-v does that)."""
    if asked != "auto":
        return asked
    if terminal:
        return "live"
    return "lines" if multi_site and not verbose else "off"


def column_after(column: int, text: str) -> int:
    """The cursor's column after writing `text` from `column` (escape sequences take none)."""
    plain = _ESCAPE.sub("", text)
    tail = re.split(r"[\r\n]", plain)[-1]
    return len(tail) if len(tail) < len(plain) else column + len(plain)


class StatusBelow:
    """The file under pytest's terminal writer while the live status is on.

    The status lines stay below the cursor: each write erases them, writes, and draws them
    again with the cursor put back where the writer left it, all in one write to the
    terminal. So pytest's output, unfinished lines of dots included, goes on above them.
    """

    def __init__(self, file: TextIO, lines: Callable[[int, int], list[str]]) -> None:
        self.file = file
        self._lines = lines  # the status for a terminal of (width, height)
        self._column = 0

    def write(self, text: str) -> int:
        self._column = column_after(self._column, text)
        self.file.write(ERASE_BELOW + text + self._status())
        return len(text)

    def flush(self) -> None:
        self.file.flush()

    def redraw(self) -> None:
        self.write("")
        self.flush()

    def erase(self) -> None:
        self.file.write(ERASE_BELOW)
        self.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def _status(self) -> str:
        width, height = shutil.get_terminal_size()
        lines = self._lines(width, height)
        if not lines:
            return ""
        back = f"\r\x1b[{len(lines)}A"
        column = self._column % width
        if column:
            back += f"\x1b[{column}C"
        return "\n" + "\n".join(lines) + back


class LiveStatus:
    """The status lines of every site under pytest's output, from the first test to the end."""

    def __init__(self, writer: TerminalWriter, progress: Progress) -> None:
        self._writer = writer
        self._progress = progress
        self._below: StatusBelow | None = None

    def refresh(self) -> None:
        if self._below is None:
            self._below = StatusBelow(self._writer._file, self._lines)
            self._writer._file = cast(TextIO, self._below)
        self._below.redraw()

    def close(self) -> None:
        """Erase the status and give the terminal back to pytest."""
        if self._below is not None:
            self._below.erase()
            self._writer._file = self._below.file
            self._below = None

    def _lines(self, width: int, height: int) -> list[str]:
        lines = status_lines(self._progress, time.monotonic(), width)
        sites = self._progress.sites.values()
        pairs = zip(lines, sites, strict=True)
        coloured = [self._writer.markup(text, **_colour(site)) for text, site in pairs]
        room = max(height - 2, 1)  # a status taller than the screen could not be erased
        if len(lines) > room:
            return [*coloured[: room - 1], f"... and {len(lines) - room + 1} more sites"]
        return coloured


def _colour(site: SiteProgress) -> dict[str, bool]:
    if site.outcomes["failed"] or site.outcomes["error"]:
        return {"red": True}
    return {"green": True} if site.ended is not None else {}


class ProgressReporter:
    """The hooks of a run that shows its progress, in the process that reports: the xdist
    controller on a multi-site run, else the one process."""

    def __init__(
        self, config: pytest.Config, mode: str, reporter: pytest.TerminalReporter, sites: list[str]
    ) -> None:
        self.config = config
        self.mode = mode  # live or lines
        self.reporter = reporter
        self.sites = sites  # the xdist worker gwN tests sites[N]; without xdist: [this site]
        self.multi_site = len(sites) > 1
        self.progress = Progress(sites)
        writer = config.get_terminal_writer()
        # Live status stands in for the file under pytest's writer (its `_file`); a pytest
        # whose writer has none gets the lines instead.
        if mode == "live" and not hasattr(writer, "_file"):
            self.mode = mode = "lines"
        self.live = LiveStatus(writer, self.progress) if mode == "live" else None
        # The category pytest_report_teststatus gave the last report it was asked about: the
        # terminal reporter asks for every report just before this plugin sees it, and asking
        # again costs the xdist controller a sixth of what it spends on each report.
        self._last_status: tuple[pytest.TestReport, str] | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        run = settings(self.config)
        if run is not None and not run.controller:
            tests = [item.nodeid for item in session.items]
            self.progress.collected(run.site, run.serial_number, tests, time.monotonic())

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        site = self._site(node)
        serial = serial_number_of(self.config.option.serial_number, site)
        self.progress.collected(site, serial, ids, time.monotonic())

    def pytest_runtest_logstart(self) -> None:
        if self.live is not None:
            self.live.refresh()

    @pytest.hookimpl(trylast=True)  # after the terminal reporter, which asks for the status
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        known, self._last_status = self._last_status, None
        if known is not None and known[0] is report:
            category = known[1]
        else:
            status = self.config.hook.pytest_report_teststatus(report=report, config=self.config)
            category = str(status[0])
        if category == "failed" and getattr(report, "benchtest_bench_trouble", False):
            category = "error"  # bench trouble, not a verdict on the DUT (see runner)
        site = self._site(getattr(report, "node", None))
        finished = self.progress.record(
            site, report.nodeid, report.when, category, report.duration, time.monotonic()
        )
        if finished is not None and self.mode == "lines":
            self.reporter.ensure_newline()  # after a -v line
            writer = self.config.get_terminal_writer()
            if writer.width_of_current_line:  # after anything else left unfinished
                writer.line()
            self.reporter.write_line(finished_line(finished))
        if self.live is not None:
            self.live.refresh()

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> Generator[None, tuple[str, str, Any], tuple[str, str, Any]]:
        """In lines mode, pytest's progress letters (dots) give way to the lines."""
        status = yield
        if status:
            self._last_status = (report, str(status[0]))
        if self.mode == "lines" and _letters_on(self.config) and status:
            category, _letter, word = status
            return category, "", word
        return status

    def pytest_sessionfinish(self) -> None:
        if self.live is not None:
            self.live.close()  # before pytest writes its summary

    @pytest.hookimpl(trylast=True)  # next to pytest's short summary
    def pytest_terminal_summary(self) -> None:
        if not self.multi_site:
            return  # pytest's own summary line says it all
        now = time.monotonic()
        self.reporter.write_sep("-", "benchtest sites")
        for site in self.progress.sites.values():
            self.reporter.write_line(site_summary(site, now), **_colour(site))

    def _site(self, worker: Any) -> str:
        if worker is None:
            return self.sites[0]
        name = str(worker.gateway.id)
        index = int(name.removeprefix("gw"))
        return self.sites[index] if index < len(self.sites) else name


PROGRESS = pytest.StashKey[ProgressReporter]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("benchtest", "bench testing (benchtest)")
    group.addoption(
        "--progress",
        choices=MODES,
        default="auto",
        help="progress per site and test: live (status lines on a terminal), lines (one per "
        "finished test and site, for CI logs) or off; auto (default): live on a terminal, "
        "else lines on a multi-site run without -v",
    )


@pytest.hookimpl(trylast=True)  # after the settings and pytest's terminal reporter
def pytest_configure(config: pytest.Config) -> None:
    run = settings(config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if run is None or reporter is None or hasattr(config, "workerinput"):
        return  # not a bench run, no terminal output, or a site's worker (the controller shows)
    printing_tests = config.getoption("capture") == "no" and not run.controller  # -s
    terminal = reporter.isatty() and os.environ.get("TERM") != "dumb" and not printing_tests
    mode = choose_mode(
        config.getoption("progress"),
        terminal=bool(terminal),
        multi_site=run.controller,
        verbose=not _letters_on(config),
    )
    if mode == "off":
        return
    sites = list(run.bench.sites) if run.controller else [run.site]
    if mode == "lines" and _letters_on(config):
        reporter.showfspath = False  # the lines replace pytest's file names and letters
    plugin = config.stash[PROGRESS] = ProgressReporter(config, mode, reporter, sites)
    config.pluginmanager.register(plugin, "benchtest-progress")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(PROGRESS, None)
    if plugin is not None:
        del config.stash[PROGRESS]
        if plugin.live is not None:
            plugin.live.close()  # when the session did not finish normally
        config.pluginmanager.unregister(plugin)


def _letters_on(config: pytest.Config) -> bool:
    """Whether pytest shows a letter per test (a dot) rather than a line (-v)."""
    return config.get_verbosity(pytest.Config.VERBOSITY_TEST_CASES) <= 0
