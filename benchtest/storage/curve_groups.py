"""Sweeps and families of curves as NXdata groups in a test's NXentry.

A sweep is a 1-D NXdata: the signal (named after the parameter) against a numeric axis (named
after the swept quantity), with the limits and outcome as attributes. A family is a 2-D NXdata:
float32 physical values (M curves x N samples) with `@interpretation="spectrum"`, the family
axis and the shared time axis. `@benchtest_kind` tells them apart from single waveforms.
"""

from __future__ import annotations

import math
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.codecs import Codec
from benchtest.runfile.schema import (
    FAMILY_KIND,
    KIND,
    SWEEP_KIND,
    TIME,
    sanitise,
    signal_name,
    unique_name,
)
from benchtest.storage.lowlevel import write_text
from benchtest.values.events import SweepRecorded, WaveformFamilyRecorded


def _label(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _dataset(group: h5py.Group, name: str, data: npt.NDArray[Any], codec: Codec) -> h5py.Dataset:
    """A compressed dataset (contiguous when too small to be worth chunking)."""
    if data.size < 1024:
        return group.create_dataset(name, data=data)
    return group.create_dataset(name, data=data, chunks=True, **codec.filter_args())


def _axis(group: h5py.Group, label: str, unit: str, data: npt.NDArray[Any], codec: Codec) -> str:
    name = unique_name(group, sanitise(label), frozenset({"title", TIME}))
    axis = _dataset(group, name, np.asarray(data, dtype=np.float64), codec)
    axis.attrs.update(units=unit, long_name=_label(label, unit))
    return name


def write_sweep(parent: h5py.Group, group_name: str, event: SweepRecorded, codec: Codec) -> None:
    """Write `event` as the NXdata group `parent/group_name`."""
    group = parent.create_group(group_name, track_order=True)
    signal = sanitise(event.name)
    values = _dataset(group, signal, np.asarray(event.y, dtype=np.float64), codec)
    values.attrs.update(units=event.y_unit, long_name=_label(event.name, event.y_unit))
    axis = _axis(group, event.x_name, event.x_unit, event.x, codec)
    write_text(group, "title", event.name)
    limits = event.limits
    group.attrs.update(
        NX_class="NXdata",
        signal=signal,
        axes=[axis],
        description=event.description,
        outcome=event.outcome,
        low=_nan(limits.low),
        high=_nan(limits.high),
        margin=float(limits.margin),
        units=event.y_unit,
        **{KIND: SWEEP_KIND, f"{axis}_indices": np.int64(0)},
    )


def write_family(
    parent: h5py.Group, group_name: str, event: WaveformFamilyRecorded, codec: Codec
) -> None:
    """Write `event` as the 2-D NXdata group `parent/group_name`."""
    first = event.waveforms[0]
    group = parent.create_group(group_name, track_order=True)
    signal = signal_name(first.unit)
    data = np.stack([w.values.astype(np.float32) for w in event.waveforms])
    values = _dataset(group, signal, data, codec)
    values.attrs.update(
        units=first.unit, long_name=_label(event.name, first.unit), interpretation="spectrum"
    )
    axis = _axis(group, event.axis_name, event.axis_unit, event.axis_values, codec)
    time = _dataset(group, TIME, first.time, codec)
    time.attrs.update(units="s", long_name="time (s)", t0=first.t0, dt=first.dt)
    write_text(group, "title", event.name)
    group.attrs.update(
        NX_class="NXdata",
        signal=signal,
        axes=[axis, TIME],
        description=event.description,
        channels=[w.channel for w in event.waveforms],
        **{KIND: FAMILY_KIND, f"{axis}_indices": np.int64(0), f"{TIME}_indices": np.int64(1)},
    )
