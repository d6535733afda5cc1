"""`Hdf5RunWriter`: the recorder subscriber that stores one run as one NeXus/HDF5 file.

A test that starts, and a test that finishes, is one record written through to the journal
(/summary/journal, see `benchtest.runfile.journal`): a finished test is committed, surviving a
killed process, in ~10 us. The journaled tests move into the run-level tables of /summary
(tests, measurements, waveforms), the authoritative record, in batches: every
`BATCH_TESTS` tests or `BATCH_SECONDS` seconds, with one append per table and one flush.
Waveforms go straight into the test's NXentry while it runs; the NXentry of a test without
waveforms is built from its rows when the run closes (as they were appended, kept in memory
up to `KEPT_ROWS_BYTES`, else read back from the tables), and the closed file is sealed
(`benchtest.runfile.seal`). The file only ever exists complete (`header.create_run_file`).
Space for each write that grows it is claimed first (`space`): a full disk stops the writer
with a `RunFileWriteError` before HDF5 writes, and the tests committed before stay readable.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile import schema
from benchtest.runfile.codecs import Codec, codec, load_plugins
from benchtest.runfile.journal import ORDERED, JournalWriter
from benchtest.runfile.seal import seal_file
from benchtest.runfile.tables import Appender, table_rows
from benchtest.storage.committed_file import CommittedFile, DirectFile
from benchtest.storage.curve_groups import write_family, write_sweep
from benchtest.storage.durability import SYNC_MODES, Sync, Syncer, fsync_directory
from benchtest.storage.entries import complete_entry, create_entry, set_attrs
from benchtest.storage.failure import RunFileWriteError, abandon, write_error
from benchtest.storage.finalize import Appended, build_entries, build_missing_entries
from benchtest.storage.header import (
    create_run_file,
    holds,
    layout,
    running_json,
    station_image,
    write_run_values,
)
from benchtest.storage.lowlevel import AttrValue, rewrite_attrs, storable
from benchtest.storage.profile_stream import ProfileStream, chunk_bytes, start_profile_stream
from benchtest.storage.running import RunningTest
from benchtest.storage.space import (
    PER_GROUP,
    PER_ROW,
    SpaceClaim,
    SpaceRefusedError,
    group_bytes,
    waveform_bytes,
)
from benchtest.storage.waveforms import PLOT_COPY_MAX_POINTS, write_waveform
from benchtest.values import stops
from benchtest.values.curves import judge_sweep
from benchtest.values.errors import ResultFileError
from benchtest.values.events import (
    Event,
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    SafeStateApplied,
    SweepRecorded,
    TestFinished,
    TestStarted,
    WaveformFamilyRecorded,
    WaveformRecorded,
    utc_now,
)
from benchtest.values.streams import (
    ProfileChunkRecorded,
    ProfileStreamFinished,
    ProfileStreamStarted,
)


@dataclass(frozen=True)
class StoredWaveformCopied:
    """A waveform already stored in another run file with the same codec (its NXdata `group`),
    copied as it is stored: how merging sites' run files keeps waveforms without decoding
    and re-encoding their samples."""

    test_id: str
    name: str
    group: h5py.Group
    points: int


#: What the writer stores: the recorder's events, and copies of stored waveforms.
WriterEvent = Event | StoredWaveformCopied

#: Journaled tests that make the writer move them into the tables...
BATCH_TESTS = 256
#: ...or seconds since the oldest of them was committed, checked when a test is committed.
BATCH_SECONDS = 2.0
#: A test with more measurements is committed straight to the tables: one append and flush
#: shared by its rows cost less than encoding them as a journal record.
JOURNAL_MAX_ROWS = 64
#: File space claimed per test for the entries built at close (measured: ~2 KiB).
ENTRY_BYTES = 4096
#: Bytes of appended rows (tests without an entry, and the measurement rows appended with
#: them) kept in memory to build their entries from at close; beyond, they are read back.
KEPT_ROWS_BYTES = 32 << 20


class Hdf5RunWriter:
    """Stores the events of one run in the HDF5 file `path` (which must not exist yet).

    Subscribe an instance to a `RunRecorder`; the file is created on `RunStarted` and closed
    on `RunFinished`. `close()` may be called at any time, more than once, also after an error.
    `compression` is "gzip" (portable, default) or "fast" (needs hdf5plugin on every reader);
    `sync` says when commits are fsynced (see `benchtest.storage.durability`); `attributes`
    are root attributes to add to the header (a closed run file is sealed, never changed).
    `bulk=True` commits only at close, not test by test, writes no journal records and
    claims no space ahead: for a file written at once from a record kept elsewhere (merged
    sites), which is not crash-safe while it is written and is dropped when a write fails.

    A write that fails raises `RunFileWriteError` from the event that caused it; the writer has
    stopped then (`failure`): it ignores later events, except that it notes safe-state
    actions in the journal. `close()` then closes and seals what the file holds when the
    space was refused before HDF5 wrote, and otherwise releases it without writing to it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compression: str | Codec = "gzip",
        sync: Sync = "background",
        bulk: bool = False,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self._attributes = dict(attributes or {})
        self.codec = codec(compression)
        if sync not in SYNC_MODES:
            raise ValueError(f"unknown sync mode {sync!r}; use one of {', '.join(SYNC_MODES)}")
        self._sync_mode: Sync = sync
        self._bulk = bulk
        self._file: h5py.File | None = None
        self._committed: CommittedFile | DirectFile
        self._closed = False
        self._running: dict[str, RunningTest] = {}
        self._count = 0
        self._tables: dict[str, Appender] = {}
        self._syncer: Syncer | None = None
        self._default_set = False
        self._first_entry: tuple[int, str] | None = None  # (index, entry) of the first test
        self._tables_have_entries = True  # False once rows not kept in memory were appended
        self._kept: list[Appended] = []  # appended rows of tests without an entry, kept
        self._kept_bytes = 0
        self._journal: JournalWriter | None = None
        self._batch = _Batch()
        self._unflushed = False  # rows appended outside the journal (instruments, safe state)
        self._pending: dict[str, list[tuple[Any, ...]]] = {
            schema.INSTRUMENTS: [],
            schema.SAFE_STATE_LOG: [],
        }
        self._seal_offset: int | None = None
        self._running_at = 0  # byte offset of /summary/running
        self._appended = -1  # the commit of the last table append (the run file's sequence)
        self._space: SpaceClaim | None = None
        #: Why the writer stopped: the first write that failed (None while it works).
        self.failure: RunFileWriteError | None = None
        self._hdf5_failed = False  # a write inside HDF5 failed: its state is unknown
        self._fitting: tuple[set[str], set[str]] = (set(), set())  # names, units that fit
        self._streams: dict[tuple[str, str], ProfileStream] = {}  # (test, name): streaming

    def __call__(self, event: Event) -> None:
        if type(event) is MeasurementRecorded and self.failure is None:  # the hot path
            test = self._running.get(event.test_id)
            if test is not None and self._file is not None:
                test.measurements.append(event.measurement)
                return
        self.handle(event)

    def handle(self, event: WriterEvent) -> None:
        """Store `event` (dispatch on its type: a dict lookup, cheaper than singledispatch)."""
        if self.failure is not None:
            self._after_failure(event)
            return
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"Hdf5RunWriter: unknown event {type(event).__name__}")
        try:
            with stops.held:  # a Ctrl-C waits: never between two changes that belong together
                handler(self, event)
        except (OSError, RuntimeError) as exc:  # what h5py and the OS raise for a failed write
            raise self._stop(exc, _doing(event)) from exc

    def __enter__(self) -> Hdf5RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- event handlers -------------------------------------------------------------------

    def _run_started(self, event: RunStarted) -> None:
        if self._file is not None or self._closed:
            raise ResultFileError(f"{self.path}: RunStarted arrived twice")
        if self.codec.needs_plugin:  # a missing plugin fails here, before the file exists
            load_plugins(self.codec.name)
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file, self._committed = file, committed = create_run_file(
            self.path,
            partial(self._write_header, event),
            sync=self._sync_mode != "never",
            sync_commits=self._sync_mode == "always",  # else the background thread fsyncs
            direct=self._bulk,  # no crash safety while written: HDF5's own driver
            deferred=self._sync_mode == "background",  # the fsync thread writes commits in
            start=station_image(event, self.codec),  # what the station's runs share
        )
        where = layout(manifest=bool(event.plans_manifest))
        self._seal_offset = where.seal
        self._space = SpaceClaim(file, committed.fd)
        self._running_at = where.running[0]
        for region in (where.running, where.journal):  # records of their own: in place at once
            committed.write_through(*region)
        journal = h5py.h5d.open(file.id, f"{schema.SUMMARY}/{schema.JOURNAL}".encode())
        self._journal = JournalWriter(h5py.Dataset(journal), write=committed.write_record)
        for group, name in _TABLES:  # empty in a new file: opened when first appended to
            self._tables[name] = Appender(file.id, f"{group}/{name}", rows=0)
        self._batch.reset(self._tables)
        self._syncer = Syncer(committed, self._sync_mode)
        file.flush()
        self._syncer.request()
        if self._sync_mode != "never":
            fsync_directory(self.path.parent)  # the new file's name survives a power cut too

    def _write_header(self, event: RunStarted, file: h5py.File) -> None:
        write_run_values(file, event, self.codec)
        if self._attributes:
            file.attrs.update(self._attributes)

    # Instrument and safe-state rows wait for the next commit, which appends each table's
    # rows at once (a table append costs ~0.2 ms: three rows a test made 0.6 ms).

    def _instrument_identified(self, event: InstrumentIdentified) -> None:
        self._require_file()
        identity, resource = storable(event.identity), storable(event.resource)  # replies
        row = (event.role, event.driver, resource, identity, event.calibration_due)
        self._pending[schema.INSTRUMENTS].append(row)

    def _safe_state_applied(self, event: SafeStateApplied) -> None:
        self._require_file()
        self._pending[schema.SAFE_STATE_LOG].append(
            (event.time, event.role, event.ok, storable(event.message))
        )

    def _append_pending(self) -> None:
        """Append the instrument and safe-state rows waiting for a commit."""
        for name, rows in self._pending.items():
            if rows:
                self._claim(PER_ROW * len(rows) + PER_GROUP)
                self._tables[name].append(rows)
                rows.clear()
                self._unflushed = True

    def _test_started(self, event: TestStarted) -> None:
        self._require_file()
        if event.test_id in self._running:  # started again before it finished: keep what it had
            self._store(self._running.pop(event.test_id), schema.INCOMPLETE, "", "", float("nan"))
        self._count += 1
        test = self._running[event.test_id] = RunningTest.start(event, self._count)
        if self._bulk:  # written whole or dropped: no journal, no running marker per test
            return
        if not self._journal_write(test.start_record()):
            self._write_running_marker()  # too big for the journal: straight to the marker

    def _measurement_recorded(self, event: MeasurementRecorded) -> None:
        self._test(event.test_id).measurements.append(event.measurement)

    def _entry_group(self, test: RunningTest, name: str) -> tuple[h5py.Group, str]:
        """The test's NXentry (created on first use) and a free child name for `name`."""
        if test.group is None:
            test.group = create_entry(self._require_file(), test.entry, test.test_id)
        return test.group, schema.unique_name(
            test.group, schema.sanitise(name), schema.ENTRY_FIELDS
        )

    def _claim(self, needed: int) -> None:
        """Claim file space for a write that grows the file (see `space`); a bulk file is
        not kept when a write fails, so it claims none."""
        if self._space is not None and not self._bulk:
            self._space.claim(needed)

    def _sweep_recorded(self, event: SweepRecorded) -> None:
        test = self._test(event.test_id)
        self._claim(PER_GROUP + 16 * len(event.x))
        group, name = self._entry_group(test, event.name)
        write_sweep(group, name, event, self.codec)
        self._plottable(test, group, name)
        axis = (event.x_name, event.x_unit)
        test.measurements.append(
            judge_sweep(event.name, event.x, event.y, event.limits, axis, event.description)
        )

    def _waveform_family_recorded(self, event: WaveformFamilyRecorded) -> None:
        test = self._test(event.test_id)
        self._claim(PER_GROUP + sum(12 * len(w) + 8 for w in event.waveforms))
        group, name = self._entry_group(test, event.name)
        write_family(group, name, event, self.codec)
        self._plottable(test, group, name)

    def _waveform_recorded(self, event: WaveformRecorded) -> None:
        test = self._test(event.test_id)
        wf = event.waveform
        self._claim(waveform_bytes(len(wf), wf.samples.itemsize, len(wf) <= PLOT_COPY_MAX_POINTS))
        group, name = self._entry_group(test, event.name)
        nxdata = write_waveform(
            group, name, event.name, event.waveform, self.codec, event.description
        )
        test.waveforms.append((storable(event.name), nxdata.name, len(event.waveform)))
        self._plottable(test, group, name)

    def _stored_waveform_copied(self, event: StoredWaveformCopied) -> None:
        test = self._test(event.test_id)
        group, name = self._entry_group(test, event.name)
        source = event.group
        if not self._bulk:  # walking the group costs ~0.8 ms; a bulk file claims nothing
            self._claim(group_bytes(source))
        h5py.h5o.copy(source.file.id, source.name.encode(), group.id, name.encode())
        test.waveforms.append((event.name, f"{group.name}/{name}", event.points))
        self._plottable(test, group, name)

    def _profile_stream_started(self, event: ProfileStreamStarted) -> None:
        test = self._test(event.test_id)
        if (event.test_id, event.name) in self._streams:
            raise ResultFileError(f"{self.path}: profile {event.name!r} is already streaming")
        self._claim(PER_GROUP)
        group, name = self._entry_group(test, event.name)
        stream = start_profile_stream(group, name, event, self.codec)
        self._streams[(event.test_id, event.name)] = stream

    def _profile_chunk_recorded(self, event: ProfileChunkRecorded) -> None:
        """Append the chunk and flush: a killed writer keeps every chunk before."""
        stream = self._stream(event.test_id, event.name)
        self._claim(chunk_bytes(event.chunk))
        stream.append(event.chunk)
        self._require_file().flush()

    def _profile_stream_finished(self, event: ProfileStreamFinished) -> None:
        test = self._test(event.test_id)
        stream = self._stream(event.test_id, event.name)
        del self._streams[(event.test_id, event.name)]
        stream.finish(event.complete, event.message, event.tables)
        test.waveforms.append((event.name, stream.group.name, stream.points))
        self._plottable(test, stream.group.parent, stream.group.name.rsplit("/", 1)[-1])
        self._require_file().flush()

    def _stream(self, test_id: str, name: str) -> ProfileStream:
        stream = self._streams.get((test_id, name))
        if stream is None:
            raise ResultFileError(f"{self.path}: profile {name!r} of {test_id!r} is not streaming")
        return stream

    def _plottable(self, test: RunningTest, group: h5py.Group, name: str) -> None:
        """Point the entry's `@default` (and the root's, once) at its first plottable group."""
        if not h5py.h5a.exists(group.id, b"default"):
            set_attrs(group, {"default": name})
        if not self._default_set:
            self._default_set = True
            rewrite_attrs(self._require_file(), {"default": test.entry})

    def _test_finished(self, event: TestFinished) -> None:
        test = self._test(event.test_id)
        del self._running[event.test_id]
        message = storable(event.message)  # an error's text may quote a garbled reply
        self._store(test, event.outcome, message, event.finished, event.duration)
        if not self._bulk:
            self.commit()

    def _run_finished(self, event: RunFinished) -> None:
        values: dict[str, AttrValue] = {
            "end_time": event.finished,
            "outcome": event.outcome,
            "skipped": np.int64(event.skipped),
            "skip_reasons": event.skip_reasons,
        }
        rewrite_attrs(  # the header's placeholders, rewritten in place where they differ
            self._require_file(),
            {k: v for k, v in values.items() if k in self._attributes or not holds(k, v)},
        )
        self.close()

    # -- commit and close -----------------------------------------------------------------

    def commit(self) -> None:
        """Make everything written so far survive a killed process, and reach the disk as the
        sync mode says: the one place that decides crash safety. Journal records are with the
        operating system once written; rows appended to tables need a flush."""
        with stops.held:
            self._commit()

    def _commit(self) -> None:
        if self._file is None or self._syncer is None:
            return
        self._append_pending()
        if self._unflushed:
            self._claim(PER_GROUP)
            self._file.flush()
            self._unflushed = False
        self._syncer.request()

    def close(self) -> None:
        """Store unfinished tests as incomplete, build the missing entries, close and seal.

        A writer that stopped closes what it has (a full disk refused space before HDF5 wrote:
        the file is consistent and is sealed) or, after a write that failed inside HDF5, only
        releases the file.
        """
        with stops.held:  # a Ctrl-C while closing is raised once the file is sealed
            self._close()

    def _close(self) -> None:
        file = self._file
        self._closed = True
        if file is None:
            return
        try:
            if self.failure is None:
                try:
                    self._complete(file)
                except (OSError, RuntimeError) as exc:
                    raise self._stop(exc, "closing the run file") from exc
        finally:
            self._file = None
            end = self._release(file)
            if end is not None:  # consistent, also after a refused claim: sealed
                self._seal(end)

    def _complete(self, file: h5py.File) -> None:
        """Commit the unfinished tests as incomplete and the last batch, with the entries of
        the tests that have none (one flush), and point the root @default at the first test
        when no test was plottable."""
        for test in list(self._running.values()):
            self._store(test, schema.INCOMPLETE, "", "", float("nan"))
        self._running.clear()
        batch, earlier = self._batch, len(self._tables[schema.TESTS])
        if self._tables_have_entries:  # the tests without entries: kept, and the last batch's
            tests, measurements = batch.without_entry()
            for kept, _, _ in self._kept:
                tests += len(kept)
                measurements += int(kept["measurement_count"].sum())
        else:  # so may tests appended before: the tables are read back
            tests, measurements = batch.tests, batch.measurements
        self._claim(self._batch_bytes() + ENTRY_BYTES * tests + PER_ROW * measurements)
        appended = self._move_batch()
        if not self._tables_have_entries:
            build_missing_entries(file, count=earlier)
        if appended is not None:
            self._kept.append(appended)
        build_entries(file, self._kept)
        self._kept = []
        if not self._default_set and self._first_entry is not None:
            self._default_set = True
            rewrite_attrs(file, {"default": self._first_entry[1]})
        file.flush()
        self._batch_committed()
        if self._journal is not None:
            self._journal.empty()  # the half left too, once this last commit is on the disk

    def _release(self, file: h5py.File) -> int | None:
        """Close the HDF5 file; the length to cut it to before it is sealed, or None when a
        write failed inside HDF5 (then closed without letting HDF5 write again, unsealed)."""
        if self._syncer is not None:
            self._syncer.stop(final_sync=self.failure is None)
        if not self._hdf5_failed:
            try:
                file.flush()
                end = self._space.release() if self._space is not None else None
                file.close()
                self._committed.close()  # the last commit; its log goes
                return end
            except (OSError, RuntimeError) as exc:
                stopped_before = self.failure is not None
                error = self._stop(exc, "closing the run file")
                self._hdf5_failed = True
                self._abandon(file)
                if not stopped_before:
                    raise error from exc
                return None
        self._abandon(file)
        return None

    def _abandon(self, file: h5py.File) -> None:
        """Close without committing what HDF5 still writes: the file stays as last committed
        (and a complete log beside it finishes that commit for readers)."""
        self._committed.discard()
        abandon(file)
        with contextlib.suppress(OSError):
            self._committed.close()

    def _seal(self, end: int) -> None:
        """Cut the claimed space off the closed file and seal it."""
        if self._seal_offset is None:
            return
        try:
            if self.path.stat().st_size > end:
                os.truncate(self.path, end)
            sync, known = self._sync_mode != "never", self._committed.region_crcs()
            seal_file(self.path, self._seal_offset, sync=sync, known=known)
        except OSError as exc:
            raise self._stop(exc, "sealing the closed run file") from exc

    # -- failure --------------------------------------------------------------------------

    def _stop(self, exc: BaseException, doing: str) -> RunFileWriteError:
        """Stop writing after the failed write `exc`; the error to raise."""
        if self.failure is None:
            kept = len(self._tables[schema.TESTS]) + self._batch.journaled if self._tables else 0
            self.failure = write_error(self.path, exc, doing, kept)
            self._hdf5_failed = not isinstance(exc, SpaceRefusedError)
            self._note({"stopped": {"time": utc_now(), "message": str(self.failure)}})
            for time_, role, ok, message in self._pending[schema.SAFE_STATE_LOG]:
                self._note({"safe_state": [time_, role, bool(ok), message]})  # not appended
            self._pending[schema.SAFE_STATE_LOG].clear()
        return self.failure

    def _after_failure(self, event: WriterEvent) -> None:
        """A stopped writer keeps only what fits the journal: the instruments' safe state. The
        run's end still closes the file (sealed when it is consistent), as `close()` does."""
        if isinstance(event, SafeStateApplied):
            self._note({"safe_state": [event.time, event.role, bool(event.ok), event.message]})
        elif isinstance(event, RunFinished):
            self.close()

    def _note(self, record: dict[str, Any]) -> None:
        """Write `record` to the journal if it fits, without HDF5 (a best effort: the
        journal's bytes are allocated, so this needs no file space)."""
        if self._journal is None or self._file is None:
            return
        with contextlib.suppress(OSError, RuntimeError):  # out of reach: the error says it
            self._journal.write(record, reserved=True, after=ORDERED)

    # -- helpers --------------------------------------------------------------------------

    def _require_file(self) -> h5py.File:
        if self._file is None:
            state = "closed" if self._closed else "not started (no RunStarted yet)"
            raise ResultFileError(f"{self.path}: run file is {state}")
        return self._file

    def _table(self, name: str) -> Appender:
        self._require_file()
        return self._tables[name]

    def _test(self, test_id: str) -> RunningTest:
        self._require_file()
        try:
            return self._running[test_id]
        except KeyError:
            raise ResultFileError(
                f"{self.path}: event for test {test_id!r}, which has not started"
            ) from None

    def _write_running_marker(self) -> None:
        """/summary/running, written in place: its bytes are the fixed-length string HDF5
        would write (the JSON, then zeros)."""
        marker = running_json([t.marker() for t in self._running.values()])
        self._committed.write_record(self._running_at, marker.ljust(schema.RUNNING_BYTES, b"\0"))

    def _store(
        self, test: RunningTest, outcome: str, message: str, finished: str, duration: float
    ) -> None:
        """Commit a finished test: its rows as one journal record, then into the batch.

        A test with an entry (waveforms) has it completed and flushed first: HDF5 writes raw
        chunks before metadata within one flush, so the record could otherwise reach the disk
        before the groups it points at.
        """
        self._check_texts(test)
        batch = self._batch
        position = batch.tests
        rows: list[tuple[Any, ...]] | npt.NDArray[Any]
        if len(test.measurements) > JOURNAL_MAX_ROWS:  # straight to the tables: built as such
            dtype = self._tables[schema.MEASUREMENTS].dtype
            rows = test.measurement_table(position, batch.measurements, dtype)
        else:
            rows = test.measurement_rows(position, batch.measurements)
        waves = test.waveform_rows(position, batch.waveforms)
        counts = (batch.measurements, len(rows), batch.waveforms, len(waves), position + 1)
        row = test.test_row(outcome, message, finished, duration, counts)
        if test.group is not None:
            self._claim(PER_GROUP + PER_ROW * len(rows))
            table = rows if isinstance(rows, np.ndarray) else table_rows(rows, schema.SUMMARY_DTYPE)
            complete_entry(test.group, dict(zip(_TEST_COLUMNS, row, strict=True)), table)
            if not self._bulk:
                self._require_file().flush()
        journaled = False  # a bulk file keeps its batch in memory only, until it is due
        if not self._bulk and len(rows) <= JOURNAL_MAX_ROWS:
            record = {"rows": {"tests": [row], "measurements": rows, "waveforms": waves}}
            # a test with an entry: its record after the entry's commit, on the disk too
            journaled = self._journal_write(record, ordered=test.group is not None)
        batch.add(row, rows, waves, has_entry=test.group is not None)
        batch.journaled += journaled
        if self._first_entry is None or test.index < self._first_entry[0]:
            self._first_entry = (test.index, test.entry)
        if (not journaled and not self._bulk) or batch.due():
            self._append_batch()  # a test not journaled is committed here

    def _check_texts(self, test: RunningTest) -> None:
        """Refuse a measurement whose name or unit is too long for its table column, before
        any of the test is committed (names and units already seen are not checked again)."""
        names, units = self._fitting
        for m in test.measurements:
            if m.name not in names or m.unit not in units:
                break
        else:
            return
        for what, seen, room in (
            ("name", names, schema.NAME_BYTES),
            ("unit", units, schema.UNIT_BYTES),
        ):
            new = {getattr(m, what) for m in test.measurements} - seen
            for text in new:
                if len(text.encode()) > room:
                    raise ResultFileError(
                        f"{self.path}: test {test.test_id!r}: measurement {what} {text!r} is "
                        f"longer than the {room} bytes (UTF-8) of its column"
                    )
        names |= {m.name for m in test.measurements}
        units |= {m.unit for m in test.measurements}

    def _journal_write(self, record: dict[str, Any] | str, *, ordered: bool = False) -> bool:
        """Write `record` to the journal, first emptying it into the tables if it is full."""
        journal = self._journal
        if journal is None:
            return False
        after = ORDERED if ordered else -1
        if journal.write(record, after=after):
            return True
        self._append_batch()
        return journal.write(record, after=after)

    def _append_batch(self) -> None:
        """Move the journaled tests into the tables, flush, and start the journal over."""
        appended = self._move_batch()
        if appended is not None:
            self._keep(appended)
        if not self._bulk:
            self._require_file().flush()
        self._batch_committed()

    def _keep(self, appended: Appended) -> None:
        """Keep the appended rows of tests without an entry for building their entries at
        close; past KEPT_ROWS_BYTES, none are kept and the tables are read back then."""
        if not self._tables_have_entries:
            return
        tests, measurements, _ = appended
        self._kept_bytes += tests.nbytes + measurements.nbytes
        if self._kept_bytes > KEPT_ROWS_BYTES:
            self._tables_have_entries = False  # built from the tables at close
            self._kept = []
            return
        self._kept.append(appended)

    def _batch_bytes(self) -> int:
        """File space the batch's rows may take in the tables."""
        batch = self._batch
        rows = len(batch.test_rows) + batch.measurement_count + len(batch.waveform_rows)
        return PER_ROW * rows + 3 * PER_GROUP

    def _move_batch(self) -> Appended | None:
        """Append the batch's rows to the tables (and the rows waiting for a commit, and the
        running marker), unflushed. For the tests among them without an entry: their rows
        of /summary/tests, the batch's rows of /summary/measurements and the position of the
        first (what `build_entries` takes); None when every test has its entry."""
        batch, tables = self._batch, self._tables
        self._claim(self._batch_bytes())
        appended = None
        if batch.test_rows:
            first = len(tables[schema.MEASUREMENTS])
            tests = table_rows(batch.test_rows, tables[schema.TESTS].dtype)
            measurements = (  # without rows, the table is not opened for its row type
                batch.measurement_table(tables[schema.MEASUREMENTS].dtype)
                if batch.measurement_count
                else np.empty(0, dtype=schema.SUMMARY_DTYPE)
            )
            tables[schema.MEASUREMENTS].append(measurements)
            tables[schema.WAVEFORMS].append(batch.waveform_rows)
            tables[schema.TESTS].append(tests)
            if batch.plain:
                appended = (tests[batch.plain], measurements, first)
        self._append_pending()
        self._write_running_marker()
        return appended

    def _batch_committed(self) -> None:
        """The batch's rows were flushed: start the batch and the journal over."""
        self._unflushed = False
        self._batch.reset(self._tables)
        if self._journal is not None:  # only now: until the flush, the journal was the record
            # The half turned to holds the records of the append before this one: they may be
            # written over once that append is on the disk.
            before, self._appended = self._appended, self._committed.last_commit
            self._journal.restart(after=before)


class _Batch:
    """Rows committed through the journal and not yet appended to the tables; the `tests`,
    `measurements` and `waveforms` counts include them (the next rows' positions)."""

    def __init__(self) -> None:
        self.test_rows: list[tuple[Any, ...]] = []
        #: Rows of /summary/measurements in order: runs of tuples, or tables (many rows).
        self.measurement_parts: list[list[tuple[Any, ...]] | npt.NDArray[Any]] = []
        self.measurement_count = 0
        self.waveform_rows: list[tuple[Any, ...]] = []
        self.plain: list[int] = []  # positions in `test_rows` of the tests without an entry
        self.tests = self.measurements = self.waveforms = 0
        self.journaled = 0
        self._since = 0.0

    def reset(self, tables: dict[str, Appender]) -> None:
        self.test_rows, self.measurement_parts, self.waveform_rows = [], [], []
        self.measurement_count = 0
        self.plain = []
        self.journaled = 0  # of `test_rows`, the tests committed as journal records
        self.tests = len(tables[schema.TESTS])
        self.measurements = len(tables[schema.MEASUREMENTS])
        self.waveforms = len(tables[schema.WAVEFORMS])

    def add(
        self,
        test_row: tuple[Any, ...],
        rows: list[tuple[Any, ...]] | npt.NDArray[Any],
        waves: list[tuple[Any, ...]],
        *,
        has_entry: bool,
    ) -> None:
        if not self.test_rows:
            self._since = time.monotonic()
        if not has_entry:
            self.plain.append(len(self.test_rows))
        self.test_rows.append(test_row)
        parts = self.measurement_parts
        if isinstance(rows, np.ndarray):
            parts.append(rows)
        elif rows:
            if parts and isinstance(parts[-1], list):
                parts[-1].extend(rows)
            else:
                parts.append(list(rows))
        self.measurement_count += len(rows)
        self.waveform_rows.extend(waves)
        self.tests += 1
        self.measurements += len(rows)
        self.waveforms += len(waves)

    def measurement_table(self, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """The batch's measurement rows as one structured array of `dtype`."""
        tables = [
            p if isinstance(p, np.ndarray) else table_rows(p, dtype) for p in self.measurement_parts
        ]
        return tables[0] if len(tables) == 1 else np.concatenate(tables)

    def without_entry(self) -> tuple[int, int]:
        """How many of the batch's tests have no entry, and their measurement rows."""
        counts = _TEST_COLUMNS.index("measurement_count")
        return len(self.plain), sum(self.test_rows[k][counts] for k in self.plain)

    def due(self) -> bool:
        """Time to append: enough tests, or the oldest waited long enough."""
        return len(self.test_rows) >= BATCH_TESTS or time.monotonic() - self._since >= BATCH_SECONDS


def _doing(event: WriterEvent) -> str:
    """What the writer was doing with `event`, for the error of a failed write."""
    test = f" of test {event.test_id}" if hasattr(event, "test_id") else ""
    name = f" {event.name!r}" if hasattr(event, "name") else ""
    kinds = {
        RunStarted: "creating the run file",
        InstrumentIdentified: "recording an instrument",
        SafeStateApplied: "recording a safe-state action",
        TestStarted: "starting",
        TestFinished: "committing",
        RunFinished: "finishing the run",
        WaveformRecorded: "storing waveform",
        StoredWaveformCopied: "copying waveform",
        SweepRecorded: "storing sweep",
        WaveformFamilyRecorded: "storing waveform family",
    }
    doing = kinds.get(type(event), f"storing {type(event).__name__}")
    if isinstance(event, TestStarted | TestFinished):
        return f"{doing} test {event.test_id}"
    return f"{doing}{name}{test}"


_HANDLERS: dict[type, Callable[[Hdf5RunWriter, Any], None]] = {
    RunStarted: Hdf5RunWriter._run_started,
    InstrumentIdentified: Hdf5RunWriter._instrument_identified,
    SafeStateApplied: Hdf5RunWriter._safe_state_applied,
    TestStarted: Hdf5RunWriter._test_started,
    MeasurementRecorded: Hdf5RunWriter._measurement_recorded,
    WaveformRecorded: Hdf5RunWriter._waveform_recorded,
    StoredWaveformCopied: Hdf5RunWriter._stored_waveform_copied,
    SweepRecorded: Hdf5RunWriter._sweep_recorded,
    WaveformFamilyRecorded: Hdf5RunWriter._waveform_family_recorded,
    ProfileStreamStarted: Hdf5RunWriter._profile_stream_started,
    ProfileChunkRecorded: Hdf5RunWriter._profile_chunk_recorded,
    ProfileStreamFinished: Hdf5RunWriter._profile_stream_finished,
    TestFinished: Hdf5RunWriter._test_finished,
    RunFinished: Hdf5RunWriter._run_finished,
}
_TEST_COLUMNS = schema.TEST_DTYPE.names or ()
_TABLES = (
    (schema.RUN_INFO, schema.INSTRUMENTS),
    (schema.RUN_INFO, schema.SAFE_STATE_LOG),
    (schema.SUMMARY, schema.TESTS),
    (schema.SUMMARY, schema.MEASUREMENTS),
    (schema.SUMMARY, schema.WAVEFORMS),
)
