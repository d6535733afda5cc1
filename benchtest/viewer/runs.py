"""The runs a viewer shows: finding run files, opening them without disturbing a writer,
following one that is being written, and filtering runs and tests.

A run file that is being written is held open by its writer (another process), which also
holds HDF5's file lock. The viewer opens files read-only with that lock left alone: a reader
that took it would make a writer that opens the file after it fail, and waiting for it would
block the viewer. A reader never writes, so nothing it does can damage the file; what the
writer has not committed yet simply reads as absent or incomplete (see `benchtest.results`).
Nothing here needs Qt.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import h5py

from benchtest.results import Catalog, Run, StoredSweep, StoredWaveform, TestRecord, open_run
from benchtest.results.catalog import INDEX_NAME
from benchtest.runfile.commit_log import read_log
from benchtest.values.errors import ResultFileError

#: Test and run outcomes that count as failing in the "failed only" filter.
FAILING = frozenset({"failed", "error", "damaged", "incomplete"})
#: Colour of each outcome (tree rows, table cells, plot pens), as #rrggbb.
OUTCOME_COLOURS: dict[str, str] = {
    "passed": "#2e7d32",
    "pass": "#2e7d32",
    "failed": "#c62828",
    "fail": "#c62828",
    "error": "#e65100",
    "skipped": "#757575",
    "xfailed": "#757575",
    "incomplete": "#6a1b9a",
    "running": "#1565c0",
    "damaged": "#b71c1c",
}
#: Runs larger than this are opened without checking their seal (it reads the whole file);
#: `RunFile.verify()` checks it when asked.
VERIFY_AT_OPEN_BYTES = 256 << 20


def outcome_colour(outcome: str) -> str:
    """The colour of `outcome` (black for outcomes without one)."""
    return OUTCOME_COLOURS.get(outcome.lower(), "#000000")


def find_runs(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[str]]:
    """The run files named by `paths` (files, folders searched for `*.h5`, or catalog folders,
    whose index lists them), and a problem for each path that names none."""
    found: list[Path] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            runs = _catalogued(path, problems) if (path / INDEX_NAME).is_file() else None
            if runs is None:
                runs = sorted(p for p in path.rglob("*.h5") if not p.name.startswith("."))
            if not runs:
                problems.append(f"{path}: no run files (*.h5) in this folder")
            found.extend(runs)
        else:
            problems.append(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, problems


def _catalogued(folder: Path, problems: list[str]) -> list[Path] | None:
    """The runs the catalog of `folder` lists, brought up to date, with a problem for each
    file it could not index; None if the catalog cannot be read (the folder is searched)."""
    try:
        with Catalog(folder) as catalog:
            runs = [folder / path for path, *_ in catalog.runs()]
            problems.extend(f"{folder / path}: {why}" for path, why in catalog.skipped)
            return runs
    except ResultFileError:
        return None


def open_unlocked(path: Path, *, verify: bool) -> Run:
    """The run file `path`, opened read-only without HDF5's file lock (see the module);
    damaged or truncated files fall back to `open_run`, which reads what it can of them, and
    so does a file whose commit log holds commits not yet in it (a writer killed or still
    writing): `open_run` reads the file as those commits leave it."""
    if read_log(path):
        return open_run(path, verify=verify)
    try:
        file = h5py.File(path, "r", locking=False)
    except OSError:
        return open_run(path, verify=verify)
    try:
        return Run(path, file, verify=verify)
    except (OSError, KeyError, ValueError, RuntimeError):
        file.close()  # caught mid-write, or damaged at its root: `open_run` says what it can
        return open_run(path, verify=verify)
    except BaseException:
        file.close()
        raise


@dataclass
class RunFile:
    """One run file in the viewer: the open `Run` (None when it cannot be opened, with the
    reason in `problems`), and what is known about it on disk."""

    path: Path
    run: Run | None = None
    problems: list[str] = field(default_factory=list)
    verified: bool = False
    stamp: tuple[int, int] = (0, 0)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool | None = None) -> RunFile:
        """Open `path`; its seal is checked (`verify`) by default for files up to
        `VERIFY_AT_OPEN_BYTES`."""
        entry = cls(Path(path))
        entry.load(verify)
        return entry

    def load(self, verify: bool | None = None) -> None:
        """(Re)open the file: whatever was open of it is closed first (HDF5 would otherwise
        answer from what it read before)."""
        self.close()
        self.stamp = _stamp(self.path)
        if verify is None:
            verify = self.stamp[0] <= VERIFY_AT_OPEN_BYTES
        self.problems = []
        try:
            self.run = open_unlocked(self.path, verify=verify)
        except ResultFileError as exc:
            self.run, self.verified = None, False
            self.problems = [str(exc)]
            return
        self.verified = verify
        self.problems = list(self.run.problems)
        if self.run.outcome == "incomplete":
            self.problems.append(
                f"{self.path}: the run has not finished: it is being written (followed), or its "
                "writer was killed; the tests it finished are shown"
            )
        if not verify:
            size = self.stamp[0] / (1 << 20)
            self.problems.append(
                f"{self.path}: seal not checked at opening ({size:.0f} MiB); verify to check it"
            )

    def verify(self) -> None:
        """Open the file again, checking its seal (reads the whole file)."""
        self.load(verify=True)

    def changed(self) -> bool:
        """Whether the file's size or modification time changed since it was (re)opened."""
        return _stamp(self.path) != self.stamp

    @property
    def live(self) -> bool:
        """Whether the run is still being written (or its writer was killed)."""
        return self.run is not None and self.run.outcome == "incomplete"

    @property
    def outcome(self) -> str:
        return "damaged" if self.run is None else self.run.outcome

    @property
    def serial(self) -> str:
        return "" if self.run is None else str(self.run.metadata.get("serial_number", ""))

    @property
    def part(self) -> str:
        return "" if self.run is None else str(self.run.metadata.get("part", ""))

    @property
    def started(self) -> datetime | None:
        text = "" if self.run is None else str(self.run.metadata.get("start_time", ""))
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    @property
    def title(self) -> str:
        """How the browser names the run: serial number, part and start, else the file name."""
        when = self.started
        parts = [self.serial, self.part, when.strftime("%Y-%m-%d %H:%M") if when else ""]
        label = "  ".join(p for p in parts if p)
        return f"{label}  ({self.path.name})" if label else self.path.name

    @property
    def tests(self) -> list[TestRecord]:
        return [] if self.run is None else list(self.run.tests)

    def close(self) -> None:
        if self.run is not None:
            self.run.close()
            self.run = None


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class Filter:
    """What the browser shows: failed tests only, tests that recorded a parameter (its name
    contains `parameter`), runs of a serial number (contains `serial`), runs started between
    two dates (inclusive)."""

    failed_only: bool = False
    parameter: str = ""
    serial: str = ""
    since: date | None = None
    until: date | None = None

    def run_matches(self, entry: RunFile) -> bool:
        if self.serial and self.serial.lower() not in entry.serial.lower():
            return False
        if self.since is not None or self.until is not None:
            started = entry.started
            if started is None:
                return False
            day = started.date()
            if self.since is not None and day < self.since:
                return False
            if self.until is not None and day > self.until:
                return False
        return True

    def test_matches(self, test: TestRecord) -> bool:
        if self.failed_only and test.outcome not in FAILING and not _has_failure(test):
            return False
        if self.parameter:
            wanted = self.parameter.lower()
            return any(wanted in name.lower() for name in recorded_names(test))
        return True

    def tests(self, entry: RunFile) -> list[TestRecord]:
        """The tests of `entry` that pass the filter (none when the run does not)."""
        if not self.run_matches(entry):
            return []
        return [t for t in entry.tests if self.test_matches(t)]


def recorded_names(test: TestRecord) -> Iterator[str]:
    """The names of everything `test` recorded: measurements, waveforms, sweeps, families."""
    yield from (str(n) for n in test.measurements["name"]) if len(test.measurements) else ()
    yield from test.waveforms
    yield from test.sweeps
    yield from test.families


def _has_failure(test: TestRecord) -> bool:
    rows = test.measurements
    return bool(len(rows)) and any(str(o) in ("fail", "failed") for o in rows["outcome"])


@dataclass(frozen=True)
class Key:
    """Where a waveform or sweep is: run file, test (index and attempt) and name. It stays
    valid when a followed run is opened again."""

    path: Path
    test_index: int
    attempt: int
    name: str

    @classmethod
    def of(cls, entry: RunFile, test: TestRecord, name: str) -> Key:
        return cls(entry.path, test.index, test.attempt, name)


def find_test(entry: RunFile, index: int, attempt: int) -> TestRecord | None:
    for test in entry.tests:
        if test.index == index and test.attempt == attempt:
            return test
    return None


def find_waveform(entry: RunFile, key: Key) -> StoredWaveform | None:
    test = find_test(entry, key.test_index, key.attempt)
    return None if test is None else test.waveforms.get(key.name)


def find_sweep(entry: RunFile, key: Key) -> StoredSweep | None:
    test = find_test(entry, key.test_index, key.attempt)
    return None if test is None else test.sweeps.get(key.name)


def same_record(entry: RunFile, test_id: str, name: str) -> Key | None:
    """The key of the waveform or sweep `name` of the (last) test `test_id` in another run
    (a baseline or another unit), or None when that run has none."""
    for test in reversed(entry.tests):
        if test.id == test_id and (name in test.waveforms or name in test.sweeps):
            return Key.of(entry, test, name)
    return None
