"""Growable compound tables in a run file, and reading them back even from a damaged file.

The run-level tables are the authoritative record, appended as tests finish. They are chunked
but not compressed, so a chunk never moves once written: rewriting it at the next commit cannot
damage rows committed before. `read_table` returns the readable prefix of a table as a numpy
structured array with `str` text columns; `committed` keeps the rows whose commit column holds
their position + 1, i.e. the rows that were completely written.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.schema import COMMIT

#: Rows per chunk of a run-level table: a few tens of KiB per chunk for typical rows.
TABLE_CHUNK_ROWS = 256


def create_table(
    group: h5py.Group, name: str, dtype: np.dtype[Any], description: str
) -> h5py.Dataset:
    """An empty, growable, uncompressed table `name` in `group`."""
    table = group.create_dataset(
        name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(TABLE_CHUNK_ROWS,)
    )
    table.attrs["description"] = description
    return table


@functools.lru_cache(maxsize=64)
def _row_types(encoded: bytes) -> tuple[np.dtype[Any], Any]:
    """A table's row dtype and the memory type to write it with, from its encoded HDF5 type:
    computed once per process (from the file, ~0.2 ms a table), kept for every append."""
    dtype = h5py.h5t.decode(encoded).dtype
    return dtype, h5py.h5t.py_create(dtype)


class Appender:
    """Appends rows to the table `path` of the open file `file` through h5py's low-level API
    (a few µs per call). `rows`: how many rows the table holds, when known (the empty tables
    of a new run file): it is then opened only when rows are appended or its row type is
    asked for (~40 us a table), so a table that stays empty is never opened."""

    def __init__(self, file: h5py.h5f.FileID, path: str, rows: int | None = None) -> None:
        self._file, self._path = file, path
        self._table: h5py.h5d.DatasetID | None = None
        self._rows = -1 if rows is None else rows
        if rows is None:
            self._opened()

    def _opened(self) -> h5py.h5d.DatasetID:
        if self._table is None:  # set last: an interrupt here leaves the table unopened
            table = h5py.h5d.open(self._file, self._path.encode())
            self._types = _row_types(table.get_type().encode())
            rows = int(table.shape[0])
            if self._rows not in (-1, rows):
                raise ValueError(f"table {self._path} holds {rows} rows, not {self._rows}")
            self._rows, self._table = rows, table
        return self._table

    @property
    def dtype(self) -> np.dtype[Any]:
        """The table's row type."""
        self._opened()
        return self._types[0]

    def __len__(self) -> int:
        return self._rows

    def append(self, rows: Sequence[tuple[Any, ...]] | npt.NDArray[Any]) -> int:
        """Append `rows` (tuples in column order, or a structured array); their first position."""
        start, count = self._rows, len(rows)
        if count == 0:
            return start
        dataset_id = self._opened()
        data = rows if isinstance(rows, np.ndarray) else table_rows(rows, self.dtype)
        dataset_id.set_extent((start + count,))
        file_space = dataset_id.get_space()
        file_space.select_hyperslab((start,), (count,))
        memory_space = h5py.h5s.create_simple((count,))
        dataset_id.write(memory_space, file_space, data, mtype=self._types[1])
        self._rows = start + count
        return start


def table_rows(rows: Sequence[tuple[Any, ...]], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """`rows` (tuples in column order, text as `str` or UTF-8 `bytes`) as a structured array
    of `dtype`. Text for a fixed-length column is stored as UTF-8; a value longer than its
    column raises ValueError naming the column and the value, never a silently cut one."""
    try:
        data = np.array(rows, dtype=dtype)
    except UnicodeEncodeError:  # numpy encodes str as ASCII: encode the text as UTF-8 first
        fixed = _fixed_columns(dtype)
        data = np.array([_utf8(row, fixed) for row in rows], dtype=dtype)
    for index, name, width in _fixed_columns(dtype):
        column = data[name]
        if len(column) and int(np.char.str_len(column).max()) >= width:
            for row in rows:
                value = row[index]
                encoded = value.encode() if isinstance(value, str) else bytes(value)
                if len(encoded) > width:
                    raise ValueError(
                        f"{name} {value!r} is {len(encoded)} bytes of UTF-8; "
                        f"the run file's {name} column holds at most {width}"
                    )
    return data


def _fixed_columns(dtype: np.dtype[Any]) -> list[tuple[int, str, int]]:
    """(position, name, width in bytes) of the fixed-length text columns of `dtype`."""
    names = dtype.names or ()
    return [(i, n, dtype[n].itemsize) for i, n in enumerate(names) if dtype[n].kind == "S"]


def _utf8(row: tuple[Any, ...], fixed: list[tuple[int, str, int]]) -> tuple[Any, ...]:
    values = list(row)
    for index, _, _ in fixed:
        if isinstance(values[index], str):
            values[index] = values[index].encode()
    return tuple(values)


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


_READ_ERRORS = (OSError, ValueError, RuntimeError, UnicodeDecodeError)


def _readable_prefix(table: h5py.Dataset) -> tuple[npt.NDArray[Any], Exception | None]:
    """The longest prefix of `table` that reads without error (blocks shrink where reads
    fail), and the error that stopped it (None when every row was read)."""
    total = int(table.shape[0])
    parts: list[npt.NDArray[Any]] = []
    start, step = 0, total
    error: Exception | None = None
    while start < total and step > 0:
        stop = min(total, start + step)
        try:
            parts.append(table[start:stop])
            start = stop
        except _READ_ERRORS as exc:
            error = exc
            step //= 2
    rows = np.concatenate(parts) if parts else np.empty(0, dtype=table.dtype)
    return rows, error if len(rows) < total else None


def read_raw_table(table: h5py.Dataset, notes: list[str] | None = None) -> npt.NDArray[Any]:
    """The readable rows of `table` as h5py returns them (text as bytes or objects); when
    some rows cannot be read, a sentence saying which is added to `notes`."""
    try:
        raw: npt.NDArray[Any] = table[...]
    except _READ_ERRORS:
        raw, error = _readable_prefix(table)
        if notes is not None and error is not None:
            total = int(table.shape[0])
            notes.append(
                f"rows {len(raw)}-{total - 1} of its {total} cannot be read ({error}); "
                f"rows 0-{len(raw) - 1} can" if len(raw) else
                f"none of its {total} rows can be read ({error})"
            )  # fmt: skip
    return raw


def read_table(table: h5py.Dataset) -> npt.NDArray[Any]:
    """The readable rows of `table`, as a structured array with `str` text columns."""
    return decode_table(read_raw_table(table))


def read_table_noting(table: h5py.Dataset, notes: list[str]) -> npt.NDArray[Any]:
    """`read_table`, adding to `notes` which rows could not be read."""
    return decode_table(read_raw_table(table, notes))


def committed(rows: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The rows of a table read back whose commit column equals their position + 1."""
    mark = np.arange(1, len(rows) + 1, dtype=np.int64)
    kept: npt.NDArray[Any] = rows[rows[COMMIT] == mark]
    return kept
