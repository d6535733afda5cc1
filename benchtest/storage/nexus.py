"""Writing NeXus pieces with h5py: scalar text and values, key/value collections, arrays.

Arrays are chunked for slicing and compressed with the run's codec (gzip-1 + shuffle unless
the fast codec was chosen); waveforms, built from these pieces, live in `waveforms.py`.

Scalars (a waveform's settings: ~16 per waveform) are created with h5py's low-level API and
stored compact, inside their object header: ~45 us a dataset against ~105 us through
`Group.create_dataset` (its dtype guessing, property lists and wrappers), which made the
settings of one waveform cost ~1.7 ms. Readers see the same datasets: type, shape, value.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.codecs import GZIP, Codec
from benchtest.runfile.schema import sanitise, unique_name

#: Points per chunk of a waveform dataset (float64: 1 MiB, float32: 512 KiB, int16: 256 KiB).
CHUNK_POINTS = 1 << 17
#: Chunks of 1-byte codes get more points so that no chunk is below this size.
MIN_CHUNK_BYTES = 256 * 1024
#: Points converted (codes to float, time axis) per step, to bound memory for huge records.
BLOCK_POINTS = 1 << 20


def chunk_points(dtype: np.dtype[Any], n: int) -> int:
    """Chunk length for a 1-D dataset of `n` points of `dtype`."""
    return max(1, min(n, max(CHUNK_POINTS, MIN_CHUNK_BYTES // dtype.itemsize)))


def create_array(
    group: h5py.Group, name: str, n: int, dtype: npt.DTypeLike, codec: Codec = GZIP
) -> h5py.Dataset:
    """A 1-D dataset of `n` points, chunked and compressed (an empty one is left contiguous)."""
    dt = np.dtype(dtype)
    if n == 0:
        return group.create_dataset(name, shape=(0,), dtype=dt)
    chunks = (chunk_points(dt, n),)
    return group.create_dataset(name, shape=(n,), dtype=dt, chunks=chunks, **codec.filter_args())


_TEXT = h5py.string_dtype("utf-8")
_SCALAR = h5py.h5s.create(h5py.h5s.SCALAR)
#: A scalar's dataset: compact (its value in the object header), no times (as h5py makes them).
_SCALAR_DATASET = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
_SCALAR_DATASET.set_layout(h5py.h5d.COMPACT)
_SCALAR_DATASET.set_obj_track_times(False)


def _scalar(group: h5py.Group, name: str, data: npt.NDArray[Any]) -> h5py.Dataset:
    """The scalar dataset `name` holding `data` (a 0-d array), of its type as h5py stores it."""
    dataset = h5py.h5d.create(
        group.id,
        name.encode(),
        h5py.h5t.py_create(data.dtype, logical=True),
        _SCALAR,
        dcpl=_SCALAR_DATASET,
    )
    dataset.write(_SCALAR, _SCALAR, data, mtype=h5py.h5t.py_create(data.dtype))
    return h5py.Dataset(dataset)


def write_text(group: h5py.Group, name: str, text: str, **attrs: Any) -> h5py.Dataset:
    """A scalar variable-length UTF-8 string dataset with `attrs`."""
    dataset = _scalar(group, name, np.array(text, dtype=_TEXT))
    if attrs:
        dataset.attrs.update(attrs)
    return dataset


def write_value(group: h5py.Group, name: str, value: object) -> h5py.Dataset:
    """A dataset holding `value`: numbers and strings as themselves, numeric lists as arrays,
    anything else as JSON text marked with `@encoding="json"`."""
    if isinstance(value, str):
        return write_text(group, name, value)
    if isinstance(value, bool | np.bool_):
        return _scalar(group, name, np.array(value, dtype=np.bool_))
    if isinstance(value, numbers.Real):
        data = np.asarray(value)
        if data.dtype.kind in "iuf":  # else a number numpy keeps as an object (a huge int)
            return _scalar(group, name, data)
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value)
        if array.dtype.kind in "iuf" and array.ndim == 1:
            return group.create_dataset(name, data=array)
    return write_text(group, name, json.dumps(value, default=str), encoding="json")


def write_collection(parent: h5py.Group, name: str, values: Mapping[str, object]) -> h5py.Group:
    """An NXcollection with one dataset per item; a key that had to be sanitised keeps its
    original spelling in `@original_name`."""
    group = parent.create_group(name, track_order=True)  # items listed in the order given
    group.attrs["NX_class"] = "NXcollection"
    for key, value in values.items():
        field = unique_name(group, sanitise(key))
        dataset = write_value(group, field, value)
        if field != key:
            dataset.attrs["original_name"] = key
    return group
