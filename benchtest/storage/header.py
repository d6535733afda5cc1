"""Creating a run file: its HDF5 settings, root attributes, run_info and the run-level tables.

Everything here is written once, when the run starts, into a file made in memory whose bytes
are then written under a temporary name and linked into place, so a run file exists only as a
readable one. The root attributes that change later (`outcome`, `end_time`, `default`) already
exist then, so a later commit rewrites them in place instead of growing the root object header.

Every object of the header is the same in every run file a process writes, only some values
differ: it is built once per process as a file image, the skeleton (two: with and without a
plans manifest), holding /run_info and /summary with their empty tables, running marker,
journal and seal, and every root attribute, the run's own ones as placeholders (empty text,
False). Each new run file starts as a copy of it and gets its values written into the
placeholders. Creating those objects one by one took ~4 ms a file, the copy and the values
~0.5 ms. Most values are the same for every run of a station (bench file, DUT profile,
plans, operator, ...): they are written once into a station image, a copy of the skeleton
kept per process for each set of them, and a run file copies that and writes only what is
its own (`PER_RUN`: ~0.1 ms). Values equal to their placeholder are not written at all.
Attributes are written through h5py's low-level API (`lowlevel`).
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
from benchtest.storage.committed_file import CommittedFile, DirectFile
from benchtest.storage.lowlevel import rewrite_attrs, rewrite_text, set_attrs, write_text
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


def create_run_file(
    path: Path,
    fill: Callable[[h5py.File], None],
    *,
    sync: bool,
    sync_commits: bool = False,
    manifest: bool = False,
    start: bytes | None = None,
    direct: bool = False,
    deferred: bool = False,
) -> tuple[h5py.File, CommittedFile | DirectFile]:
    """The new run file `path`, holding the skeleton (`manifest`: the one with a plans
    manifest), or the image `start` made from it (`station_image`), and what `fill` wrote,
    open for writing through a `CommittedFile` (returned too: the writer's commits and its
    raw writes go through it).

    The file is made in memory (HDF5's core driver, from a copy of the image), and its
    bytes are written with plain file I/O under a temporary name in the same folder
    (`.<name>.creating`), synced (with `sync`) and linked to `path`, which must not exist. So
    a run file is complete and readable from the moment its name exists, whenever the process
    is killed, and a full disk fails this write, never one of HDF5's. `sync_commits`: each
    commit fsyncs its log and the file (`CommittedFile`), a power cut tearing none. `direct`:
    HDF5 writes the file with its own POSIX driver, without the commit layer (a `DirectFile`
    is returned), for a writer that needs no crash safety while it writes. `deferred`:
    commits go to the commit log only, and `CommittedFile.make_durable` writes them into the
    file (the background fsync thread).
    """
    image = _image(fill, skeleton(manifest) if start is None else start)
    partial = path.with_name(f".{path.name}.creating")
    try:
        fd = os.open(
            partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
        )
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
    committed: CommittedFile | DirectFile = (
        DirectFile(path) if direct else CommittedFile(path, sync=sync_commits, deferred=deferred)
    )
    try:
        fapl = _access()
        name = os.fsencode(path)
        if isinstance(committed, CommittedFile):
            fapl.set_fileobj_driver(h5py.h5fd.fileobj_driver, committed)
            name = repr(committed).encode()
        fid = h5py.h5f.open(name, h5py.h5f.ACC_RDWR, fapl=fapl)
        return h5py.File(fid), committed
    except OSError as exc:
        committed.close()
        raise ResultFileError(f"{path}: cannot open the new run file: {exc}") from exc


def _image(fill: Callable[[h5py.File], None], start: bytes | None = None) -> bytes:
    """The bytes of an HDF5 file (default format) holding what `fill` wrote into a new file,
    or into a copy of the file image `start`."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(block_size=1 << 16, backing_store=False)
    name = f"benchtest-new-run-file-{uuid.uuid4().hex}".encode()  # unique: files are by name
    if start is None:
        file_id = h5py.h5f.create(name, h5py.h5f.ACC_EXCL, fapl=fapl)
    else:
        fapl.set_file_image(start)  # HDF5 copies it
        file_id = h5py.h5f.open(name, h5py.h5f.ACC_RDWR, fapl=fapl)
    file = h5py.File(file_id)
    try:
        fill(file)
        file.flush()
        return bytes(file.id.get_file_image())
    finally:
        file.close()


@functools.cache
def skeleton(manifest: bool = False) -> bytes:
    """The image every run file of this process starts from (see the module docstring); with
    `manifest`, for runs that record their plans' manifest."""
    return _image(functools.partial(_write_skeleton, manifest=manifest))


@dataclass(frozen=True)
class Layout:
    """Where the datasets written in place, without HDF5, are in every run file made from a
    skeleton (byte offset and size): the running-tests marker and the journal (records of
    their own, written through at once) and the seal (written after the file is closed).
    Contiguous and allocated in the skeleton, they never move."""

    running: tuple[int, int]
    journal: tuple[int, int]
    seal: int


@functools.cache
def layout(manifest: bool = False) -> Layout:
    """The `Layout` of `skeleton(manifest)` (read from it once per process)."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(block_size=1 << 16, backing_store=False)
    fapl.set_file_image(skeleton(manifest))
    name = f"benchtest-skeleton-{uuid.uuid4().hex}".encode()
    file_id = h5py.h5f.open(name, h5py.h5f.ACC_RDONLY, fapl=fapl)
    try:
        where = {}
        for dataset in (schema.RUNNING, schema.JOURNAL, schema.SEAL):
            dataset_id = h5py.h5d.open(file_id, f"{schema.SUMMARY}/{dataset}".encode())
            where[dataset] = (int(dataset_id.get_offset()), int(dataset_id.get_storage_size()))
    finally:
        file_id.close()
    return Layout(where[schema.RUNNING], where[schema.JOURNAL], where[schema.SEAL][0])


def _write_skeleton(file: h5py.File, *, manifest: bool) -> None:
    set_attrs(file, _SKELETON_VALUES)
    info = _collection(file, schema.RUN_INFO)
    write_text(info, schema.BENCH_FILE, "", path="", sha256="")
    write_text(info, schema.DUT_PROFILE, "", path="", sha256="")
    if manifest:
        write_text(info, schema.PLANS_MANIFEST, "", sha256="")
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
    create_journal(summary, schema.JOURNAL, schema.JOURNAL_BYTES, halves=2)
    create_seal(summary, schema.SEAL)


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


def _constant_attributes() -> dict[str, Any]:
    """Root attributes that are the same in every run file of this process (the later ones
    are rewritten when the run finishes)."""
    return {
        "NX_class": "NXroot",
        "creator": "benchtest",
        "HDF5_Version": h5py.version.hdf5_version,
        "h5py_version": h5py.version.version,
        "benchtest_schema_version": np.int64(schema.SCHEMA_VERSION),
        "skipped": np.int64(0),
        "skip_reasons": "",
        "end_time": "",
        "outcome": schema.INCOMPLETE,
        "default": f"{schema.SUMMARY}/{schema.TESTS}",
    }


#: The root attributes that differ from run to run, as the skeleton holds them: placeholders
#: of their type, rewritten in every run file (`_root_attributes`).
_RUN_PLACEHOLDERS: dict[str, Any] = {
    **dict.fromkeys(
        (
            "creator_version",
            "file_time",
            "compression",
            "run_id",
            "part",
            "serial_number",
            "lot",
            "operator",
            "station",
            "host",
            "plans_commit",
            "plans_root",
            "plans_sha256",
            "site",
            "start_time",
        ),
        "",
    ),
    "plans_dirty": np.bool_(False),
}


#: The root attributes of the skeleton, as it holds them.
_SKELETON_VALUES: dict[str, Any] = {**_constant_attributes(), **_RUN_PLACEHOLDERS}


def _root_attributes(event: RunStarted, codec: Codec) -> dict[str, Any]:
    """The root attributes of this run (the skeleton has the others)."""
    return {
        "creator_version": event.framework_version or __version__,
        "file_time": utc_now(),
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
        "start_time": event.started,
    }


def holds(name: str, value: Any) -> bool:
    """Whether a new run file's root attribute `name` holds `value` already: the skeleton's
    placeholder or constant is that value (of that type), so it need not be written."""
    held = _SKELETON_VALUES.get(name)
    return type(value) is type(held) and bool(value == held)


def _rewrite_config(group: h5py.Group, name: str, config: ConfigSnapshot) -> None:
    attrs = {
        key: value for key, value in (("path", config.path), ("sha256", config.sha256)) if value
    }
    if config.text or attrs:  # else the placeholders hold it already
        rewrite_text(group, name, config.text, **attrs)


def _collection(file: h5py.File, name: str) -> h5py.Group:
    group = file.create_group(name, track_order=True)
    set_attrs(group, {"NX_class": "NXcollection"})
    return group


def write_header(file: h5py.File, event: RunStarted, codec: Codec) -> None:
    """The run's root attributes and /run_info texts, written into the placeholders of a new
    run file made from `skeleton(manifest=bool(event.plans_manifest))` (a value equal to its
    placeholder is there already)."""
    try:
        _write_shared(file, _shared_attributes(event, codec), _RunTexts.of(event))
    except ValueError as exc:
        raise ValueError(f"run {event.run_id}: {exc}") from None
    write_run_values(file, event, codec)


def write_run_values(file: h5py.File, event: RunStarted, codec: Codec) -> None:
    """The root attributes that differ from run to run (`PER_RUN`), written into their
    placeholders (in a file made from `skeleton` or `station_image`)."""
    values = _root_attributes(event, codec)
    rewrite_attrs(file, {k: values[k] for k in PER_RUN if not holds(k, values[k])})


#: Root attributes that differ from run to run. The others are usually the same in every run
#: file a process writes (one station, bench file, DUT profile and plans): they are written
#: once into a `station_image` that these run files start from.
PER_RUN = ("file_time", "run_id", "serial_number", "lot", "site", "start_time")
#: Station images kept per process (one per set of shared values, the most recent).
STATION_IMAGES = 8


def station_image(event: RunStarted, codec: Codec) -> bytes:
    """The image a run file of `event` starts from: `skeleton` with the values it shares with
    the other runs of its station written in (all but `PER_RUN`; see `write_header`), made
    once per process for each such set of values; `write_run_values` writes the rest."""
    shared = tuple(_shared_attributes(event, codec).items())
    return _station_image(shared, _RunTexts.of(event))


@dataclass(frozen=True)
class _RunTexts:
    """The texts of /run_info a run file gets from its RunStarted."""

    bench: ConfigSnapshot
    dut: ConfigSnapshot
    plans_manifest: str
    plans_sha256: str

    @classmethod
    def of(cls, event: RunStarted) -> _RunTexts:
        return cls(event.bench, event.dut, event.plans_manifest, event.plans_sha256)


@functools.lru_cache(maxsize=STATION_IMAGES)
def _station_image(shared: tuple[tuple[str, Any], ...], texts: _RunTexts) -> bytes:
    fill = functools.partial(_write_shared, values=dict(shared), texts=texts)
    return _image(fill, skeleton(bool(texts.plans_manifest)))


def _shared_attributes(event: RunStarted, codec: Codec) -> dict[str, Any]:
    return {k: v for k, v in _root_attributes(event, codec).items() if k not in PER_RUN}


def _write_shared(file: h5py.File, values: dict[str, Any], texts: _RunTexts) -> None:
    """The root attributes `values` and the /run_info texts, into the placeholders of a file
    made from `skeleton`."""
    rewrite_attrs(file, {k: v for k, v in values.items() if not holds(k, v)})
    info = h5py.Group(h5py.h5g.open(file.id, schema.RUN_INFO.encode()))
    _rewrite_config(info, schema.BENCH_FILE, texts.bench)
    _rewrite_config(info, schema.DUT_PROFILE, texts.dut)
    if (schema.PLANS_MANIFEST.encode() in info.id) != bool(texts.plans_manifest):
        raise ValueError(
            "the file's skeleton does not match the run: a plans manifest placeholder needs "
            "a manifest, and a manifest needs its placeholder "
            "(create_run_file(..., manifest=bool(event.plans_manifest)))"
        )
    if texts.plans_manifest:
        rewrite_text(info, schema.PLANS_MANIFEST, texts.plans_manifest, sha256=texts.plans_sha256)


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
