"""What a run file reads back as: tables, test records and lazily read waveforms.

`Table` is a numpy structured array with a `to_pandas()` method (pandas is optional).
`StoredWaveform` reads nothing until sliced; a dataset compressed with a plugin filter that is
not available raises a `ResultFileError` naming the plugin.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import math
from typing import Any, Self

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.runfile import schema
from benchtest.runfile.codecs import plugin_filters
from benchtest.values.errors import ResultFileError
from benchtest.values.waveform import Waveform


class Closing:
    """Something holding a file open: use it as a context manager, or call `close()`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Table(np.ndarray):
    """A structured array of table rows (text columns as `str`); `to_pandas()` if you like."""

    def to_pandas(self) -> Any:
        """The rows as a `pandas.DataFrame` (needs pandas, which benchtest does not require)."""
        try:
            pandas = importlib.import_module("pandas")
        except ImportError:
            raise ImportError("to_pandas() needs pandas, which is not installed") from None
        return pandas.DataFrame.from_records(np.asarray(self))


def as_table(rows: npt.NDArray[Any]) -> Table:
    return np.asarray(rows).view(Table)


def plain(value: Any) -> Any:
    """An attribute or scalar dataset value as a plain Python object (str, bool, int, float);
    text that is not valid UTF-8 (a damaged file) has U+FFFD where the bad bytes were."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str) and not value.isascii():
        # h5py hands invalid UTF-8 over as lone surrogates, which no UTF-8 writer accepts
        return value.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return plain(value.item())
    return value


def attr(obj: Any, name: str, default: Any = "") -> Any:
    """Attribute `name` of `obj` as a plain value; `default` when it is missing or unreadable
    (one lookup: most attributes asked for are there)."""
    try:
        return plain(obj.attrs[name])
    except (OSError, KeyError, ValueError, RuntimeError):
        return default


def text(group: h5py.Group, name: str, default: str = "") -> str:
    try:
        dataset = group[name]
    except KeyError:
        return default
    return str(plain(dataset[()]))


def read_value(dataset: h5py.Dataset) -> Any:
    value = plain(dataset[()])
    if attr(dataset, "encoding") == "json":
        return json.loads(value)
    return value


def read_collection(group: h5py.Group | None) -> dict[str, Any]:
    if group is None:
        return {}
    return {attr(ds, "original_name", name): read_value(ds) for name, ds in group.items()}


def _read_error(dataset: h5py.Dataset, where: str, exc: Exception) -> ResultFileError:
    try:
        missing = plugin_filters(dataset)
    except (OSError, ValueError, RuntimeError):
        missing = []
    if missing and importlib.util.find_spec("hdf5plugin") is None:
        return ResultFileError(
            f"{where}: compressed with {', '.join(missing)}, which needs the 'hdf5plugin' "
            "package: pip install hdf5plugin (or benchtest[fast])"
        )
    return ResultFileError(f"{where}: cannot read: {exc}")


class LazyArray:
    """A 1-D dataset in the run file, read only where it is sliced: `codes[1000:2000]`."""

    def __init__(self, dataset: h5py.Dataset, where: str) -> None:
        self._dataset = dataset
        self._where = where

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        try:
            return np.asarray(self._dataset[index])
        except (OSError, ValueError, RuntimeError) as exc:
            raise _read_error(self._dataset, self._where, exc) from exc

    def __len__(self) -> int:
        return int(self._dataset.shape[0])

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        data = self[...]
        return data if dtype is None else data.astype(dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._dataset.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self._dataset.dtype
        return dtype


class StoredWaveform:
    """A waveform in a run file. Its metadata is read when first asked for, its samples only
    where `codes`, `values` or `time` is sliced; a group that cannot be read then raises
    `ResultFileError` naming it."""

    def __init__(self, group: h5py.Group, where: str, name: str | None = None) -> None:
        self.group = group  # the NXdata group, as stored
        self._where = where
        basename = group.name.rsplit("/", 1)[-1]
        self.name: str = name if name is not None else text(group, "title", basename)

    @functools.cached_property
    def _source(self) -> h5py.Dataset:
        """The raw samples: `codes`, or the signal where the instrument gave physical values."""
        group = self.group
        try:
            return group[schema.CODES] if schema.CODES in group else group[attr(group, "signal")]
        except (KeyError, OSError, ValueError, RuntimeError) as exc:
            raise ResultFileError(
                f"{self._where}:{group.name}: cannot read waveform: {exc}"
            ) from exc

    @functools.cached_property
    def unit(self) -> str:
        return self._unit(self.group, attr(self.group, "signal"), self._source)

    @functools.cached_property
    def channel(self) -> str:
        return str(attr(self.group, "channel"))

    @functools.cached_property
    def description(self) -> str:
        return str(attr(self.group, "description"))

    @functools.cached_property
    def scale(self) -> float:
        return float(attr(self._source, "scale_factor", 1.0))

    @functools.cached_property
    def offset(self) -> float:
        return float(attr(self._source, "add_offset", 0.0))

    @functools.cached_property
    def _timing(self) -> tuple[float, float]:
        group = self.group
        axis = group.get(schema.TIME)
        timing = axis if axis is not None else group  # schema 1 keeps t0/dt on the axis
        t0 = float(attr(timing, "t0", attr(group, "t0", math.nan)))
        return t0, float(attr(timing, "dt", attr(group, "dt", math.nan)))

    @property
    def t0(self) -> float:
        return self._timing[0]

    @property
    def dt(self) -> float:
        return self._timing[1]

    @functools.cached_property
    def codes(self) -> LazyArray:
        return LazyArray(self._source, f"{self._where}:{self._source.name}")

    @staticmethod
    def _unit(group: h5py.Group, signal: str, source: h5py.Dataset) -> str:
        if "physical_units" in source.attrs:  # schema 2: on the codes
            return str(attr(source, "physical_units"))
        return str(attr(group[signal], "units"))

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"StoredWaveform({self.name!r}, {len(self)} points, unit={self.unit!r})"

    @property
    def settings(self) -> dict[str, Any]:
        """The instrument settings that produced the record."""
        return read_collection(self.group.get(schema.SETTINGS))

    def values(self, index: slice = slice(None)) -> npt.NDArray[np.float64]:
        """Samples `index` in physical units (float64, computed from the raw codes)."""
        return self.codes[index].astype(np.float64) * self.scale + self.offset

    def time(self, index: slice = slice(None)) -> npt.NDArray[np.float64]:
        """Time in seconds of samples `index`, relative to the trigger: t0 + i * dt."""
        positions = np.arange(len(self), dtype=np.int64)[index]
        return self.t0 + positions.astype(np.float64) * self.dt

    def to_waveform(self) -> Waveform:
        """The whole record as a `benchtest.values.waveform.Waveform` (reads all samples)."""
        return Waveform(
            samples=self.codes[...],
            dt=self.dt,
            t0=self.t0,
            scale=self.scale,
            offset=self.offset,
            unit=self.unit,
            channel=self.channel,
            settings=self.settings,
        )


def read_waveforms(
    groups: list[h5py.Group], where: str, names: list[str] | None = None
) -> dict[str, StoredWaveform]:
    """The NXdata `groups` as waveforms by name (`names`, else each group's `title`; the group
    name where two share a name)."""
    waveforms: dict[str, StoredWaveform] = {}
    for n, group in enumerate(groups):
        wf = StoredWaveform(group, where, names[n] if names is not None else None)
        waveforms[group.name.rsplit("/", 1)[-1] if wf.name in waveforms else wf.name] = wf
    return waveforms
