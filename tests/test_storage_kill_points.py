"""Crash safety at every kill point: the files a killed writer leaves, one write at a time.

A process killed at any moment leaves its files as they were after some number of its
writes (the operating system keeps every write that returned). So the writer runs here with
each write to its files recorded in order (run file, commit log, seal), and the files are
then rebuilt after every prefix of those writes: each one must open, hold every test that
had finished by then, exactly, and render. This covers the moments a random kill rarely
hits: inside an HDF5 flush that changes the root group's links (the 9th link turns its
links into a heap and a B-tree), the flushes of the entries built at close, and the seal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import benchtest.storage.hdf5_writer as hdf5_writer
from benchtest.report.html import render_report
from benchtest.results import open_run
from benchtest.runfile.commit_log import log_path
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.durability import Sync
from benchtest.storage.example import run_started
from benchtest.values.events import (
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform

TESTS = 21  # every third has a waveform: the root gets its 9th link in test 18
RENDER_EVERY = 25  # kill points whose report is rendered too (rendering costs ~50 ms)
POINTS = 2_000


@dataclass
class Recorder:
    """Every write, size change and removal of the files under `folder`, in order."""

    folder: Path
    ops: list[tuple[Any, ...]] = field(default_factory=list)
    fds: dict[int, int] = field(default_factory=dict)  # fd -> inode

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = {name: getattr(os, name) for name in
                ("open", "close", "write", "pwrite", "ftruncate", "truncate", "unlink",
                 "posix_fallocate", "link", "rename", "replace", "fsync")}  # fmt: skip

        def inode_of_fd(fd: int) -> int | None:
            return self.fds.get(fd)

        def opened(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            fd = int(real["open"](path, flags, *args, **kwargs))
            if self._ours(path):
                inode = os.fstat(fd).st_ino
                self.fds[fd] = inode
                if flags & os.O_CREAT:
                    self.ops.append(("named", inode, Path(path).name))
                if flags & os.O_TRUNC:
                    self.ops.append(("size", inode, 0, True))
            return fd

        def closed(fd: int) -> None:
            self.fds.pop(fd, None)
            real["close"](fd)

        def written(fd: int, data: Any) -> int:
            inode = inode_of_fd(fd)
            position = os.lseek(fd, 0, os.SEEK_CUR) if inode is not None else 0
            count = int(real["write"](fd, data))
            if inode is not None:
                self.ops.append(("write", inode, position, bytes(memoryview(data)[:count])))
            return count

        def pwritten(fd: int, data: Any, offset: int) -> int:
            count = int(real["pwrite"](fd, data, offset))
            inode = inode_of_fd(fd)
            if inode is not None:
                self.ops.append(("write", inode, offset, bytes(memoryview(data)[:count])))
            return count

        def resized(fd: int, size: int) -> None:
            real["ftruncate"](fd, size)
            if (inode := inode_of_fd(fd)) is not None:
                self.ops.append(("size", inode, size, True))

        def cut(path: Any, size: int) -> None:
            real["truncate"](path, size)
            if self._ours(path):
                self.ops.append(("size", os.stat(path).st_ino, size, True))

        def claimed(fd: int, offset: int, length: int) -> None:
            real["posix_fallocate"](fd, offset, length)
            if (inode := inode_of_fd(fd)) is not None:
                self.ops.append(("size", inode, offset + length, False))

        def synced(fd: int) -> None:
            real["fsync"](fd)
            if (inode := inode_of_fd(fd)) is not None:
                self.ops.append(("fsync", inode))

        def removed(path: Any, *args: Any, **kwargs: Any) -> None:
            real["unlink"](path, *args, **kwargs)
            if self._ours(path):
                self.ops.append(("unnamed", Path(path).name))

        def linked(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            real["link"](source, target, *args, **kwargs)
            if self._ours(target):
                self.ops.append(("named", os.stat(target).st_ino, Path(target).name))

        def renamed(kind: str) -> Callable[..., None]:
            def rename(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
                real[kind](source, target, *args, **kwargs)
                if self._ours(target):
                    self.ops.append(("unnamed", Path(source).name))
                    self.ops.append(("named", os.stat(target).st_ino, Path(target).name))

            return rename

        for name, function in (("open", opened), ("close", closed), ("write", written),
                               ("pwrite", pwritten), ("ftruncate", resized), ("truncate", cut),
                               ("unlink", removed), ("posix_fallocate", claimed),
                               ("link", linked), ("rename", renamed("rename")),
                               ("replace", renamed("replace")), ("fsync", synced)):  # fmt: skip
            monkeypatch.setattr(os, name, function)

    def _ours(self, path: Any) -> bool:
        return isinstance(path, str | os.PathLike) and Path(path).parent == self.folder

    def mark(self, test_id: str) -> None:
        """A test's TestFinished returned: from here on it must survive any kill."""
        self.ops.append(("finished", test_id))


def _expected_waveform(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(-2000, 2000, POINTS).astype(np.int16)


def _write_run(path: Path, recorder: Recorder, sync: Sync = "never", tests: int = TESTS) -> None:
    writer = Hdf5RunWriter(path, sync=sync)
    writer(run_started())
    writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::x", "KEITHLEY,2450"))
    for i in range(tests):
        test_id = f"plan.py::test_{i}"
        writer(TestStarted(test_id, "2026-11-28T15:43:00+00:00", {"i": i}))
        for j in range(1 + i % 3):
            measurement = Measurement.judge(f"p{j}", i + j / 8, "V", Limits(None, 50.0, "V"))
            writer(MeasurementRecorded(test_id, measurement))
        if i % 3 == 0:
            waveform = Waveform(_expected_waveform(i), dt=1e-6, scale=1e-3)
            writer(WaveformRecorded(test_id, "vout", waveform))
        writer(TestFinished(test_id, "passed", "2026-11-28T15:43:01+00:00", 0.1))
        recorder.mark(test_id)
    writer(RunFinished("2026-11-28T15:44:00+00:00", "passed"))
    writer.close()


def _states(recorder: Recorder, run_name: str) -> Iterator[tuple[int, dict[str, bytes], list[str]]]:
    """(write count, {file name: bytes}, finished tests) after each write to the files."""
    contents: dict[int, bytearray] = {}  # inode -> bytes
    names: dict[str, int] = {}  # file name -> inode
    finished: list[str] = []
    for count, op in enumerate(recorder.ops):
        kind, *rest = op
        if kind == "finished":
            finished.append(rest[0])
            continue
        if kind == "fsync":  # changes nothing a killed process leaves
            continue
        if kind == "named":
            names[rest[1]] = rest[0]
        elif kind == "unnamed":
            names.pop(rest[0], None)
        else:
            apply_op(contents.setdefault(rest[0], bytearray()), kind, rest[1:])
        if run_name in names:
            yield count, {n: bytes(contents.get(i, b"")) for n, i in names.items()}, list(finished)


def apply_op(data: bytearray, kind: str, args: list[Any]) -> None:
    """A recorded write (offset, bytes) or size change (size, exact) done to a file's bytes."""
    if kind == "write":
        offset, payload = args
        if offset + len(payload) > len(data):
            data.extend(bytes(offset + len(payload) - len(data)))
        data[offset : offset + len(payload)] = payload
        return
    size, exact = args  # claimed (grows only) or cut (exact)
    if size > len(data):
        data.extend(bytes(size - len(data)))
    elif exact:
        del data[size:]


def check_test(record: Any, test_id: str) -> None:
    """A test `_write_run` finished, read back exactly."""
    i = int(test_id.rsplit("_", 1)[1])
    assert record.outcome == "passed"
    assert record.measurements["value"].tolist() == [i + j / 8 for j in range(1 + i % 3)]
    if i % 3 == 0:
        np.testing.assert_array_equal(record.waveforms["vout"].codes[...], _expected_waveform(i))


def _check(
    folder: Path, run_name: str, files: dict[str, bytes], finished: list[str], render: bool
) -> None:
    for old in folder.iterdir():
        old.unlink()
    for name, data in files.items():
        if name == run_name or name == log_path(Path(run_name)).name:
            (folder / name).write_bytes(data)
    with open_run(folder / run_name) as run:
        tests = {t.id: t for t in run.tests}
        for test_id in finished:
            assert test_id in tests, f"finished test {test_id} lost"
            check_test(tests[test_id], test_id)
        if render:
            assert "<html" in render_report(run)


@pytest.mark.skipif(
    not (hasattr(os, "pwrite") and hasattr(os, "posix_fallocate")),
    reason="records the writer's pwrite and posix_fallocate calls (POSIX)",
)
def test_every_kill_point_keeps_every_finished_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hdf5_writer, "BATCH_TESTS", 8)  # table appends mid-run, not only at close
    folder, replay = tmp_path / "run", tmp_path / "replay"
    folder.mkdir()
    replay.mkdir()
    recorder = Recorder(folder)
    with monkeypatch.context() as patched:
        recorder.install(patched)
        _write_run(folder / "run.h5", recorder)
    states = list(_states(recorder, "run.h5"))
    assert len(states) > 100  # the run wrote in many steps, each one a kill point checked
    assert any(".run.h5.commit" in files for _, files, _ in states)  # commits went by the log
    failures = []
    for index, (count, files, finished) in enumerate(states):
        render = index % RENDER_EVERY == 0 or index == len(states) - 1
        try:
            _check(replay, "run.h5", files, finished, render)
        except Exception as exc:
            failures.append(f"after write {count} ({len(finished)} tests finished): {exc!r}"[:300])
    assert not failures, f"{len(failures)} of {len(states)} kill points:\n" + "\n".join(failures)
    assert not log_path(folder / "run.h5").exists()  # a closed run leaves no log


@pytest.mark.skipif(not hasattr(os, "pwrite"), reason="records the commit's pwrite calls")
@pytest.mark.parametrize("sync", [True, False])
def test_a_commit_orders_log_file_and_fsyncs_as_its_mode_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    from benchtest.runfile.commit_log import read_log
    from benchtest.storage.committed_file import CommittedFile

    path = tmp_path / "run.h5"
    path.write_bytes(bytes(4096))
    committed = CommittedFile(path, sync=sync)
    calls: list[tuple[str, str]] = []
    real_pwrite, real_fsync = os.pwrite, os.fsync

    def name(fd: int) -> str:
        return "file" if fd == committed.fd else "log"

    def pwrite(fd: int, data: Any, offset: int) -> int:
        calls.append(("write", name(fd)))
        return int(real_pwrite(fd, data, offset))

    def fsync(fd: int) -> None:
        calls.append(("fsync", name(fd)))
        real_fsync(fd)

    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr(os, "fsync", fsync)
    committed.seek(100)
    committed.write(b"held")  # below the committed end: held until the commit
    committed.seek(5000)
    committed.write(b"new")  # past it: gathered, written by the commit before its record
    assert calls == []
    assert path.read_bytes()[100:104] == bytes(4)
    committed.flush()
    first = [("fsync", "file")] if sync else []  # the new blocks, before the record naming them
    synced = [("fsync", "log")] if sync else []
    then = [("fsync", "file")] if sync else []
    expected = [("write", "file"), *first, ("write", "log"), *synced, ("write", "file"), *then]
    assert calls == [*expected, ("write", "log")]
    assert path.read_bytes()[5000:5003] == b"new"
    assert path.read_bytes()[100:104] == b"held"
    assert read_log(path) == []  # marked empty once the file holds the commit
    committed.close()
    assert not (tmp_path / ".run.h5.commit").exists()


@pytest.mark.skipif(not hasattr(os, "pwrite"), reason="fails the commit's pwrite calls")
def test_a_commit_that_failed_on_its_way_into_the_file_keeps_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchtest.runfile.commit_log import read_log
    from benchtest.storage.committed_file import CommittedFile

    path = tmp_path / "run.h5"
    path.write_bytes(bytes(4096))
    committed = CommittedFile(path)
    committed.seek(100)
    committed.write(b"held")
    real_pwrite = os.pwrite

    def failing(fd: int, data: Any, offset: int) -> int:
        if fd == committed.fd:
            raise OSError(5, "Input/output error")
        return int(real_pwrite(fd, data, offset))

    monkeypatch.setattr(os, "pwrite", failing)
    with pytest.raises(OSError, match="Input/output"):
        committed.flush()
    committed.discard()  # the writer stops, and closes without committing again
    committed.close()
    monkeypatch.undo()
    assert read_log(path) == [(100, b"held")]  # the log still finishes the commit
    assert path.read_bytes()[100:104] == bytes(4)
