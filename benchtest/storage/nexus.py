"""Writing NeXus pieces with h5py: waveforms as plottable NXdata, key/value collections, text.

A waveform keeps the instrument's raw codes untouched and gets a float32 dataset in physical
units beside them as the NXdata `@signal`, so h5web, silx and nexusformat plot volts with no
help. Large arrays are chunked and compressed with gzip-1 + shuffle, which every HDF5 tool reads.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any, Final

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.errors import MeasurementError
from benchtest.storage.schema import CODES, SETTINGS, TIME, sanitise, signal_name, unique_name
from benchtest.waveform import Waveform

#: Filter settings of every compressed dataset: readable by any HDF5 tool without plugins.
GZIP: Final[dict[str, Any]] = {"compression": "gzip", "compression_opts": 1, "shuffle": True}

#: Points per chunk of a waveform dataset (float64: 1 MiB, float32: 512 KiB, int16: 256 KiB).
CHUNK_POINTS = 1 << 17
#: Chunks of 1-byte codes get more points so that no chunk is below this size.
MIN_CHUNK_BYTES = 256 * 1024
#: Points converted (codes to float, time axis) per step, to bound memory for huge records.
BLOCK_POINTS = 1 << 20


def chunk_points(dtype: np.dtype[Any], n: int) -> int:
    """Chunk length for a 1-D dataset of `n` points of `dtype`."""
    return max(1, min(n, max(CHUNK_POINTS, MIN_CHUNK_BYTES // dtype.itemsize)))


def create_array(group: h5py.Group, name: str, n: int, dtype: npt.DTypeLike) -> h5py.Dataset:
    """A 1-D dataset of `n` points, chunked and compressed (an empty one is left contiguous)."""
    dt = np.dtype(dtype)
    if n == 0:
        return group.create_dataset(name, shape=(0,), dtype=dt)
    return group.create_dataset(name, shape=(n,), dtype=dt, chunks=(chunk_points(dt, n),), **GZIP)


def write_text(group: h5py.Group, name: str, text: str, **attrs: Any) -> h5py.Dataset:
    """A scalar variable-length UTF-8 string dataset with `attrs`."""
    dataset = group.create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))
    dataset.attrs.update(attrs)
    return dataset


def write_value(group: h5py.Group, name: str, value: object) -> h5py.Dataset:
    """A dataset holding `value`: numbers and strings as themselves, numeric lists as arrays,
    anything else as JSON text marked with `@encoding="json"`."""
    if isinstance(value, str):
        return write_text(group, name, value)
    if isinstance(value, bool | np.bool_):
        return group.create_dataset(name, data=np.bool_(value))
    if isinstance(value, numbers.Real):
        return group.create_dataset(name, data=value)
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


def _codes_dtype(samples: npt.NDArray[Any], name: str) -> np.dtype[Any]:
    kind = samples.dtype.kind
    if kind == "b":
        return np.dtype(np.uint8)
    if kind in "iuf":
        return samples.dtype
    raise MeasurementError(f"waveform {name!r}: cannot store samples of dtype {samples.dtype}")


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def _write_values(
    group: h5py.Group, dataset_name: str, wf: Waveform, name: str, dtype: np.dtype[Any]
) -> None:
    """Raw codes (if scaled or integer) plus the physical-unit signal dataset."""
    samples = np.asarray(wf.samples)
    scaled = dtype.kind != "f" or wf.scale != 1.0 or wf.offset != 0.0
    n = len(samples)
    if not scaled:
        values = create_array(group, dataset_name, n, dtype)
        values[...] = samples
    else:
        codes = create_array(group, CODES, n, dtype)
        codes[...] = samples.astype(dtype, copy=False)
        codes.attrs.update(
            units="counts",
            long_name=f"{name} (counts)",
            scale_factor=np.float64(wf.scale),
            add_offset=np.float64(wf.offset),
        )
        value_dtype = np.float32 if dtype.kind != "f" else dtype
        values = create_array(group, dataset_name, n, value_dtype)
        for start in range(0, n, BLOCK_POINTS):
            block = samples[start : start + BLOCK_POINTS].astype(np.float64)
            values[start : start + len(block)] = block * wf.scale + wf.offset
        values.attrs["derived_from"] = CODES
    values.attrs.update(units=wf.unit, long_name=_label(name, wf.unit))


def _write_time(group: h5py.Group, wf: Waveform) -> None:
    n = len(wf)
    time = create_array(group, TIME, n, np.float64)
    for start in range(0, n, BLOCK_POINTS):
        index = np.arange(start, min(n, start + BLOCK_POINTS), dtype=np.float64)
        time[start : start + len(index)] = wf.t0 + index * wf.dt
    time.attrs.update(units="s", long_name="time (s)", t0=np.float64(wf.t0), dt=np.float64(wf.dt))


def write_waveform(
    parent: h5py.Group, group_name: str, name: str, wf: Waveform, description: str = ""
) -> h5py.Group:
    """Write `wf` as the NXdata group `parent/group_name`; `name` is the waveform's own name."""
    dtype = _codes_dtype(np.asarray(wf.samples), name)  # refuse before writing anything
    group = parent.create_group(group_name)
    dataset_name = signal_name(wf.unit)
    _write_values(group, dataset_name, wf, name, dtype)
    _write_time(group, wf)
    write_text(group, "title", name)
    write_collection(group, SETTINGS, dict(wf.settings))
    group.attrs.update(
        NX_class="NXdata",
        signal=dataset_name,
        axes=[TIME],
        time_indices=np.int64(0),
        channel=wf.channel,
        description=description,
    )
    return group
