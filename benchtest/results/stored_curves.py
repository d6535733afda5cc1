"""Sweeps and families of curves read back from a test's NXentry, lazily, with their units.

They are found by their `@benchtest_kind` attribute; nothing is read until an array is sliced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import h5py

from benchtest.results.records import LazyArray, attr, text
from benchtest.runfile.schema import ENTRY_FIELDS, FAMILY_KIND, KIND, SWEEP_KIND


@dataclass(frozen=True)
class Axis:
    """A numeric dataset of an NXdata group with its name and unit."""

    name: str
    unit: str
    values: LazyArray


def _axis(group: h5py.Group, name: str, where: str) -> Axis:
    dataset = group[name]
    label = str(attr(dataset, "long_name", name))
    unit = str(attr(dataset, "units"))
    if unit and label.endswith(f" ({unit})"):
        label = label[: -len(unit) - 3]
    return Axis(label, unit, LazyArray(dataset, f"{where}:{dataset.name}"))


def _limit(group: h5py.Group, name: str) -> float | None:
    value = float(attr(group, name, math.nan))
    return None if math.isnan(value) else value


class StoredSweep:
    """A sweep in a run file: `x` and `y` axes (lazy), limits and the outcome of its worst point."""

    def __init__(self, group: h5py.Group, where: str) -> None:
        axes = attr(group, "axes", [])
        self.name: str = text(group, "title", group.name.rsplit("/", 1)[-1])
        self.description: str = str(attr(group, "description"))
        self.outcome: str = str(attr(group, "outcome"))
        self.low: float | None = _limit(group, "low")
        self.high: float | None = _limit(group, "high")
        self.x: Axis = _axis(group, str(axes[0]), where)
        self.y: Axis = _axis(group, str(attr(group, "signal")), where)
        self.y = Axis(self.name, self.y.unit, self.y.values)

    def __len__(self) -> int:
        return len(self.y.values)

    def __repr__(self) -> str:
        return f"StoredSweep({self.name!r} vs {self.x.name!r}, {len(self)} points, {self.outcome})"


class StoredFamily:
    """A family of curves: `values[k, :]` (lazy, 2-D) was taken at `axis.values[k]`."""

    def __init__(self, group: h5py.Group, where: str) -> None:
        axes = attr(group, "axes", [])
        self.name: str = text(group, "title", group.name.rsplit("/", 1)[-1])
        self.description: str = str(attr(group, "description"))
        self.axis: Axis = _axis(group, str(axes[0]), where)
        self.time: Axis = _axis(group, str(axes[1]), where)
        signal = group[str(attr(group, "signal"))]
        self.unit: str = str(attr(signal, "units"))
        self.values = LazyArray(signal, f"{where}:{signal.name}")

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"StoredFamily({self.name!r}, {self.values.shape} by {self.axis.name!r})"


def curve_groups(entry: h5py.Group | None, kind: str) -> list[h5py.Group]:
    """The NXdata groups of `entry` marked `kind` (its fields, such as the measurement table,
    are not even opened: most entries have nothing else)."""
    if entry is None:
        return []
    names = [name for name in entry if name not in ENTRY_FIELDS]
    groups = [entry[n] for n in names if entry.get(n, getclass=True) is h5py.Group]
    return [g for g in groups if attr(g, KIND) == kind]


def read_sweeps(entry: h5py.Group | None, where: str) -> Mapping[str, StoredSweep]:
    return {s.name: s for s in (StoredSweep(g, where) for g in curve_groups(entry, SWEEP_KIND))}


def read_families(entry: h5py.Group | None, where: str) -> Mapping[str, StoredFamily]:
    groups = curve_groups(entry, FAMILY_KIND)
    return {f.name: f for f in (StoredFamily(g, where) for g in groups)}
