"""Writing the data a plot shows as CSV, whole or not at all (a temporary file, then renamed)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchtest.values.atomic import replacing
from benchtest.values.errors import BenchtestError


class ExportError(BenchtestError):
    """An export that could not be written: names the file and why."""


@dataclass(frozen=True)
class Series:
    """One plotted curve: its name, x and y arrays and their units."""

    name: str
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    x_unit: str
    y_unit: str


def write_csv(path: str | os.PathLike[str], series: Sequence[Series]) -> Path:
    """Write `series` to `path` in long form: one row per point (series, x, y), units in the
    header. Nothing is left at `path` when writing fails."""
    target = Path(path)
    if not series:
        raise ExportError(f"{target}: nothing is shown, nothing to export")
    x_unit = series[0].x_unit
    y_units = {s.y_unit for s in series}
    y_unit = y_units.pop() if len(y_units) == 1 else "mixed"
    try:
        with (
            replacing(target, make_folder=False) as temporary,
            temporary.open("w", newline="", encoding="utf-8") as stream,
        ):
            writer = csv.writer(stream)
            writer.writerow(["series", f"x ({x_unit})", f"y ({y_unit})", "y unit"])
            for s in series:
                for x, y in zip(s.x.tolist(), s.y.tolist(), strict=True):
                    writer.writerow([s.name, repr(x), repr(y), s.y_unit])
    except OSError as exc:
        raise ExportError(f"{target}: cannot write: {exc}") from exc
    return target
