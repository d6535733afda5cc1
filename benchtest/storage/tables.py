"""Growable compound tables (measurements, instruments, safe-state log) in a run file.

A table is a 1-D chunked, compressed dataset of a compound dtype with variable-length UTF-8
string columns; rows are appended as events arrive. `decode_table` turns what h5py reads back
into a numpy structured array whose text columns are `str`, for readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.storage.nexus import GZIP

#: Rows per chunk: a few tens of KiB per chunk for typical rows.
TABLE_CHUNK_ROWS = 512


def create_table(
    group: h5py.Group, name: str, dtype: np.dtype[Any], description: str
) -> h5py.Dataset:
    """An empty, growable table `name` in `group`."""
    table = group.create_dataset(
        name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(TABLE_CHUNK_ROWS,), **GZIP
    )
    table.attrs["description"] = description
    return table


def append_rows(table: h5py.Dataset, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append `rows` (tuples in column order) to `table`."""
    if not rows:
        return
    start = table.shape[0]
    table.resize((start + len(rows),))
    table[start:] = np.array(rows, dtype=table.dtype)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _decoded_column(column: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if column.dtype.kind == "O":
        return np.array([_text(v) for v in column], dtype=str).reshape(column.shape)
    if column.dtype.kind == "S":
        return np.char.decode(column, "utf-8", errors="replace")
    return column


def decode_table(raw: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """`raw` (a compound array as h5py returns it) with every text column as numpy `str`."""
    names = raw.dtype.names or ()
    columns = {name: _decoded_column(raw[name]) for name in names}
    out = np.empty(raw.shape, dtype=[(name, columns[name].dtype) for name in names])
    for name in names:
        out[name] = columns[name]
    return out


def read_table(table: h5py.Dataset) -> npt.NDArray[Any]:
    """The whole of `table` as a structured array with `str` text columns."""
    return decode_table(table[...])
