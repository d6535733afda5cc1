"""CSV from run files: one row per measurement (every attempt of every test), every condition
a column of its own, UTF-8, quoted by the csv module wherever a cell needs it.

Numbers are written as Python writes them (shortest text that reads back to the same float);
a missing limit is an empty cell, a value that is not a number reads NaN, inf or -inf.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchtest.export.numbering import catalog
from benchtest.export.output import replacing
from benchtest.export.parts import Part, Row

#: The columns every export has, in order; the conditions follow, sorted by name.
COLUMNS = (
    "run_file",
    "run_id",
    "serial",
    "site",
    "test",
    "attempt",
    "test_outcome",
    "test_number",
    "parameter",
    "value",
    "unit",
    "low",
    "high",
    "outcome",
    "time",
)
#: Prefix of a condition column whose name is one of `COLUMNS`.
CONDITION_PREFIX = "condition:"


def write_csv(parts: Sequence[Part], target: Path) -> Path:
    """Write the CSV file of `parts` to `target` (whole or not at all)."""
    with replacing(target) as temporary, temporary.open("x", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for line in csv_rows(parts):
            writer.writerow(line)
    return target


def csv_rows(parts: Sequence[Part]) -> Iterator[list[str]]:
    """The header, then one line per measurement."""
    rows = [row for part in parts for row in part.rows]
    numbers = iter(catalog(rows))  # in the order of `rows`, as the loop below goes
    names = sorted({str(k) for row in rows for k in row.conditions})
    yield [*COLUMNS, *(CONDITION_PREFIX + n if n in COLUMNS else n for n in names)]
    for part in parts:
        for row in part.rows:
            fixed = _fixed(part, row, next(numbers))
            conditions = {str(k): v for k, v in row.conditions.items()}
            yield fixed + [_cell(conditions[n]) if n in conditions else "" for n in names]


def _fixed(part: Part, row: Row, number: int) -> list[str]:
    return [
        part.path.name,
        part.run_id,
        part.serial,
        part.site,
        row.test_id,
        str(row.attempt),
        row.test_outcome,
        str(number),
        row.name,
        _number(row.value),
        row.unit,
        "" if row.low is None else _number(row.low),
        "" if row.high is None else _number(row.high),
        row.outcome,
        _time(row.timestamp),
    ]


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _time(seconds: float) -> str:
    """Unix seconds as UTC ISO 8601 with microseconds; "" when not recorded."""
    if not math.isfinite(seconds):
        return ""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")


def _cell(value: Any) -> str:
    """A condition value: text as it is, numbers as Python writes them, true/false, anything
    else (lists, objects) as JSON."""
    item = getattr(value, "item", None)
    value = item() if callable(item) and not isinstance(value, str) else value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


__all__ = ["COLUMNS", "CONDITION_PREFIX", "csv_rows", "write_csv"]
