"""Datasheet-style characterisation across units: one row per parameter and condition with N,
min, typ, max, mean, sigma, Cp, Cpk and yield, from the run files of many units of one part.

Each value counts with the limits recorded beside it in its run file. A row is one parameter
(and unit of measure) under one set of numeric conditions (temperature, VDD, ...: text-valued
conditions are labels and do not split rows) against one pair of limits. When the units come
from more than one lot (or wafer, where runs record it), each row is followed by one row per
lot. Sweeps, when asked for, are overlaid across units with their min/max band.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.review.characterise_read import CharacteriseError, Curve, UnitRun, read_unit
from benchtest.review.stats import DEFAULT_CPK_MIN, Spread, spread

#: Run-file attributes units are grouped by, when the runs record more than one value.
GROUP_FIELDS = ("lot", "wafer")
RUN_FILE_SUFFIXES = (".h5", ".hdf5")

Condition = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Unit:
    """One unit (one run file) as the characterisation lists it."""

    serial: str
    lot: str
    wafer: str
    outcome: str
    start_time: str
    path: Path


@dataclass(frozen=True)
class Row:
    """The statistics of one parameter under one condition, for all units or for one group."""

    parameter: str
    unit: str
    conditions: Condition
    group: str  # "" for all units, else "lot=L7" or "wafer=3"
    spread: Spread
    values: npt.NDArray[np.float64]
    units: int  # distinct units (serial numbers) with a value here
    flagged: bool  # Cpk below the required minimum

    @property
    def condition_text(self) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in self.conditions) or "—"


@dataclass(frozen=True)
class SweepBand:
    """One sweep of every unit, overlaid: the curves and the min/max band over a common x."""

    test_id: str
    name: str
    x_name: str
    x_unit: str
    y_unit: str
    low: float
    high: float
    curves: tuple[tuple[str, Curve], ...]  # (serial, curve)
    x: npt.NDArray[np.float64]  # the common x of the band
    band_low: npt.NDArray[np.float64]
    band_high: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Characterisation:
    """The table across units, the units themselves, and the sweeps overlaid."""

    part: str
    units: list[Unit]
    rows: list[Row]
    cpk_min: float
    sweeps: list[SweepBand] = field(default_factory=list)

    @property
    def unit_count(self) -> int:
        """Distinct units (serial numbers); a unit may have several run files."""
        return len({u.serial for u in self.units})

    @property
    def flagged(self) -> list[Row]:
        return [r for r in self.rows if r.flagged]


def run_files(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The run files named: files as given, folders searched for *.h5 / *.hdf5 (recursively).

    Raises CharacteriseError when nothing is named, a folder holds no run file, or a path
    does not exist."""
    if not inputs:
        raise CharacteriseError("no run files given: name run files, folders, or --catalog")
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.suffix in RUN_FILE_SUFFIXES and p.is_file()
            )
            if not inside:
                raise CharacteriseError(f"{path}: no run files (*.h5, *.hdf5) in this folder")
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise CharacteriseError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def _numeric(conditions: Mapping[str, Any]) -> Condition:
    """The numeric conditions (a physical condition in SI units), sorted by name."""
    return tuple(
        sorted(
            (str(k), float(v))
            for k, v in conditions.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        )
    )


def _one_part(runs: list[UnitRun]) -> str:
    parts: dict[str, list[Path]] = defaultdict(list)
    for run in runs:
        parts[run.part].append(run.path)
    if len(parts) > 1:
        named = "; ".join(
            f"{p or '(no part)'}: {len(f)} files, e.g. {f[0]}" for p, f in parts.items()
        )
        raise CharacteriseError(
            f"the run files are of {len(parts)} different parts ({named}); characterise one "
            "part at a time"
        )
    return next(iter(parts))


_Key = tuple[str, str, Condition, float, float]  # parameter, unit, conditions, low, high


def _limit_key(value: float) -> float:
    return math.inf if math.isnan(value) else float(value)  # NaN never equals itself


def _collect(runs: list[UnitRun]) -> dict[_Key, list[tuple[int, float]]]:
    """Values by (parameter, unit, conditions, limits), each with the index of its run."""
    table: dict[_Key, list[tuple[int, float]]] = defaultdict(list)
    for k, run in enumerate(runs):
        for i, name in enumerate(run.names):
            key = (
                name,
                run.units[i],
                _numeric(run.conditions[i]),
                _limit_key(run.lows[i]),
                _limit_key(run.highs[i]),
            )
            table[key].append((k, float(run.values[i])))
    return table


def _groups(units: list[Unit]) -> list[tuple[str, list[int]]]:
    """("lot=L7", unit indices) per value of every group field that takes several values."""
    groups: list[tuple[str, list[int]]] = []
    for name in GROUP_FIELDS:
        by_value: dict[str, list[int]] = defaultdict(list)
        for k, unit in enumerate(units):
            by_value[getattr(unit, name)].append(k)
        if len(by_value) > 1:
            groups += [(f"{name}={v or '?'}", ks) for v, ks in sorted(by_value.items())]
    return groups


def _row(
    key: _Key, entries: list[tuple[int, float]], group: str, cpk_min: float, serials: list[str]
) -> Row:
    """The row of `key` from `entries` (run index, value); `serials` by run index."""
    name, unit, conditions, low, high = key
    values = np.array([v for _, v in entries], dtype=np.float64)
    lsl = math.nan if low == math.inf else low
    usl = math.nan if high == math.inf else high
    stats = spread(values, lsl, usl)
    return Row(
        name, unit, conditions, group, stats, values, len({serials[k] for k, _ in entries}),
        stats.below(cpk_min),
    )  # fmt: skip


def _sweep_bands(runs: list[UnitRun], units: list[Unit]) -> list[SweepBand]:
    by_sweep: dict[tuple[str, str], list[tuple[str, Curve]]] = defaultdict(list)
    for run, unit in zip(runs, units, strict=True):
        for curve in run.curves:
            if len(curve.x):
                by_sweep[(curve.test_id, curve.name)].append((unit.serial, curve))
    bands = []
    for (test_id, name), curves in by_sweep.items():
        first = curves[0][1]
        order = np.argsort(first.x)
        x = first.x[order]
        stacked = np.vstack([np.interp(x, *_sorted(c.x, c.y)) for _, c in curves])
        bands.append(
            SweepBand(
                test_id, name, first.x_name, first.x_unit, first.y_unit, first.low, first.high,
                tuple(curves), x, np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0),
            )
        )  # fmt: skip
    return bands


def _sorted(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    order = np.argsort(x)
    return x[order], y[order]


def characterise_runs(runs: list[UnitRun], *, cpk_min: float = DEFAULT_CPK_MIN) -> Characterisation:
    """The characterisation of the units read as `runs` (one part; see `characterise`)."""
    if not runs:
        raise CharacteriseError("no run files to characterise")
    part = _one_part(runs)
    units = [
        Unit(
            r.serial, r.identity.get("lot", ""), r.identity.get("wafer", ""),
            r.identity.get("outcome", ""), r.identity.get("start_time", ""), r.path,
        )
        for r in runs
    ]  # fmt: skip
    table = _collect(runs)
    if not table:
        raise CharacteriseError(
            f"the {len(runs)} run files of {part} hold no measurements (first: {runs[0].path})"
        )
    groups = _groups(units)
    serials = [u.serial for u in units]
    rows: list[Row] = []
    for key in sorted(table, key=lambda k: (k[0], k[2], k[1], k[3], k[4])):
        entries = table[key]
        rows.append(_row(key, entries, "", cpk_min, serials))
        for label, members in groups:
            inside = set(members)
            mine = [e for e in entries if e[0] in inside]
            if mine:
                rows.append(_row(key, mine, label, cpk_min, serials))
    return Characterisation(part, units, rows, cpk_min, _sweep_bands(runs, units))


def characterise(
    paths: Iterable[str | os.PathLike[str]],
    *,
    cpk_min: float = DEFAULT_CPK_MIN,
    sweeps: bool = False,
) -> Characterisation:
    """Characterise the run files `paths` (files, or folders searched for run files) of one
    part: a row per parameter and condition, flagged where Cpk < `cpk_min`; with `sweeps`,
    the sweeps of every unit overlaid.

    Raises CharacteriseError (or ResultFileError) naming the file for a damaged file or one
    that is not a run file, for files of different parts, and when there is nothing to read.
    """
    if not (cpk_min > 0 and math.isfinite(cpk_min)):
        raise CharacteriseError(f"the minimum Cpk must be a number > 0, got {cpk_min!r}")
    files = run_files(list(paths))
    return characterise_runs([read_unit(p, sweeps=sweeps) for p in files], cpk_min=cpk_min)


__all__ = [
    "Characterisation",
    "CharacteriseError",
    "Row",
    "SweepBand",
    "Unit",
    "characterise",
    "characterise_runs",
    "run_files",
]
