"""Reading run files: `open_run(path)` gives a `Run` with its tests, measurements and waveforms.

It needs only h5py and numpy (never the pytest plugin, the simulator or drivers), so a run can
be analysed in a plain Python session. Tables come back as numpy structured arrays with `str`
text columns; waveforms are read lazily, slice by slice. A damaged test entry is listed in
`Run.problems` and the other tests still load.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import h5py
import numpy as np
import numpy.typing as npt

from benchtest.errors import ResultFileError
from benchtest.recorder import ConfigSnapshot
from benchtest.storage import schema
from benchtest.storage.tables import decode_table, read_table
from benchtest.waveform import Waveform

__all__ = ["LazyArray", "Run", "StoredWaveform", "TestRecord", "open_run"]

_T = TypeVar("_T")


def _plain(value: Any) -> Any:
    """An attribute or scalar dataset value as a plain Python object (str, bool, int, float)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attr(obj: Any, name: str, default: Any = "") -> Any:
    return _plain(obj.attrs[name]) if name in obj.attrs else default


def _text(group: h5py.Group, name: str, default: str = "") -> str:
    return str(_plain(group[name][()])) if name in group else default


def _read_value(dataset: h5py.Dataset) -> Any:
    value = _plain(dataset[()])
    if _attr(dataset, "encoding") == "json":
        return json.loads(value)
    return value


def _read_collection(group: h5py.Group | None) -> dict[str, Any]:
    if group is None:
        return {}
    return {_attr(ds, "original_name", name): _read_value(ds) for name, ds in group.items()}


def _empty_table(dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    return decode_table(np.empty(0, dtype=dtype))


class LazyArray:
    """A 1-D dataset in the run file, read only where it is sliced: `codes[1000:2000]`."""

    def __init__(self, dataset: h5py.Dataset, where: str) -> None:
        self._dataset = dataset
        self._where = where

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        try:
            return np.asarray(self._dataset[index])
        except (OSError, ValueError, RuntimeError) as exc:
            raise ResultFileError(f"{self._where}: cannot read: {exc}") from exc

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
    """A waveform in a run file. Nothing is read until `codes`, `values` or `time` is sliced."""

    def __init__(self, group: h5py.Group, where: str) -> None:
        signal = _attr(group, "signal")
        source = group[schema.CODES] if schema.CODES in group else group[signal]
        self.name: str = _text(group, "title", group.name.rsplit("/", 1)[-1])
        self.unit: str = _attr(group[signal], "units")
        self.channel: str = _attr(group, "channel")
        self.description: str = _attr(group, "description")
        self.scale: float = float(_attr(source, "scale_factor", 1.0))
        self.offset: float = float(_attr(source, "add_offset", 0.0))
        time = group[schema.TIME]
        self.t0: float = float(_attr(time, "t0", math.nan))
        self.dt: float = float(_attr(time, "dt", math.nan))
        self.codes = LazyArray(source, f"{where}/{source.name}")
        self._time = LazyArray(time, f"{where}/{time.name}")
        self._settings = group.get(schema.SETTINGS)

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"StoredWaveform({self.name!r}, {len(self)} points, unit={self.unit!r})"

    @property
    def settings(self) -> dict[str, Any]:
        """The instrument settings that produced the record."""
        return _read_collection(self._settings)

    def values(self, index: slice = slice(None)) -> npt.NDArray[np.float64]:
        """Samples `index` in physical units (float64, computed from the raw codes)."""
        return self.codes[index].astype(np.float64) * self.scale + self.offset

    def time(self, index: slice = slice(None)) -> npt.NDArray[np.float64]:
        """Time in seconds of samples `index`, relative to the trigger (the stored axis)."""
        return self._time[index].astype(np.float64, copy=False)

    def to_waveform(self) -> Waveform:
        """The whole record as a `benchtest.waveform.Waveform` (reads all samples)."""
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


@dataclass(frozen=True)
class TestRecord:
    """One test of the run as stored: outcome, times, conditions, measurements, waveforms."""

    __test__ = False  # not a pytest test class

    id: str
    entry: str
    outcome: str
    message: str
    start: str
    end: str
    duration: float
    conditions: dict[str, Any]
    measurements: npt.NDArray[Any]
    waveforms: Mapping[str, StoredWaveform] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def _read_waveforms(entry: h5py.Group, where: str) -> dict[str, StoredWaveform]:
    waveforms: dict[str, StoredWaveform] = {}
    for group_name, child in entry.items():
        if isinstance(child, h5py.Group) and _attr(child, "NX_class") == "NXdata":
            wf = StoredWaveform(child, where)
            waveforms[group_name if wf.name in waveforms else wf.name] = wf
    return waveforms


def _read_entry(entry: h5py.Group, where: str) -> TestRecord:
    if schema.MEASUREMENTS in entry:
        measurements = read_table(entry[schema.MEASUREMENTS])
    else:  # killed before the test finished: its rows were never written
        measurements = _empty_table(schema.MEASUREMENT_DTYPE)
    duration = entry["duration"][()] if "duration" in entry else math.nan
    return TestRecord(
        id=_attr(entry, "test_id", _text(entry, "title")),
        entry=entry.name.lstrip("/"),
        outcome=_text(entry, "outcome", schema.INCOMPLETE),
        message=_text(entry, "message"),
        start=_text(entry, "start_time"),
        end=_text(entry, "end_time"),
        duration=float(duration),
        conditions=_read_collection(entry.get(schema.CONDITIONS)),
        measurements=measurements,
        waveforms=_read_waveforms(entry, where),
    )


_ENTRY_INDEX = re.compile(r"^t(\d+)_")


def _entry_order(name: str) -> tuple[int, str]:
    match = _ENTRY_INDEX.match(name)
    return (int(match.group(1)) if match else 0, name)


class Run:
    """An open run file. Use as a context manager, or call `close()` when done."""

    def __init__(self, path: Path, file: h5py.File) -> None:
        self.path = path
        self._file = file
        self.problems: list[str] = []
        self.schema_version = self._check_version()
        self.metadata: dict[str, Any] = {k: _plain(v) for k, v in file.attrs.items()}
        self.bench_file = self._config(schema.BENCH_FILE)
        self.dut_profile = self._config(schema.DUT_PROFILE)
        self.instruments = self._table(schema.RUN_INFO, schema.INSTRUMENTS, schema.INSTRUMENT_DTYPE)
        self.safe_state_log = self._table(
            schema.RUN_INFO, schema.SAFE_STATE_LOG, schema.SAFE_STATE_DTYPE
        )
        self.measurements = self._table(schema.SUMMARY, schema.MEASUREMENTS, schema.SUMMARY_DTYPE)
        self.tests = self._read_tests()

    def _check_version(self) -> int:
        version = _attr(self._file, "benchtest_schema_version", None)
        if version is None:
            raise ResultFileError(
                f"{self.path}: not a benchtest run file (no @benchtest_schema_version attribute)"
            )
        if not isinstance(version, int) or version > schema.SCHEMA_VERSION:
            raise ResultFileError(
                f"{self.path}: schema version {version!r} is newer than this benchtest reads "
                f"(up to {schema.SCHEMA_VERSION}); upgrade benchtest"
            )
        return version

    def _guarded(self, where: str, read: Callable[[], _T]) -> _T | None:
        """`read()`, or None with a note in `problems` when that part of the file is damaged."""
        try:
            return read()
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            self.problems.append(f"{self.path}: /{where}: unreadable: {exc}")
            return None

    def _config(self, name: str) -> ConfigSnapshot | None:
        where = f"{schema.RUN_INFO}/{name}"
        return self._guarded(where, lambda: _config(self._file[where]))

    def _table(self, group: str, name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        where = f"{group}/{name}"
        table = self._guarded(where, lambda: read_table(self._file[where]))
        return _empty_table(dtype) if table is None else table

    def _read_tests(self) -> list[TestRecord]:
        names = [
            name
            for name, obj in self._file.items()
            if isinstance(obj, h5py.Group) and _attr(obj, "NX_class") == "NXentry"
        ]
        records = [
            self._guarded(name, partial(_read_entry, self._file[name], str(self.path)))
            for name in sorted(names, key=_entry_order)
        ]
        return [r for r in records if r is not None]

    @property
    def outcome(self) -> str:
        """The run's outcome ("passed", "failed", ...), "incomplete" if it never finished."""
        return str(self.metadata.get("outcome", schema.INCOMPLETE))

    def test(self, test_id: str) -> TestRecord:
        """The (last) record of the test with pytest node id `test_id`."""
        for record in reversed(self.tests):
            if record.id == test_id:
                return record
        raise KeyError(test_id)

    def __iter__(self) -> Iterator[TestRecord]:
        return iter(self.tests)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _config(dataset: h5py.Dataset) -> ConfigSnapshot:
    text = str(_plain(dataset[()]))
    return ConfigSnapshot(_attr(dataset, "path"), text, _attr(dataset, "sha256"))


def open_run(path: str | Path) -> Run:
    """Open the run file `path` for reading.

    Raises ResultFileError naming the path when the file is missing, not HDF5, truncated or
    corrupt, not a benchtest run, or written with a newer schema than this version reads.
    """
    path = Path(path)
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise ResultFileError(f"{path}: {problem}")
    if not h5py.is_hdf5(path):
        raise ResultFileError(f"{path}: not an HDF5 file")
    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot open, truncated or corrupt: {exc}") from exc
    try:
        return Run(path, file)
    except BaseException:
        file.close()
        raise
