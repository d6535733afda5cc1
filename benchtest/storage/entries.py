"""The NXentry of one test: its metadata as attributes and its own measurement table.

Entries are views built from the authoritative run-level tables: when a test with waveforms
finishes (its entry already holds the NXdata groups), and for every other test when the run
closes. They are written with h5py's low-level API, at about 0.1 ms per test, so the end of a
run with thousands of tests stays short.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.storage.codecs import GZIP
from benchtest.storage.schema import CONDITIONS, ENTRY_MEASUREMENT_DTYPE, MEASUREMENTS, TEXT

#: Entry tables up to this size are stored compact, inside the object header.
COMPACT_BYTES = 32 * 1024

_VLEN = h5py.h5t.py_create(TEXT, logical=True)
_VLEN_MEMORY = h5py.h5t.py_create(TEXT)  # Python str objects in memory
_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)
_COMPACT = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
_COMPACT.set_layout(h5py.h5d.COMPACT)


def set_attrs(obj: Any, values: Mapping[str, str | float | int]) -> None:
    """Create the new attributes `values` on `obj` (str, float64 or int64 scalars), quickly."""
    for name, value in values.items():
        if isinstance(value, str):
            attr = h5py.h5a.create(obj.id, name.encode(), _VLEN, _SCALAR)
            attr.write(np.array(value, dtype=TEXT), mtype=_VLEN_MEMORY)
            continue
        data = np.array(value, dtype=np.float64 if isinstance(value, float) else np.int64)
        attr = h5py.h5a.create(obj.id, name.encode(), h5py.h5t.py_create(data.dtype), _SCALAR)
        attr.write(data)


def create_entry(file: h5py.File, name: str, test_id: str, attempt: int) -> h5py.Group:
    """The NXentry group `name` at the root, its children listed in creation order."""
    group = file.create_group(name, track_order=True)
    set_attrs(group, {"NX_class": "NXentry", "test_id": test_id, "attempt": attempt})
    return group


def _fixed_text(column: npt.NDArray[Any] | list[Any]) -> npt.NDArray[Any]:
    """Text values (str or UTF-8 bytes) as fixed-length UTF-8 strings as wide as the longest."""
    values = np.array(column.tolist() if isinstance(column, np.ndarray) else column)
    if values.dtype.kind == "U":
        values = np.char.encode(values, "utf-8")
    elif values.dtype.kind != "S":  # empty, or a mix: one by one
        values = np.array([v if isinstance(v, bytes) else str(v).encode() for v in column])
    width = max(values.dtype.itemsize, 1)
    return values.astype(h5py.string_dtype("utf-8", width))


def entry_table(rows: npt.NDArray[Any], conditions: str) -> npt.NDArray[Any]:
    """A test's rows of /summary/measurements as its entry table: fixed-length UTF-8 text,
    and in `conditions` the effective conditions (the test's where the row has none)."""
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in ENTRY_MEASUREMENT_DTYPE.names or ():
        column = rows[name]
        if name == CONDITIONS:
            columns[name] = _fixed_text([v or conditions for v in column.tolist()])
        elif column.dtype.kind in "OSU":
            columns[name] = _fixed_text(column)
        else:
            columns[name] = column
    table = np.empty(len(rows), dtype=[(n, c.dtype) for n, c in columns.items()])
    for name, column in columns.items():
        table[name] = column
    return table


@functools.lru_cache(maxsize=256)
def _file_type(dtype: np.dtype[Any]) -> Any:
    return h5py.h5t.py_create(dtype, logical=True)


def _write_table(group: h5py.Group, table: npt.NDArray[Any]) -> None:
    if table.nbytes > COMPACT_BYTES:
        group.create_dataset(MEASUREMENTS, data=table, chunks=True, **GZIP.filter_args())
        return
    file_type = _file_type(table.dtype)
    space = h5py.h5s.create_simple((len(table),))
    dataset = h5py.h5d.create(group.id, MEASUREMENTS.encode(), file_type, space, dcpl=_COMPACT)
    if len(table):
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, table, mtype=file_type)


def complete_entry(group: h5py.Group, test: Mapping[str, Any], rows: npt.NDArray[Any]) -> None:
    """Add a finished test's metadata (`test`: a row of /summary/tests) and measurement table."""
    texts = {key: str(test[key]) for key in ("outcome", "message", "start_time", "end_time")}
    texts[CONDITIONS] = str(test[CONDITIONS])
    attrs: dict[str, str | float] = {k: v for k, v in texts.items() if v}  # "" is left out
    attrs["duration"] = float(test["duration"])
    set_attrs(group, attrs)
    _write_table(group, entry_table(rows, str(test[CONDITIONS])))
