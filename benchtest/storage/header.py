"""Creating a run file: its HDF5 settings, root attributes, run_info and the run-level tables.

Everything here is written once, when the run starts, into a file made in memory whose bytes
are then written under a temporary name and linked into place, so a run file exists only as a
readable one. The root attributes that change later (`outcome`, `end_time`, `default`) already
exist then, so a later commit rewrites them in place instead of growing the root object header.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchtest.__about__ import __version__
from benchtest.runfile import schema
from benchtest.runfile.codecs import Codec
from benchtest.runfile.journal import create_journal
from benchtest.runfile.seal import create_seal
from benchtest.runfile.tables import create_table
from benchtest.storage.nexus import write_text
from benchtest.values.errors import ResultFileError
from benchtest.values.events import ConfigSnapshot, RunStarted, utc_now


def _access() -> h5py.h5p.PropFAID:
    """File access: the sieve buffer is off, so a write to a contiguous dataset (the journal,
    the running-tests marker) reaches the operating system at once, without a flush."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_sieve_buf_size(0)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    return fapl


def create_file(path: Path) -> h5py.File:
    """A new HDF5 file at `path` (never overwriting), in libhdf5's default format."""
    try:
        fid = h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_EXCL, fapl=_access())
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"{path}: cannot create run file: {exc}") from exc
    return h5py.File(fid)


def create_run_file(path: Path, fill: Callable[[h5py.File], None], *, sync: bool) -> h5py.File:
    """The new run file `path`, holding what `fill` wrote, open for writing.

    The file is made in memory (HDF5's core driver), and its bytes are written with plain
    file I/O under a temporary name in the same folder (`.<name>.creating`), synced (with
    `sync`) and linked to `path`, which must not exist. So a run file is complete and readable
    from the moment its name exists, whenever the process is killed, and a full disk fails
    this write, never one of HDF5's.
    """
    image = _image(fill)
    partial = path.with_name(f".{path.name}.creating")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0))
    except FileExistsError:
        raise ResultFileError(
            f"{path}: cannot create run file: {partial.name} exists (another writer is "
            "creating it, or a killed one left it)"
        ) from None
    try:
        try:
            view = memoryview(image)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        _publish(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    try:
        return h5py.File(h5py.h5f.open(str(path).encode(), h5py.h5f.ACC_RDWR, fapl=_access()))
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot open the new run file: {exc}") from exc


def _image(fill: Callable[[h5py.File], None]) -> bytes:
    """The bytes of a new HDF5 file (default format) holding what `fill` wrote."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(block_size=1 << 16, backing_store=False)
    name = f"benchtest-new-run-file-{uuid.uuid4().hex}".encode()  # unique: files are by name
    file = h5py.File(h5py.h5f.create(name, h5py.h5f.ACC_EXCL, fapl=fapl))
    try:
        fill(file)
        file.flush()
        return bytes(file.id.get_file_image())
    finally:
        file.close()


def _publish(partial: Path, path: Path) -> None:
    """Give the complete file `partial` the name `path`, never replacing a file there."""
    try:
        os.link(partial, path)
    except FileExistsError:
        raise ResultFileError(f"{path}: cannot create run file: it exists already") from None
    except OSError:  # no hard links on this file system (FAT, some shares): rename it
        if path.exists():
            raise ResultFileError(f"{path}: cannot create run file: it exists already") from None
        os.replace(partial, path)
    else:
        partial.unlink()


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
        "plans_root": event.plans_root,
        "plans_sha256": event.plans_sha256,
        "site": event.site,
        "skipped": np.int64(0),
        "skip_reasons": "",
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
    if event.plans_manifest:
        write_text(info, schema.PLANS_MANIFEST, event.plans_manifest, sha256=event.plans_sha256)
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
    create_seal(summary, schema.SEAL)


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
