"""A current profile as a plottable NXdata group that grows chunk by chunk while it streams.

The group holds `current` (A, the NXdata `@signal`), `voltage` (V, an auxiliary signal, when
measured) and `ranges` (sample index, range full scale in A, one row per range change), all
resizable and written as each chunk arrives, so only one chunk is ever in memory. Time is
`@t0 + i * @dt` (no time axis: a capture has tens of millions of points). `@complete` is 0
until the stream finishes whole; a stream that broke off keeps every chunk written before, with
`@stopped` saying why. Tables measured on the capture (`segments`, `events`) are stored beside
the samples when it finishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile.codecs import Codec
from benchtest.runfile.schema import SETTINGS
from benchtest.storage.lowlevel import rewrite_attrs, set_attrs, write_text
from benchtest.storage.nexus import CHUNK_POINTS, write_collection
from benchtest.values.errors import ResultFileError
from benchtest.values.profile import RANGE_DTYPE, ProfileChunk
from benchtest.values.streams import ProfileStreamStarted

CURRENT, VOLTAGE, RANGES = "current", "voltage", "ranges"
#: Column units of the tables stored with a capture, by column name.
TABLE_UNITS = {
    "time": "s",
    "duration": "s",
    "mean_current": "A",
    "charge": "C",
    "energy": "J",
    "peak_current": "A",
}


class ProfileStream:
    """One capture being stored: `append` each chunk in order, then `finish`."""

    def __init__(self, group: h5py.Group, event: ProfileStreamStarted, codec: Codec) -> None:
        self.group = group
        self.name = event.name
        self.codec = codec
        self.with_voltage = event.voltage
        self.points = 0
        self._datasets: dict[str, h5py.Dataset] = {}
        self._ranges = group.create_dataset(
            RANGES, shape=(0,), maxshape=(None,), dtype=RANGE_DTYPE, chunks=(1024,)
        )
        set_attrs(self._ranges, {"long_name": "current range (full scale, A) from sample index"})

    def append(self, chunk: ProfileChunk) -> None:
        """Write `chunk` after the samples before it (it must start where they ended)."""
        if chunk.start != self.points:
            raise ResultFileError(
                f"profile {self.name!r}: chunk starts at sample {chunk.start}, "
                f"the stored samples end at {self.points}"
            )
        if (chunk.voltage is None) == self.with_voltage:
            raise ResultFileError(
                f"profile {self.name!r}: the stream was started "
                f"{'with' if self.with_voltage else 'without'} voltage; this chunk differs"
            )
        end = self.points + len(chunk)
        self._grow(CURRENT, chunk.current, end)
        if chunk.voltage is not None:
            self._grow(VOLTAGE, chunk.voltage, end)
        if len(chunk.ranges):
            stored = self._ranges.shape[0]
            self._ranges.resize((stored + len(chunk.ranges),))
            self._ranges[stored:] = chunk.ranges.astype(RANGE_DTYPE, copy=False)
        self.points = end
        rewrite_attrs(self.group, {"points": np.int64(end)})

    def finish(
        self, complete: bool, message: str, tables: Mapping[str, npt.NDArray[np.void]]
    ) -> None:
        """Mark the capture complete or stopped (with why), and store its tables."""
        if CURRENT not in self._datasets:  # no chunk came: empty signals, still plottable
            self._grow(CURRENT, np.empty(0), 0)
            if self.with_voltage:
                self._grow(VOLTAGE, np.empty(0), 0)
        for name, table in tables.items():
            dataset = self.group.create_dataset(name, data=np.asarray(table))
            units = {c: TABLE_UNITS[c] for c in table.dtype.names or () if c in TABLE_UNITS}
            set_attrs(dataset, {f"{column}_units": unit for column, unit in units.items()})
        rewrite_attrs(self.group, {"complete": np.int8(complete), "stopped": message})

    def _grow(self, name: str, samples: npt.NDArray[Any], end: int) -> None:
        dataset = self._datasets.get(name)
        if dataset is None:
            dtype = samples.dtype if samples.dtype.kind == "f" else np.dtype(np.float64)
            dataset = self.group.create_dataset(
                name,
                shape=(0,),
                maxshape=(None,),
                dtype=dtype,
                chunks=(CHUNK_POINTS,),
                **self.codec.filter_args(),
            )
            unit = "A" if name == CURRENT else "V"
            set_attrs(dataset, {"units": unit, "long_name": f"{self.name} {name} ({unit})"})
            self._datasets[name] = dataset
        dataset.resize((end,))
        if len(samples):
            dataset[end - len(samples) : end] = samples


def start_profile_stream(
    parent: h5py.Group, group_name: str, event: ProfileStreamStarted, codec: Codec
) -> ProfileStream:
    """Create the NXdata group `parent/group_name` of a capture about to stream."""
    group = parent.create_group(group_name, track_order=True)
    write_text(group, "title", event.name)
    write_collection(group, SETTINGS, {"sample_rate": event.sample_rate, **event.settings})
    set_attrs(
        group,
        {
            "NX_class": "NXdata",
            "signal": CURRENT,
            "axes": ["."],
            **({"auxiliary_signals": [VOLTAGE]} if event.voltage else {}),
            "channel": event.channel,
            "description": event.description,
            "t0": np.float64(0.0),
            "dt": np.float64(1.0 / float(event.sample_rate)),
            "points": np.int64(0),
            "complete": np.int8(0),
            "stopped": "",
        },
    )
    return ProfileStream(group, event, codec)


def chunk_bytes(chunk: ProfileChunk) -> int:
    """Bytes a chunk adds to the file at most (uncompressed)."""
    voltage = 0 if chunk.voltage is None else chunk.voltage.nbytes
    return chunk.current.nbytes + voltage + chunk.ranges.nbytes
