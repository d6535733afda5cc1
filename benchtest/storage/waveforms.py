"""A waveform as a plottable NXdata group: raw codes as delivered, plus what viewers need.

The instrument's samples are stored untouched (`codes`, int8/int16/... with `@scale_factor` and
`@add_offset`). Records up to `PLOT_COPY_MAX_POINTS` also get a float32 copy in physical units
as the NXdata `@signal` and a float64 `time` axis, so h5web and silx plot volts against seconds.
Longer records skip both (they would cost 3-4x the codes in time and space); their `@signal` is
the codes themselves, in counts, and time is `@t0 + i * @dt`.

Every dataset here is written whole chunks at a time, once, so it is written without HDF5's
chunk cache: each chunk is compressed straight from the array instead of being copied into the
cache first (12 % less time for a long record), the samples' chunks compressed in parallel
where the codec allows (`chunks`). Attributes go through `lowlevel`.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.codecs import Codec
from benchtest.runfile.schema import CODES, SETTINGS, TIME, signal_name
from benchtest.storage.chunks import write_chunked
from benchtest.storage.lowlevel import set_attrs, write_text
from benchtest.storage.nexus import BLOCK_POINTS, chunk_points, create_array, write_collection
from benchtest.values.errors import MeasurementError
from benchtest.values.waveform import Waveform

#: Longest record that gets a float32 physical-unit copy and an explicit time axis.
PLOT_COPY_MAX_POINTS = 1 << 20

#: Dataset access without a chunk cache (for datasets written whole chunks at a time).
_NO_CHUNK_CACHE = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
_NO_CHUNK_CACHE.set_chunk_cache(0, 0, 1.0)


def _create_array(
    group: h5py.Group, name: str, n: int, dtype: npt.DTypeLike, codec: Codec
) -> h5py.Dataset:
    """`nexus.create_array`, open without a chunk cache: write it in whole chunks (any
    multiple of `chunk_points`, or up to the end), or each partial write costs a chunk's
    decompression and compression."""
    dt = np.dtype(dtype)
    if n == 0:
        return create_array(group, name, n, dt, codec)
    chunks = (chunk_points(dt, n),)
    return group.create_dataset(
        name, shape=(n,), dtype=dt, chunks=chunks, dapl=_NO_CHUNK_CACHE, **codec.filter_args()
    )


def _codes_dtype(samples: npt.NDArray[Any], name: str) -> np.dtype[Any]:
    kind = samples.dtype.kind
    if kind == "b":
        return np.dtype(np.uint8)
    if kind in "iuf":
        return samples.dtype
    raise MeasurementError(f"waveform {name!r}: cannot store samples of dtype {samples.dtype}")


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def _write_codes(
    group: h5py.Group, wf: Waveform, name: str, dtype: np.dtype[Any], codec: Codec
) -> h5py.Dataset:
    codes = _create_array(group, CODES, len(wf), dtype, codec)
    write_chunked(codes, np.asarray(wf.samples).astype(dtype, copy=False))
    scale, offset = np.float64(wf.scale), np.float64(wf.offset)
    set_attrs(
        codes,
        {
            "units": "counts",
            "long_name": f"{name} (counts; {wf.unit or 'value'} = counts * {scale:g} + {offset:g})",
            "scale_factor": scale,
            "add_offset": offset,
            "physical_units": wf.unit,
        },
    )
    return codes


def _write_physical(
    group: h5py.Group, wf: Waveform, name: str, dtype: np.dtype[Any], codec: Codec
) -> str:
    """The physical-value signal computed from the codes, block by block; returns its name."""
    samples = np.asarray(wf.samples)
    dataset_name = signal_name(wf.unit)
    value_dtype = np.float32 if dtype.kind != "f" else dtype
    values = _create_array(group, dataset_name, len(wf), value_dtype, codec)
    if len(wf) <= BLOCK_POINTS:  # one block: written whole
        write_chunked(values, samples.astype(np.float64) * wf.scale + wf.offset)
    else:
        for start in range(0, len(wf), BLOCK_POINTS):
            block = samples[start : start + BLOCK_POINTS].astype(np.float64)
            values[start : start + len(block)] = block * wf.scale + wf.offset
    set_attrs(values, {"derived_from": CODES, "units": wf.unit, "long_name": _label(name, wf.unit)})
    return dataset_name


def _write_time(group: h5py.Group, wf: Waveform, codec: Codec) -> None:
    n = len(wf)
    time = _create_array(group, TIME, n, np.float64, codec)
    if n <= BLOCK_POINTS:  # one block: written whole
        write_chunked(time, wf.t0 + np.arange(n, dtype=np.float64) * wf.dt)
    else:
        for start in range(0, n, BLOCK_POINTS):
            index = np.arange(start, min(n, start + BLOCK_POINTS), dtype=np.float64)
            time[start : start + len(index)] = wf.t0 + index * wf.dt
    set_attrs(
        time,
        {"units": "s", "long_name": "time (s)", "t0": np.float64(wf.t0), "dt": np.float64(wf.dt)},
    )


def _write_delivered(group: h5py.Group, wf: Waveform, name: str, codec: Codec) -> str:
    """Float samples in physical units (scale 1, offset 0): the signal as delivered."""
    dataset_name = signal_name(wf.unit)
    values = _create_array(group, dataset_name, len(wf), wf.samples.dtype, codec)
    write_chunked(values, wf.samples)
    set_attrs(values, {"units": wf.unit, "long_name": _label(name, wf.unit)})
    return dataset_name


def _write_signal(group: h5py.Group, wf: Waveform, name: str, codec: Codec) -> str:
    """The samples and the dataset viewers plot; returns the name of the `@signal`."""
    dtype = _codes_dtype(np.asarray(wf.samples), name)
    physical = dtype.kind == "f" and wf.scale == 1.0 and wf.offset == 0.0
    if physical:
        return _write_delivered(group, wf, name, codec)
    _write_codes(group, wf, name, dtype, codec)
    if len(wf) > PLOT_COPY_MAX_POINTS:
        return CODES
    return _write_physical(group, wf, name, dtype, codec)


def write_waveform(
    parent: h5py.Group, group_name: str, name: str, wf: Waveform, codec: Codec, description: str
) -> h5py.Group:
    """Write `wf` as the NXdata group `parent/group_name`; `name` is the waveform's own name."""
    _codes_dtype(np.asarray(wf.samples), name)  # refuse before creating anything
    group = parent.create_group(group_name, track_order=True)
    signal = _write_signal(group, wf, name, codec)
    with_axis = len(wf) <= PLOT_COPY_MAX_POINTS
    if with_axis:
        _write_time(group, wf, codec)
    write_text(group, "title", name)
    write_collection(group, SETTINGS, dict(wf.settings))
    set_attrs(
        group,
        {
            "NX_class": "NXdata",
            "signal": signal,
            "axes": [TIME] if with_axis else ["."],
            "channel": wf.channel,
            "description": description,
            "t0": np.float64(wf.t0),
            "dt": np.float64(wf.dt),
            **({"time_indices": np.int64(0)} if with_axis else {}),
        },
    )
    return group
