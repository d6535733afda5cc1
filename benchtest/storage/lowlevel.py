"""Attributes and scalar text datasets written through h5py's low-level API.

They are stored exactly as h5py's `attrs` and `create_dataset(data=...)` store them (text as
variable-length UTF-8, numbers with their own type, a list of str as a 1-D array of
variable-length UTF-8), at a third of the cost: ~15 us an attribute instead of ~45 us; scalar
datasets are compact, their value in the object header. A run
file's header and every waveform group write a few dozen of them. `rewrite_attrs` and
`rewrite_text` fill placeholders that exist already (a run file's skeleton, see `header`).
`write_all` (`write_from`), `write_text_attribute` and `copy_object` call libhdf5 without
h5py's per-call conversions, for the thousands of entries built when a run closes.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

_TEXT = h5py.string_dtype("utf-8")
_TEXT_FILE_TYPE = h5py.h5t.py_create(_TEXT, logical=True)  # variable-length UTF-8
_TEXT_MEMORY_TYPE = h5py.h5t.py_create(_TEXT)  # Python str objects in memory
_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)
#: A scalar's dataset: compact (its value in the object header), no times (as h5py makes them).
_SCALAR_DATASET = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
_SCALAR_DATASET.set_layout(h5py.h5d.COMPACT)
_SCALAR_DATASET.set_obj_track_times(False)

#: What `set_attrs` takes: str, a number (Python or numpy scalar), or a sequence of str.
AttrValue = str | int | float | np.generic | Sequence[str]


@functools.cache
def file_type(dtype: np.dtype[Any]) -> Any:
    """The HDF5 type that stores values of `dtype` (text as variable- or fixed-length UTF-8),
    made once per dtype."""
    return h5py.h5t.py_create(dtype, logical=True)


def storable(text: str) -> str:
    """`text` as the run file keeps it: HDF5's variable-length strings end at a NUL, so each
    NUL (a garbled instrument reply quoted in a message, say) becomes U+FFFD."""
    return text.replace("\0", "\ufffd") if "\0" in text else text


def _encoded(name: str, value: AttrValue) -> tuple[np.ndarray[Any, Any], Any, Any, Any]:
    """`value` as data, file type, memory type and data space (text `storable`)."""
    if isinstance(value, str):
        return np.array(storable(value), dtype=_TEXT), _TEXT_FILE_TYPE, _TEXT_MEMORY_TYPE, _SCALAR
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        data = np.array([storable(v) for v in value], dtype=_TEXT).reshape(len(value))
        space = h5py.h5s.create_simple((len(value),))
        return data, _TEXT_FILE_TYPE, _TEXT_MEMORY_TYPE, space
    data = np.asarray(value)
    if data.ndim != 0 or data.dtype.kind not in "biuf":
        raise TypeError(f"attribute {name!r}: {value!r} is not text, a number or a list of text")
    stored = file_type(data.dtype)
    return data, stored, stored, _SCALAR


def set_attrs(
    obj: h5py.HLObject | h5py.h5g.GroupID | h5py.h5d.DatasetID, values: Mapping[str, AttrValue]
) -> None:
    """Create the attributes `values` on `obj` (an h5py object or a low-level object id),
    which has none of these names yet."""
    object_id = obj.id if isinstance(obj, h5py.HLObject) else obj
    for name, value in values.items():
        data, stored, memory_type, space = _encoded(name, value)
        attr = h5py.h5a.create(object_id, name.encode(), stored, space)
        attr.write(data, mtype=memory_type)


def write_scalar(group: h5py.Group, name: str, value: AttrValue) -> h5py.h5d.DatasetID:
    """The scalar dataset `name` in `group` holding `value` (text, a number or a bool), of
    the type h5py's `create_dataset(data=value)` gives it, stored compact: ~35 us against
    ~105 us through `create_dataset` (a waveform's ~16 settings are such datasets)."""
    data, stored, memory_type, space = _encoded(name, value)
    if space is not _SCALAR:
        raise TypeError(f"dataset {name!r}: {value!r} is not one value")
    dataset = h5py.h5d.create(group.id, name.encode(), stored, _SCALAR, dcpl=_SCALAR_DATASET)
    dataset.write(_SCALAR, _SCALAR, data, mtype=memory_type)
    return dataset


def write_text(group: h5py.Group, name: str, text: str, **attrs: AttrValue) -> h5py.h5d.DatasetID:
    """A scalar variable-length UTF-8 string dataset `name` in `group`, with `attrs`."""
    dataset = write_scalar(group, name, text)
    set_attrs(dataset, attrs)
    return dataset


def rewrite_attrs(
    obj: h5py.HLObject | h5py.h5g.GroupID | h5py.h5d.DatasetID, values: Mapping[str, AttrValue]
) -> None:
    """Write `values` into the existing attributes of these names on `obj` (an h5py object or
    a low-level object id; each attribute keeps its type: text into text, a number into its
    number type); a missing one is a KeyError."""
    object_id = obj.id if isinstance(obj, h5py.HLObject) else obj
    for name, value in values.items():
        data, _, memory_type, _ = _encoded(name, value)
        attr = h5py.h5a.open(object_id, name.encode())
        attr.write(data, mtype=memory_type)


def rewrite_text(group: h5py.Group, name: str, text: str, **attrs: AttrValue) -> None:
    """Write `text` into the existing scalar text dataset `name` of `group`, and `attrs` into
    its existing attributes."""
    dataset = h5py.h5d.open(group.id, name.encode())
    data = np.array(text, dtype=_TEXT)
    dataset.write(_SCALAR, _SCALAR, data, mtype=_TEXT_MEMORY_TYPE)
    rewrite_attrs(dataset, attrs)


#: `H5S_ALL` and `H5P_DEFAULT` in libhdf5's C API.
_ALL = _DEFAULT = 0
_HID = ctypes.c_int64  # hid_t
_HERR = ctypes.c_int  # herr_t


@dataclass(frozen=True)
class _Library:
    """The libhdf5 functions called without h5py, and h5py's lock held around each call."""

    dataset_write: Callable[..., int]  # H5Dwrite
    attribute_write: Callable[..., int]  # H5Awrite
    object_copy: Callable[..., int]  # H5Ocopy
    lock: Any


@functools.cache
def _library() -> _Library | None:
    """libhdf5's functions, or None where they cannot be had.

    h5py spends more on a call than libhdf5 does on a small write: `DatasetID.write` ~15 us
    on a compound type (it rebuilds the type member by member to decide how to convert),
    `AttrID.write` of a text ~6 us (numpy object array, h5py's own string conversion), which
    is most of writing a one-row table or a test id. The functions are looked up through
    h5py's own extension module, so they are the libhdf5 that module is linked with, whose
    object ids h5py hands out (and checked to report h5py's version of it); they are called
    holding the GIL and h5py's lock, as h5py calls libhdf5 (a Python exception raised in
    h5py's file driver during the call is raised after it). Not found this way (Windows,
    where a module's symbols do not include those of its libraries): None, and h5py writes."""
    try:
        from h5py._objects import phil  # h5py's lock around every libhdf5 call

        library = ctypes.PyDLL(h5py.h5d.__file__)  # PyDLL: keeps the GIL during the call
        version = library.H5get_libversion
        functions = library.H5Dwrite, library.H5Awrite, library.H5Ocopy
    except (ImportError, OSError, AttributeError):
        return None
    numbers = (ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint())
    if version(*map(ctypes.byref, numbers)) < 0:
        return None
    if tuple(n.value for n in numbers) != tuple(h5py.version.hdf5_version_tuple):
        return None
    dataset_write, attribute_write, object_copy = functions
    dataset_write.argtypes = [_HID] * 5 + [ctypes.c_void_p]  # H5Dwrite(..., const void *buf)
    attribute_write.argtypes = [_HID, _HID, ctypes.POINTER(ctypes.c_char_p)]
    object_copy.argtypes = [_HID, ctypes.c_char_p, _HID, ctypes.c_char_p, _HID, _HID]
    for function in functions:
        function.restype = _HERR
    return _Library(dataset_write, attribute_write, object_copy, phil)


def write_all(
    dataset: h5py.h5d.DatasetID, memory_type: h5py.h5t.TypeID, data: npt.NDArray[Any]
) -> None:
    """Write `data` to the whole of `dataset`, as h5py's `dataset.write(h5s.ALL, h5s.ALL,
    data, mtype=memory_type)` would. `memory_type` must describe `data`'s elements with no
    variable-length or reference member (libhdf5 converts it alone, without h5py's help),
    and `data` hold as many elements as the dataset."""
    data = np.ascontiguousarray(data)  # the elements one after the other, as both expect
    library = _library()
    if library is None:
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, data, mtype=memory_type)
        return
    write_from(dataset, memory_type, data.ctypes.data, len(data))


def write_from(
    dataset: h5py.h5d.DatasetID, memory_type: h5py.h5t.TypeID, address: int, count: int
) -> None:
    """Write to the whole of `dataset` the `count` elements of `memory_type` (as in
    `write_all`) found one after the other at `address`, in an array the caller keeps. Only
    where `has_library()`."""
    library = _library()
    if library is None:
        raise RuntimeError("libhdf5's H5Dwrite cannot be called here: write with write_all")
    with library.lock:
        status = library.dataset_write(dataset.id, memory_type.id, _ALL, _ALL, _DEFAULT, address)
    if status < 0:
        name = _name(dataset)
        raise RuntimeError(f"HDF5 could not write dataset {name} ({count} elements)")


def _name(obj: Any) -> str:
    """Where the object `obj` is in its file, for an error message."""
    try:
        return (h5py.h5i.get_name(obj) or b"?").decode(errors="replace")
    except (OSError, RuntimeError, ValueError):
        return f"(id {obj.id})"


def has_library() -> bool:
    """Whether libhdf5's functions are called without h5py here (see `write_from`)."""
    return _library() is not None


def _c_text_type() -> h5py.h5t.TypeID:
    text = h5py.h5t.C_S1.copy()
    text.set_size(h5py.h5t.VARIABLE)
    text.set_cset(h5py.h5t.CSET_UTF8)
    return text


#: A variable-length UTF-8 string in memory as libhdf5 takes it: a `char *`.
_C_TEXT = _c_text_type()


def write_text_attribute(attribute: h5py.h5a.AttrID, text: str) -> None:
    """Write `text` into the existing scalar variable-length text `attribute`, as h5py's
    `attribute.write(np.array(text, dtype=string_dtype()), mtype=...)` would. A text holding
    NUL, which a C string cannot carry, goes to h5py, which refuses it (ValueError)."""
    library = _library()
    encoded = text.encode()
    if library is None or b"\0" in encoded:
        attribute.write(np.array(text, dtype=_TEXT), mtype=_TEXT_MEMORY_TYPE)
        return
    pointer = ctypes.c_char_p(encoded)
    with library.lock:
        status = library.attribute_write(attribute.id, _C_TEXT.id, ctypes.byref(pointer))
    if status < 0:
        where = f"{_name(attribute)}@{attribute.name.decode(errors='replace')}"
        raise RuntimeError(f"HDF5 could not write {text!r} into attribute {where}")


def copy_object(
    source: h5py.h5g.GroupID | h5py.h5f.FileID,
    name: bytes,
    destination: h5py.h5g.GroupID | h5py.h5f.FileID,
    new_name: bytes,
) -> None:
    """Copy the object `name` of `source` (a group or a file's root) to `new_name` in
    `destination`, with its attributes and members, as `h5py.h5o.copy` does."""
    library = _library()
    if library is None:
        h5py.h5o.copy(source, name, destination, new_name)
        return
    with library.lock:
        status = library.object_copy(source.id, name, destination.id, new_name, 0, 0)
    if status < 0:
        raise RuntimeError(f"HDF5 could not copy {name!r} to {new_name!r}")
