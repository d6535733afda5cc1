"""Writing NeXus pieces with h5py: scalar text and values, key/value collections, arrays.

Arrays are chunked for slicing and compressed with the run's codec (gzip-1 + shuffle unless
the fast codec was chosen); waveforms, built from these pieces, live in `waveforms.py`.

Scalars (a waveform's settings: ~16 per waveform) are written with h5py's low-level API
(`lowlevel.write_scalar`): through `Group.create_dataset` the settings of one waveform cost
~1.7 ms. Readers see the same datasets: type, shape, value.
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
from benchtest.storage.lowlevel import set_attrs, write_scalar, write_text

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


def write_value(group: h5py.Group, name: str, value: object) -> h5py.h5d.DatasetID:
    """A dataset holding `value`: numbers and strings as themselves, numeric lists as arrays,
    anything else (a huge int, a string holding NUL, which HDF5 text cannot) as JSON text
    marked with `@encoding="json"`."""
    if (
        (isinstance(value, str) and "\0" not in value)
        or isinstance(value, bool | np.bool_)
        or (isinstance(value, numbers.Real) and np.asarray(value).dtype.kind in "iuf")
    ):
        return write_scalar(group, name, value)  # type: ignore[arg-type]  # checked above
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value)
        if array.dtype.kind in "iuf" and array.ndim == 1:
            return group.create_dataset(name, data=array).id
    return write_text(group, name, json.dumps(value, default=str), encoding="json")


def write_collection(parent: h5py.Group, name: str, values: Mapping[str, object]) -> h5py.Group:
    """An NXcollection with one dataset per item; a key that had to be sanitised keeps its
    original spelling in `@original_name`."""
    group = parent.create_group(name, track_order=True)  # items listed in the order given
    set_attrs(group, {"NX_class": "NXcollection"})
    taken: set[str] = set()  # the group is new: its names are those given here
    for key, value in values.items():
        field = unique_name(taken, sanitise(key))
        taken.add(field)
        dataset = write_value(group, field, value)
        if field != key:
            set_attrs(dataset, {"original_name": key})
    return group
