"""The characterisation as a table: CSV for spreadsheets and plain text for the terminal.

Numbers are written in SI base units with the unit in its own column (CSV keeps full
precision; the terminal shows four significant digits). Files are written to a temporary file
beside the target and renamed over it, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from benchtest.review.characterise import Characterisation, Row
from benchtest.review.characterise_read import CharacteriseError
from benchtest.values.atomic import replacing

COLUMNS = (
    "parameter", "conditions", "group", "unit", "units", "N", "min", "typ", "max", "mean",
    "sigma", "LSL", "USL", "Cp", "Cpk", "yield", "flag",
)  # fmt: skip


def _number(value: float, digits: int | None) -> str:
    if math.isnan(value):
        return ""
    return repr(float(value)) if digits is None else f"{value:.{digits}g}"


def _cells(row: Row, cpk_min: float, digits: int | None) -> list[str]:
    s = row.spread
    numbers = (s.minimum, s.typical, s.maximum, s.mean, s.sigma, s.low, s.high, s.cp, s.cpk)
    yield_text = "" if s.count == 0 else f"{100 * s.yield_fraction:.{digits or 6}g}%"
    return [
        row.parameter, row.condition_text, row.group or "all", row.unit, str(row.units),
        str(s.count), *(_number(v, digits) for v in numbers), yield_text,
        f"Cpk < {cpk_min:g}" if row.flagged else "",
    ]  # fmt: skip


def csv_text(result: Characterisation) -> str:
    """The table as CSV text: a header, then one line per row, full precision."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in result.rows:
        writer.writerow(_cells(row, result.cpk_min, None))
    return out.getvalue()


def terminal_table(result: Characterisation) -> str:
    """The table as aligned plain text, with a headline and the rows below the minimum Cpk."""
    lines = [_cells(r, result.cpk_min, 4) for r in result.rows]
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(COLUMNS)]
    text = [
        f"{result.part}: {result.unit_count} units, {len(result.units)} run files, "
        f"{len(result.rows)} rows, "
        f"Cpk flagged below {result.cpk_min:g}",
        "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip(),
    ]
    text += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    flagged = result.flagged
    if flagged:
        named = ", ".join(f"{r.parameter} [{r.condition_text}]" for r in flagged if not r.group)
        verb = "row has" if len(flagged) == 1 else "rows have"
        text.append(f"{len(flagged)} {verb} Cpk < {result.cpk_min:g}: {named or 'in groups'}")
    return "\n".join(text)


def write_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder, then rename."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CharacteriseError(f"{target}: cannot write: the folder {folder} does not exist")
    try:
        with replacing(target, make_folder=False) as temporary:
            temporary.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise CharacteriseError(f"{target}: cannot write: {exc}") from exc
    return target


def write_csv(result: Characterisation, path: str | os.PathLike[str]) -> Path:
    """Write the table as CSV to `path` (atomically); the path written."""
    return write_atomically(path, csv_text(result))


__all__ = ["COLUMNS", "csv_text", "terminal_table", "write_atomically", "write_csv"]
