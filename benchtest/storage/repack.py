"""`repack(src, dst)`: rewrite a run file so that every HDF5 tool reads it without plugins.

Datasets compressed with a plugin filter (the fast codec) are re-encoded with gzip-1 + shuffle,
block by block; everything else is copied as stored. The copy is written next to `dst`,
sealed like a run file its writer closed (`benchtest.runfile.seal`), and renamed into place
when complete, so `dst` is never half written. `repack_command` is the
command-line entry point (`benchtest repack SRC [DST]`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import h5py

from benchtest.runfile import schema
from benchtest.runfile.codecs import GZIP, load_plugins, plugin_filters
from benchtest.runfile.seal import seal_file
from benchtest.storage.header import create_file
from benchtest.storage.nexus import BLOCK_POINTS
from benchtest.values.errors import ResultFileError


def _copy_attrs(source: h5py.HLObject, target: h5py.HLObject) -> None:
    for name in source.attrs:
        dtype = source.attrs.get_id(name).dtype
        target.attrs.create(name, source.attrs[name], dtype=dtype)


def _reencode(dataset: h5py.Dataset, parent: h5py.Group, name: str) -> None:
    copy = parent.create_dataset(
        name,
        shape=dataset.shape,
        dtype=dataset.dtype,
        chunks=dataset.chunks,
        maxshape=dataset.maxshape,
        **GZIP.filter_args(),
    )
    _copy_attrs(dataset, copy)
    rows = max(1, BLOCK_POINTS // max(1, math.prod(dataset.shape[1:])))
    for start in range(0, dataset.shape[0], rows):
        copy[start : start + rows] = dataset[start : start + rows]


def _copy_group(source: h5py.Group, target: h5py.Group) -> int:
    """Copy the children of `source` into `target`; the number of datasets re-encoded."""
    reencoded = 0
    for name, child in source.items():
        if isinstance(child, h5py.Group):
            group = target.create_group(name, track_order=True)
            _copy_attrs(child, group)
            reencoded += _copy_group(child, group)
        elif isinstance(child, h5py.Dataset) and plugin_filters(child):
            _reencode(child, target, name)
            reencoded += 1
        else:
            source.file.copy(child, target, name=name)
    return reencoded


def repack(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> int:
    """Write `src` to the new file `dst` with portable compression; datasets re-encoded."""
    source_path, target_path = Path(src), Path(dst)
    if target_path.exists():
        raise ResultFileError(f"{target_path}: exists already; repack never overwrites")
    load_plugins(str(source_path))
    partial = target_path.with_name(target_path.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        with h5py.File(source_path, "r") as source, create_file(partial) as target:
            _copy_attrs(source, target)
            reencoded = _copy_group(source, target)
            if "compression" in target.attrs:
                target.attrs.modify("compression", GZIP.name)
            seal = _seal_offset(target)
        if seal is not None:
            seal_file(partial, seal)  # and fsync
        else:
            _fsync(partial)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ResultFileError(f"{source_path}: cannot repack: {exc}") from exc
    partial.replace(target_path)
    return reencoded


def _seal_offset(file: h5py.File) -> int | None:
    """Where the copied seal of a run file is (None: a file without one)."""
    summary = file.get(schema.SUMMARY)
    seal = summary.get(schema.SEAL) if isinstance(summary, h5py.Group) else None
    return seal.id.get_offset() if isinstance(seal, h5py.Dataset) else None


def _fsync(path: Path) -> None:
    with path.open("r+b") as file:
        os.fsync(file.fileno())


def repack_command(args: Sequence[str] | None = None) -> int:
    """`benchtest repack SRC [DST]`: the exit status (0 done, 1 failed)."""
    parser = argparse.ArgumentParser(
        prog="benchtest repack",
        description="Rewrite a run file with gzip compression, readable without plugins.",
    )
    parser.add_argument("src", type=Path, help="run file to read")
    parser.add_argument("dst", type=Path, nargs="?", help="new file (default: SRC_portable.h5)")
    options = parser.parse_args(args)
    dst = options.dst or options.src.with_name(f"{options.src.stem}_portable.h5")
    try:
        count = repack(options.src, dst)
    except ResultFileError as exc:
        print(f"benchtest repack: {exc}", file=sys.stderr)
        return 1
    print(f"{dst}: written, {count} dataset(s) re-encoded with gzip")
    return 0
