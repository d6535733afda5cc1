"""`Hdf5RunWriter`: the recorder subscriber that stores one run as one NeXus/HDF5 file.

It turns recorder events into the layout of docs/results-format.md: run metadata on the root,
configuration and instruments under /run_info, one NXentry per test with its measurement table
and NXdata waveforms, and /summary/measurements for the whole run. Every finished test is
committed (flush + fsync) so that a killed run keeps all completed tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import singledispatchmethod
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchtest.__about__ import __version__
from benchtest.errors import ResultFileError
from benchtest.measurement import Measurement
from benchtest.recorder import (
    ConfigSnapshot,
    Event,
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    SafeStateApplied,
    TestFinished,
    TestStarted,
    WaveformRecorded,
    utc_now,
)
from benchtest.storage import schema
from benchtest.storage.nexus import write_collection, write_text, write_waveform
from benchtest.storage.tables import append_rows, create_table


@dataclass
class _OpenEntry:
    """Writer-side state of one test entry."""

    group: h5py.Group
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    has_waveform: bool = False


def _limit(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _measurement_row(m: Measurement) -> tuple[Any, ...]:
    return (
        m.name,
        m.value,
        m.unit,
        _limit(m.limits.low),
        _limit(m.limits.high),
        str(m.outcome),
        m.timestamp,
    )


class Hdf5RunWriter:
    """Stores the events of one run in the HDF5 file `path` (which must not exist yet).

    Subscribe an instance to a `RunRecorder`; the file is created on `RunStarted` and closed on
    `RunFinished`. `close()` may be called at any time, more than once, also after an error.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: h5py.File | None = None
        self._closed = False
        self._entries: dict[str, _OpenEntry] = {}
        self._count = 0
        self._default_has_waveform = False

    def __call__(self, event: Event) -> None:
        self.handle(event)

    def __enter__(self) -> Hdf5RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- event handlers -------------------------------------------------------------------

    @singledispatchmethod
    def handle(self, event: object) -> None:
        raise TypeError(f"Hdf5RunWriter: unknown event {type(event).__name__}")

    @handle.register
    def _run_started(self, event: RunStarted) -> None:
        if self._file is not None or self._closed:
            raise ResultFileError(f"{self.path}: RunStarted arrived twice")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file = h5py.File(self.path, "w-")
        except (OSError, FileExistsError) as exc:
            raise ResultFileError(f"{self.path}: cannot create run file: {exc}") from exc
        self._write_run_header(event)
        self.commit()
        _fsync_directory(self.path.parent)  # the new file's name survives a power cut too

    @handle.register
    def _instrument_identified(self, event: InstrumentIdentified) -> None:
        table = self._require_file()[schema.RUN_INFO][schema.INSTRUMENTS]
        append_rows(table, [(event.role, event.driver, event.resource, event.identity)])

    @handle.register
    def _safe_state_applied(self, event: SafeStateApplied) -> None:
        table = self._require_file()[schema.RUN_INFO][schema.SAFE_STATE_LOG]
        append_rows(table, [(event.time, event.role, event.ok, event.message)])

    @handle.register
    def _test_started(self, event: TestStarted) -> None:
        file = self._require_file()
        if event.test_id in self._entries:  # started again before it finished: keep what it had
            self._store_measurements(event.test_id, self._entries.pop(event.test_id))
        self._count += 1
        name = schema.entry_name(self._count, event.test_id)
        group = file.create_group(name, track_order=True)  # waveforms listed in recorded order
        group.attrs.update(NX_class="NXentry", test_id=event.test_id, attempt=event.attempt)
        write_text(group, "title", event.test_id)
        write_text(group, "start_time", event.started)
        write_text(group, "outcome", schema.INCOMPLETE)
        write_text(group, "message", "")
        write_collection(group, schema.CONDITIONS, event.conditions)
        self._entries[event.test_id] = _OpenEntry(group)
        if "default" not in file.attrs:
            file.attrs["default"] = group.name.lstrip("/")

    @handle.register
    def _measurement_recorded(self, event: MeasurementRecorded) -> None:
        self._entry(event.test_id).rows.append(_measurement_row(event.measurement))

    @handle.register
    def _waveform_recorded(self, event: WaveformRecorded) -> None:
        entry = self._entry(event.test_id)
        name = schema.unique_name(entry.group, schema.sanitise(event.name), schema.ENTRY_FIELDS)
        write_waveform(entry.group, name, event.name, event.waveform, event.description)
        if not entry.has_waveform:
            entry.has_waveform = True
            entry.group.attrs["default"] = name
        if not self._default_has_waveform:
            self._default_has_waveform = True
            self._require_file().attrs["default"] = entry.group.name.lstrip("/")

    @handle.register
    def _test_finished(self, event: TestFinished) -> None:
        entry = self._entry(event.test_id)
        group = entry.group
        group["outcome"][()] = event.outcome
        group["message"][()] = event.message
        write_text(group, "end_time", event.finished)
        group.create_dataset("duration", data=np.float64(event.duration)).attrs["units"] = "s"
        self._store_measurements(event.test_id, entry)
        del self._entries[event.test_id]
        self.commit()

    @handle.register
    def _run_finished(self, event: RunFinished) -> None:
        file = self._require_file()
        file.attrs.update(end_time=event.finished, outcome=event.outcome)
        self.close()

    # -- commit and close -----------------------------------------------------------------

    def commit(self) -> None:
        """Make everything written so far durable: the one place that decides crash safety.

        h5py's flush writes HDF5's caches to the OS; fsync makes the OS write them to disk.
        """
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.id.get_vfd_handle())

    def close(self) -> None:
        """Store what unfinished tests recorded, commit and close; safe to call again."""
        file, self._file = self._file, None
        self._closed = True
        if file is None:
            return
        try:
            for test_id, entry in list(self._entries.items()):
                self._store_measurements(test_id, entry)
            self._entries.clear()
            file.flush()
            os.fsync(file.id.get_vfd_handle())
        finally:
            file.close()

    # -- helpers --------------------------------------------------------------------------

    def _require_file(self) -> h5py.File:
        if self._file is None:
            state = "closed" if self._closed else "not started (no RunStarted yet)"
            raise ResultFileError(f"{self.path}: run file is {state}")
        return self._file

    def _entry(self, test_id: str) -> _OpenEntry:
        self._require_file()
        try:
            return self._entries[test_id]
        except KeyError:
            raise ResultFileError(
                f"{self.path}: event for test {test_id!r}, which has not started"
            ) from None

    def _store_measurements(self, test_id: str, entry: _OpenEntry) -> None:
        table = create_table(
            entry.group,
            schema.MEASUREMENTS,
            schema.MEASUREMENT_DTYPE,
            "one row per measurement; the unit column gives each row's unit",
        )
        append_rows(table, entry.rows)
        summary = entry.group.file[schema.SUMMARY][schema.MEASUREMENTS]
        append_rows(summary, [(test_id, *row) for row in entry.rows])
        entry.rows = []

    def _write_run_header(self, event: RunStarted) -> None:
        file = self._require_file()
        file.attrs.update(
            NX_class="NXroot",
            creator="benchtest",
            creator_version=event.framework_version or __version__,
            file_time=utc_now(),
            HDF5_Version=h5py.version.hdf5_version,
            h5py_version=h5py.version.version,
            benchtest_schema_version=np.int64(schema.SCHEMA_VERSION),
            run_id=event.run_id,
            part=event.part,
            serial_number=event.serial_number,
            lot=event.lot,
            operator=event.operator,
            station=event.station,
            host=event.host,
            plans_commit=event.plans_commit,
            plans_dirty=np.bool_(event.plans_dirty),
            start_time=event.started,
            outcome=schema.INCOMPLETE,
        )
        info = file.create_group(schema.RUN_INFO)
        info.attrs["NX_class"] = "NXcollection"
        _write_config(info, schema.BENCH_FILE, event.bench)
        _write_config(info, schema.DUT_PROFILE, event.dut)
        create_table(info, schema.INSTRUMENTS, schema.INSTRUMENT_DTYPE, "one row per instrument")
        create_table(
            info, schema.SAFE_STATE_LOG, schema.SAFE_STATE_DTYPE, "one row per safe-state action"
        )
        summary = file.create_group(schema.SUMMARY)
        summary.attrs["NX_class"] = "NXcollection"
        create_table(
            summary, schema.MEASUREMENTS, schema.SUMMARY_DTYPE, "every measurement of the run"
        )


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories; the file itself is synced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_config(group: h5py.Group, name: str, config: ConfigSnapshot) -> None:
    write_text(group, name, config.text, path=config.path, sha256=config.sha256)
