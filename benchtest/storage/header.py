"""Creating a run file: its HDF5 settings, root attributes, run_info and the run-level tables.

Everything here is written once, when the run starts, and flushed before the first test: the
root attributes that change later (`outcome`, `end_time`, `default`) already exist then, so a
later commit rewrites them in place instead of growing the root object header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchtest.__about__ import __version__
from benchtest.runfile import schema
from benchtest.runfile.codecs import Codec
from benchtest.runfile.journal import create_journal
from benchtest.runfile.tables import create_table
from benchtest.storage.nexus import write_text
from benchtest.values.errors import ResultFileError
from benchtest.values.events import ConfigSnapshot, RunStarted, utc_now


def create_file(path: Path) -> h5py.File:
    """A new HDF5 file at `path` (never overwriting), default (earliest) format.

    The sieve buffer is off, so a write to a contiguous dataset (the journal, the
    running-tests marker) reaches the operating system at once, without a flush.
    """
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_sieve_buf_size(0)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    try:
        fid = h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_EXCL, fapl=fapl)
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"{path}: cannot create run file: {exc}") from exc
    return h5py.File(fid)


def _root_attributes(event: RunStarted, codec: Codec) -> dict[str, Any]:
    return {
        "NX_class": "NXroot",
        "creator": "benchtest",
        "creator_version": event.framework_version or __version__,
        "file_time": utc_now(),
        "HDF5_Version": h5py.version.hdf5_version,
        "h5py_version": h5py.version.version,
        "benchtest_schema_version": np.int64(schema.SCHEMA_VERSION),
        "compression": codec.name,
        "run_id": event.run_id,
        "part": event.part,
        "serial_number": event.serial_number,
        "lot": event.lot,
        "operator": event.operator,
        "station": event.station,
        "host": event.host,
        "plans_commit": event.plans_commit,
        "plans_dirty": np.bool_(event.plans_dirty),
        "site": event.site,
        "start_time": event.started,
        "end_time": "",
        "outcome": schema.INCOMPLETE,
        "default": f"{schema.SUMMARY}/{schema.TESTS}",
    }


def _write_config(group: h5py.Group, name: str, config: ConfigSnapshot) -> None:
    write_text(group, name, config.text, path=config.path, sha256=config.sha256)


def _collection(file: h5py.File, name: str) -> h5py.Group:
    group = file.create_group(name, track_order=True)
    group.attrs["NX_class"] = "NXcollection"
    return group


def write_header(file: h5py.File, event: RunStarted, codec: Codec) -> None:
    """Root attributes, /run_info and the empty /summary tables of a new run file."""
    file.attrs.update(_root_attributes(event, codec))
    info = _collection(file, schema.RUN_INFO)
    _write_config(info, schema.BENCH_FILE, event.bench)
    _write_config(info, schema.DUT_PROFILE, event.dut)
    create_table(info, schema.INSTRUMENTS, schema.INSTRUMENT_DTYPE, "one row per instrument")
    create_table(
        info, schema.SAFE_STATE_LOG, schema.SAFE_STATE_DTYPE, "one row per safe-state action"
    )
    summary = _collection(file, schema.SUMMARY)
    create_table(summary, schema.TESTS, schema.TEST_DTYPE, "one row per finished test")
    create_table(summary, schema.MEASUREMENTS, schema.SUMMARY_DTYPE, "every measurement of the run")
    create_table(summary, schema.WAVEFORMS, schema.WAVEFORM_DTYPE, "every waveform of the run")
    running = summary.create_dataset(
        schema.RUNNING, shape=(), dtype=h5py.string_dtype("utf-8", schema.RUNNING_BYTES)
    )
    running[()] = b"[]"
    running.attrs["description"] = "JSON list of the tests running at the last table append"
    create_journal(summary, schema.JOURNAL, schema.JOURNAL_BYTES)


def running_json(tests: list[dict[str, Any]]) -> bytes:
    """The running-tests marker: JSON that fits RUNNING_BYTES (conditions dropped if needed)."""
    text = json.dumps(tests, default=str).encode()
    if len(text) <= schema.RUNNING_BYTES:
        return text
    short = [{k: v for k, v in t.items() if k != schema.CONDITIONS} for t in tests]
    while short:
        text = json.dumps(short, default=str).encode()
        if len(text) <= schema.RUNNING_BYTES:
            return text
        short.pop(0)
    return b"[]"
