"""The NXentry of one test: a few attributes and its own measurement table.

Entries are views built from the authoritative run-level tables: when a test with waveforms
finishes (its entry already holds the NXdata groups), and for every other test when the run
closes. Every HDF5 object costs 10-35 us to create, so an entry has just what a reviewer
browsing the file needs (`@NX_class`, `@test_id`, `@outcome`, `@message` when there is one,
and the table); the rest of the test's row stays in /summary/tests. They are written with
h5py's low-level API, and those built at close are copies of templates (`EntryBuilder`), so
the end of a run with thousands of tests stays short.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.codecs import GZIP
from benchtest.runfile.schema import CONDITIONS, ENTRY_MEASUREMENT_DTYPE, MEASUREMENTS, TEXT
from benchtest.storage.lowlevel import (
    copy_object,
    file_type,
    has_library,
    write_all,
    write_from,
    write_text_attribute,
)

#: Entry tables up to this size are stored compact, inside the object header.
COMPACT_BYTES = 32 * 1024

_VLEN = h5py.h5t.py_create(TEXT, logical=True)
_VLEN_MEMORY = h5py.h5t.py_create(TEXT)  # Python str objects in memory
_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)
_COMPACT = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
_COMPACT.set_layout(h5py.h5d.COMPACT)
_COMPACT.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # the table is written right away
_COMPACT.set_obj_track_times(False)  # no times, as h5py creates datasets
_TEMPLATE = b"entry"
_MEASUREMENTS = MEASUREMENTS.encode()
#: An entry's group, as `create_entry` makes it: children and attributes listed in creation
#: order (links in the object header: one object to copy), no times.
_ENTRY_GROUP = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
_ENTRY_GROUP.set_link_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
_ENTRY_GROUP.set_attr_creation_order(h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED)
_ENTRY_GROUP.set_obj_track_times(False)


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


def create_entry(file: h5py.File, name: str, test_id: str) -> h5py.Group:
    """The NXentry group `name` at the root, its children listed in creation order."""
    group = file.create_group(name, track_order=True)
    set_attrs(group, {"NX_class": "NXentry", "test_id": test_id})
    return group


def _result_attrs(test: Mapping[str, Any]) -> dict[str, str]:
    attrs = {"outcome": str(test["outcome"])}
    if test["message"]:
        attrs["message"] = str(test["message"])
    return attrs


def complete_entry(group: h5py.Group, test: Mapping[str, Any], rows: npt.NDArray[Any]) -> None:
    """Add a finished test's outcome (`test`: a row of /summary/tests) and measurement table."""
    set_attrs(group, _result_attrs(test))
    write_table(group, entry_table(rows, str(test[CONDITIONS])))


class EntryBuilder:
    """Builds the NXentries of finished tests at the root of `file`, each as a copy of a
    template in a memory file: the test's values are written into the template (test id,
    message, the rows of a compact table), then one object copy brings the group, its
    attributes and its table into the run file. A template is kept per outcome, with or
    without a message, and row type and length of a compact table, until `close()`.

    Measured at the close of 5 000 one-row tests: ~35 us an entry, ~27 of them the object
    copy, against ~155 us creating the attributes and table in the run file (or ~110 us
    writing them after the copy, where each write loads and changes the new object). The
    values and the copy go to libhdf5 without h5py's conversions (`lowlevel`: ~55 us an
    entry through h5py), and the memory file is started over every `RENEW_ENTRIES` entries:
    libhdf5 frees a template's previous text in time that grows with every text written into
    the heap collection before. A call with at most `DIRECT_ENTRIES` entries, before any
    template was made, creates them in the run file instead: the memory file and a first
    template cost more than a few entries made there (~0.45 ms against ~0.2 ms an entry).
    """

    def __init__(self, file: h5py.h5f.FileID) -> None:
        self._file = file
        self._templates: h5py.h5f.FileID | None = None  # made with the first template
        self._made: dict[tuple[np.dtype[Any], str, bool, int], _Template] = {}
        self._since_renewed = 0

    def __enter__(self) -> EntryBuilder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the templates."""
        self._made.clear()
        if self._templates is not None:
            self._templates.close()
            self._templates = None

    def build(
        self,
        names: Sequence[str],
        test_ids: Sequence[str],
        outcomes: Sequence[str],
        messages: Sequence[str],
        counts: Sequence[int],
        table: npt.NDArray[Any],
    ) -> None:
        """The NXentry `names[k]` of the finished test `test_ids[k]` (its outcome, and its
        message or ""), for each k, with the next `counts[k]` rows of `table` (fixed-length
        text, see `entry_table`; the counts add up to its length) as its measurement table."""
        table = np.ascontiguousarray(table)
        if len(names) <= DIRECT_ENTRIES and not self._made:
            self._create(zip(names, test_ids, outcomes, messages, counts, strict=True), table)
            return
        dtype, size = table.dtype, table.dtype.itemsize
        direct = has_library()
        address = table.ctypes.data if direct and len(table) else 0  # the rows, one by one
        first = 0
        for name, test_id, outcome, message, count in zip(
            names, test_ids, outcomes, messages, counts, strict=True
        ):
            compact = count * size <= COMPACT_BYTES
            key = (dtype, outcome, bool(message), count if compact else -1)
            template = self._made.get(key) or self._template(key, table[first : first + count])
            write_text_attribute(template.test_id, test_id)
            if template.message is not None:
                write_text_attribute(template.message, message)
            if template.table is not None and count:  # fixed-size columns only
                if direct:
                    write_from(template.table, template.file_type, address + first * size, count)
                else:
                    write_all(template.table, template.file_type, table[first : first + count])
            encoded = name.encode()
            copy_object(self._memory(), template.name, self._file, encoded)
            if not compact:
                group = _Wrapped(h5py.h5g.open(self._file, encoded))
                write_table(group, table[first : first + count])
            first += count
            self._since_renewed += 1
            if self._since_renewed >= RENEW_ENTRIES:
                self._renew()

    def _create(
        self, entries: Iterable[tuple[str, str, str, str, int]], table: npt.NDArray[Any]
    ) -> None:
        """The entries of `build` (name, test id, outcome, message, row count each), each
        created in the run file as a template is made."""
        first = 0
        for name, test_id, outcome, message, count in entries:
            group = _Wrapped(h5py.h5g.create(self._file, name.encode(), gcpl=_ENTRY_GROUP))
            attrs = {"NX_class": "NXentry", "outcome": outcome, "test_id": test_id}
            set_attrs(group, {**attrs, "message": message} if message else attrs)
            write_table(group, table[first : first + count])
            first += count

    def _memory(self) -> h5py.h5f.FileID:
        """The memory file of the templates, made on first use."""
        if self._templates is None:
            self._templates = _memory_file()
        return self._templates

    def _renew(self) -> None:
        """Start the memory file and its templates over."""
        self.close()
        self._since_renewed = 0

    def _template(
        self, key: tuple[np.dtype[Any], str, bool, int], table: npt.NDArray[Any]
    ) -> _Template:
        """A new template for entries of `key` (row type, outcome, has a message, and the
        length of a compact table, or -1 for a table written after the copy), made with the
        rows `table` of its first entry."""
        dtype, outcome, has_message, count = key
        name = _TEMPLATE + str(len(self._made)).encode()
        group = h5py.h5g.create(self._memory(), name, gcpl=_ENTRY_GROUP)
        attrs = {"NX_class": "NXentry", "outcome": outcome, "test_id": ""}
        set_attrs(_Wrapped(group), {**attrs, "message": ""} if has_message else attrs)
        template = _Template(name, h5py.h5a.open(group, b"test_id"))
        if has_message:
            template.message = h5py.h5a.open(group, b"message")
        if count >= 0:
            write_table(_Wrapped(group), table)
            template.table = h5py.h5d.open(group, _MEASUREMENTS)
            template.file_type = file_type(dtype)
        self._made[key] = template
        return template


#: Entries built from one memory file of templates before it is started over (see
#: `EntryBuilder`). Measured, a test id written per entry and the new files together: ~3.0
#: us an entry when started over every 1 024 or 2 048 entries, ~3.5 every 4 096, ~4.8 every
#: 8 192.
RENEW_ENTRIES = 2048
#: Entries that `EntryBuilder.build` creates in the run file, without templates (see there).
DIRECT_ENTRIES = 2


@dataclass
class _Template:
    """A template entry in the memory file: its name, and the objects written per entry."""

    name: bytes
    test_id: Any  # the attribute ids
    message: Any = None
    table: Any = None  # the dataset id of a compact table
    file_type: Any = None


def _memory_file() -> h5py.h5f.FileID:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(block_size=1 << 16, backing_store=False)
    name = f"benchtest-entry-templates-{uuid.uuid4().hex}".encode()  # files are told by name
    return h5py.h5f.create(name, h5py.h5f.ACC_EXCL, fapl=fapl)


class _Wrapped:
    """A low-level object id where `set_attrs` and `write_table` expect an h5py object."""

    def __init__(self, object_id: Any) -> None:
        self.id = object_id


def _fixed_text(column: npt.NDArray[Any] | list[Any]) -> npt.NDArray[Any]:
    """Text values (str or UTF-8 bytes) as fixed-length UTF-8 strings as wide as the longest."""
    if isinstance(column, np.ndarray) and column.dtype.kind == "S":  # UTF-8 already: narrowed
        width = int(np.char.str_len(column).max()) if len(column) else 0
        return column.astype(h5py.string_dtype("utf-8", max(width, 1)))
    values = np.array(column.tolist() if isinstance(column, np.ndarray) else column)
    if values.dtype.kind == "U":
        values = np.char.encode(values, "utf-8")
    elif values.dtype.kind != "S":  # empty, or a mix: one by one
        values = np.array([v if isinstance(v, bytes) else str(v).encode() for v in column])
    width = max(values.dtype.itemsize, 1)
    return values.astype(h5py.string_dtype("utf-8", width))


def _effective_conditions(
    column: npt.NDArray[Any], conditions: str | npt.NDArray[Any]
) -> npt.NDArray[Any]:
    """A row's own conditions, or `conditions` where it has none, as fixed-length UTF-8."""
    tests = _fixed_text([conditions] if isinstance(conditions, str) else conditions)
    if column.dtype.kind == "O" and not any(column):  # no row has its own (the usual case)
        return np.broadcast_to(tests, column.shape) if len(tests) == 1 else tests
    own = _fixed_text(column)
    merged = np.where(own == b"", tests, own)
    return merged.astype(h5py.string_dtype("utf-8", max(merged.dtype.itemsize, 1)))


def entry_table(rows: npt.NDArray[Any], conditions: str | npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Rows of /summary/measurements as entry table rows: fixed-length UTF-8 text, and in
    `conditions` the effective conditions (`conditions`, the test's, where a row has none;
    one per row for rows of several tests). Text may be `str` or, as h5py reads it, UTF-8
    `bytes`: bytes are kept as they are, never decoded and encoded again."""
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in ENTRY_MEASUREMENT_DTYPE.names or ():
        column = rows[name]
        if name == CONDITIONS:
            columns[name] = _effective_conditions(column, conditions)
        elif column.dtype.kind in "OSU":
            columns[name] = _fixed_text(column)
        else:
            columns[name] = column
    table = np.empty(len(rows), dtype=[(n, c.dtype) for n, c in columns.items()])
    for name, column in columns.items():
        table[name] = column
    return table


def write_table(group: Any, table: npt.NDArray[Any]) -> None:
    """`table` as the entry's `measurements`: compact when small, else chunked with gzip."""
    if table.nbytes > COMPACT_BYTES:
        h5py.Group(group.id).create_dataset(
            MEASUREMENTS, data=table, chunks=True, **GZIP.filter_args()
        )
        return
    stored = file_type(table.dtype)
    space = h5py.h5s.create_simple((len(table),))
    dataset = h5py.h5d.create(group.id, MEASUREMENTS.encode(), stored, space, dcpl=_COMPACT)
    if len(table):
        write_all(dataset, stored, table)
