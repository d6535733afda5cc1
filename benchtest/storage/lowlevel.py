"""Attributes and scalar text datasets written through h5py's low-level API.

They are stored exactly as h5py's `attrs` and `create_dataset(data=text)` store them (text as
variable-length UTF-8, numbers with their own type, a list of str as a 1-D array of
variable-length UTF-8), at a third of the cost: ~15 us an attribute instead of ~45 us. A run
file's header and every waveform group write a few dozen of them. `rewrite_attrs` and
`rewrite_text` fill placeholders that exist already (a run file's skeleton, see `header`).
`write_all` writes a whole dataset of fixed-size values without h5py's per-call type work.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

_TEXT = h5py.string_dtype("utf-8")
_TEXT_FILE_TYPE = h5py.h5t.py_create(_TEXT, logical=True)  # variable-length UTF-8
_TEXT_MEMORY_TYPE = h5py.h5t.py_create(_TEXT)  # Python str objects in memory
_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)

#: What `set_attrs` takes: str, a number (Python or numpy scalar), or a sequence of str.
AttrValue = str | int | float | np.generic | Sequence[str]


@functools.cache
def _file_type(dtype: np.dtype[Any]) -> Any:
    return h5py.h5t.py_create(dtype, logical=True)


def _encoded(name: str, value: AttrValue) -> tuple[np.ndarray[Any, Any], Any, Any, Any]:
    """`value` as data, file type, memory type and data space."""
    if isinstance(value, str):
        return np.array(value, dtype=_TEXT), _TEXT_FILE_TYPE, _TEXT_MEMORY_TYPE, _SCALAR
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        data = np.array(value, dtype=_TEXT).reshape(len(value))
        space = h5py.h5s.create_simple((len(value),))
        return data, _TEXT_FILE_TYPE, _TEXT_MEMORY_TYPE, space
    data = np.asarray(value)
    if data.ndim != 0 or data.dtype.kind not in "biuf":
        raise TypeError(f"attribute {name!r}: {value!r} is not text, a number or a list of text")
    file_type = _file_type(data.dtype)
    return data, file_type, file_type, _SCALAR


def set_attrs(obj: h5py.HLObject, values: Mapping[str, AttrValue]) -> None:
    """Create the attributes `values` on `obj`, which has none of these names yet."""
    for name, value in values.items():
        data, file_type, memory_type, space = _encoded(name, value)
        attr = h5py.h5a.create(obj.id, name.encode(), file_type, space)
        attr.write(data, mtype=memory_type)


def write_text(group: h5py.Group, name: str, text: str, **attrs: AttrValue) -> None:
    """A scalar variable-length UTF-8 string dataset `name` in `group`, with `attrs`."""
    dataset = h5py.h5d.create(group.id, name.encode(), _TEXT_FILE_TYPE, _SCALAR)
    data = np.array(text, dtype=_TEXT)
    dataset.write(_SCALAR, _SCALAR, data, mtype=_TEXT_MEMORY_TYPE)
    set_attrs(h5py.Dataset(dataset), attrs)


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


@functools.cache
def _h5dwrite() -> tuple[Callable[..., int], Any] | None:
    """libhdf5's `H5Dwrite` and h5py's lock, or None where they cannot be had.

    h5py's `DatasetID.write` spends ~15 us per call on a compound type before libhdf5 is
    called (it rebuilds the type member by member to decide how to convert), which is most of
    writing a one-row table. The function is looked up through h5py's own extension module,
    so it is the libhdf5 that module is linked with, whose object ids h5py hands out (and
    checked to report h5py's version of it); it is called holding the GIL and h5py's lock,
    as h5py calls libhdf5. Not found this way (Windows, where a module's symbols do not
    include those of its libraries): None, and h5py writes."""
    try:
        from h5py._objects import phil  # h5py's lock around every libhdf5 call

        library = ctypes.PyDLL(h5py.h5d.__file__)  # PyDLL: keeps the GIL during the call
        write, version = library.H5Dwrite, library.H5get_libversion
    except (ImportError, OSError, AttributeError):
        return None
    numbers = (ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint())
    if version(*map(ctypes.byref, numbers)) < 0:
        return None
    if tuple(n.value for n in numbers) != tuple(h5py.version.hdf5_version_tuple):
        return None
    write.argtypes = [ctypes.c_int64] * 5 + [ctypes.c_void_p]  # hid_t x 5, const void *
    write.restype = ctypes.c_int  # herr_t
    return write, phil


def write_all(
    dataset: h5py.h5d.DatasetID, memory_type: h5py.h5t.TypeID, data: npt.NDArray[Any]
) -> None:
    """Write `data` to the whole of `dataset`, as h5py's `dataset.write(h5s.ALL, h5s.ALL,
    data, mtype=memory_type)` would. `memory_type` must describe `data`'s elements with no
    variable-length or reference member (libhdf5 converts it alone, without h5py's help),
    and `data` hold as many elements as the dataset."""
    data = np.ascontiguousarray(data)  # the elements one after the other, as both expect
    found = _h5dwrite()
    if found is None:
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, data, mtype=memory_type)
        return
    write, lock = found
    with lock:
        status = write(dataset.id, memory_type.id, _ALL, _ALL, _DEFAULT, data.ctypes.data)
    if status < 0:
        raise RuntimeError(f"HDF5 could not write dataset {dataset.id} ({len(data)} elements)")
