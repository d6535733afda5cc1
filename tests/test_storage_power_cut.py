"""Power cuts in the default sync mode: the disk keeps what was fsynced, and any part of the rest.

The writer runs in its default mode (`sync="background"`), with the background thread's work
done in line every other commit so that the order of writes and fsyncs is the same on every
run, and every write and fsync to its files recorded in order (`test_storage_kill_points`).
After each write, a power cut can leave each file as it was at its last fsync plus any of its
later writes: the two extremes are checked, the commit log with every later write and the run
file with none, and the other way round. Each must open, hold every test committed before the
last completed fsync pass exactly, and any other test it holds exactly too (never a torn
commit, never a waveform of blocks the disk had not written).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_storage_kill_points import Recorder, _write_run, apply_op, check_test

import benchtest.storage.hdf5_writer as hdf5_writer
from benchtest.results import open_run
from benchtest.runfile.commit_log import log_path
from benchtest.storage.durability import Durable, Sync

TESTS = 7  # every third has a waveform; a table append after the 4th


class InlineSyncer:
    """The background thread's work (`make_durable`), done at every other commit in the
    writer's own thread; each completed pass is marked in the recorder."""

    recorder: Recorder

    def __init__(self, target: Durable, mode: Sync = "background") -> None:
        self.target, self.mode, self.requests = target, mode, 0

    def request(self) -> None:
        self.requests += 1
        if self.requests % 2 == 0:
            self._durable()

    def stop(self, final_sync: bool = True) -> None:
        if final_sync:
            self._durable()

    def _durable(self) -> None:
        self.target.make_durable()
        self.recorder.ops.append(("durable",))


def _power_cuts(
    recorder: Recorder, run_name: str
) -> Iterator[tuple[str, dict[str, bytes], set[str]]]:
    """(what was lost, {file name: bytes on the disk}, tests that must be there) for a power
    cut after each write: the run file as at its last fsync with the log as written, and the
    log as at its last fsync with the run file as written."""
    contents: dict[int, bytearray] = {}
    synced: dict[int, bytes] = {}
    names: dict[str, int] = {}
    finished: list[str] = []
    durable: set[str] = set()
    log_name = log_path(Path(run_name)).name
    for count, op in enumerate(recorder.ops):
        kind, *rest = op
        if kind == "finished":
            finished.append(rest[0])
            continue
        if kind == "durable":
            durable = set(finished)
            continue
        if kind == "named":
            names[rest[1]] = rest[0]
        elif kind == "unnamed":
            names.pop(rest[0], None)
        elif kind == "fsync":
            synced[rest[0]] = bytes(contents.get(rest[0], b""))
            continue
        else:
            apply_op(contents.setdefault(rest[0], bytearray()), kind, rest[1:])
        if run_name not in names:
            continue
        written = {n: bytes(contents.get(i, b"")) for n, i in names.items()}
        on_disk = {n: synced.get(i, b"") for n, i in names.items()}
        for lost, keep in (("run file", log_name), ("log", run_name)):
            files = {n: written[n] if n == keep else on_disk[n] for n in names}
            yield f"after write {count}, the {lost}'s unsynced writes lost", files, durable


def _check(folder: Path, run_name: str, files: dict[str, bytes], durable: set[str]) -> None:
    for old in folder.iterdir():
        old.unlink()
    for name, data in files.items():
        if name in (run_name, log_path(Path(run_name)).name):
            (folder / name).write_bytes(data)
    with open_run(folder / run_name) as run:
        tests = {t.id: t for t in run.tests}
        assert not durable - tests.keys(), f"durable tests lost: {sorted(durable - tests.keys())}"
        for test_id, record in tests.items():
            if record.outcome != "incomplete":  # any test it holds, it holds exactly
                check_test(record, test_id)


@pytest.mark.skipif(
    not (hasattr(os, "pwrite") and hasattr(os, "posix_fallocate")),
    reason="records the writer's pwrite, fsync and posix_fallocate calls (POSIX)",
)
def test_a_power_cut_in_the_default_mode_tears_no_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hdf5_writer, "BATCH_TESTS", 4)  # table appends mid-run
    monkeypatch.setattr(hdf5_writer, "Syncer", InlineSyncer)
    folder, replay = tmp_path / "run", tmp_path / "replay"
    folder.mkdir()
    replay.mkdir()
    recorder = InlineSyncer.recorder = Recorder(folder)
    with monkeypatch.context() as patched:
        recorder.install(patched)
        _write_run(folder / "run.h5", recorder, sync="background", tests=TESTS)
    cuts = list(_power_cuts(recorder, "run.h5"))
    assert len(cuts) > 100
    assert any(durable for _, _, durable in cuts)  # some passes completed mid-run
    failures, seen = [], set()
    for what, files, durable in cuts:
        state = (hash(tuple(sorted(files.items()))), frozenset(durable))
        if state in seen:  # the same bytes on the disk as a power cut checked before
            continue
        seen.add(state)
        try:
            _check(replay, "run.h5", files, durable)
        except Exception as exc:
            failures.append(f"{what} ({len(durable)} durable): {exc!r}"[:300])
    assert not failures, f"{len(failures)} of {len(seen)} power cuts:\n" + "\n".join(failures)
    assert len(seen) > 100  # distinct ones
    assert not log_path(folder / "run.h5").exists()
