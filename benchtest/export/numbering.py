"""Parametric tests across run files: each (test, measurement, own conditions) is one test,
with a number that is the same in every export, a name, and a display scale for its unit.

A test number is taken from a SHA-256 hash of the test's key, so the same test has the same
number in the export of any run, on any bench, without a table to keep. Two keys whose hashes
meet (about one chance in 50 000 for 300 tests) are told apart in the order of their keys:
the later one takes the next free number.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from benchtest.export.parts import Row

#: Test numbers are 1 .. 2**31 - 1: STDF's U*4, and positive where a tool reads them signed.
_NUMBERS = 2**31 - 1
#: SI units whose values read better with an engineering prefix (milli, micro, kilo ...).
SCALABLE_UNITS = frozenset(
    {"V", "A", "W", "s", "Hz", "Ohm", "ohm", "F", "H", "C", "J", "S", "T", "Wb", "m", "N", "Pa"}
)
#: STDF's scaling exponents: the display value is the stored value times 10**scale.
_SCALES = (15, 12, 9, 6, 3, 0, -3, -6, -9, -12)


def parametric_key(row: Row) -> str:
    """What makes a parametric test: the test id, the measurement's name, and the conditions
    the measurement set beyond its test's (as canonical JSON)."""
    conditions = sorted((str(k), _plain(v)) for k, v in row.own_conditions.items())
    return json.dumps([row.test_id, row.name, conditions], separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    """A condition value as JSON would carry it (numpy scalars included)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def hashed_number(key: str) -> int:
    """The test number of `key` before any collision is resolved: 1 .. 2**31 - 1."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % _NUMBERS


def number_tests(keys: Iterable[str]) -> dict[str, int]:
    """A distinct test number for each key: its hashed number, or on a collision the next
    free one (keys taken in sorted order, so the same set of keys always numbers the same)."""
    numbers: dict[str, int] = {}
    taken: set[int] = set()
    for key in sorted(set(keys)):
        number = hashed_number(key)
        while number in taken:
            number = number % _NUMBERS + 1
        taken.add(number)
        numbers[key] = number
    return numbers


def parametric_name(row: Row) -> str:
    """A readable name of the test: "<test id> <measurement>", and " @ k=v, ..." for the
    conditions the measurement set beyond its test's."""
    text = f"{row.test_id} {row.name}"
    if row.own_conditions:
        text += " @ " + ", ".join(f"{k}={_plain(v)}" for k, v in sorted(row.own_conditions.items()))
    return text


def display_scale(unit: str, rows: Iterable[Row]) -> int:
    """STDF's RES_SCAL for a test in `unit`: the engineering prefix of its largest limit (of
    its first finite value when it has none): 6 shows 4.5e-05 A as 45 uA. 0 for units that
    take no prefix (degC, %, dB, no unit)."""
    if unit not in SCALABLE_UNITS:
        return 0
    rows = list(rows)
    limits = [abs(x) for r in rows for x in (r.low, r.high) if x is not None and math.isfinite(x)]
    values = [abs(r.value) for r in rows if math.isfinite(r.value) and r.value != 0]
    magnitude = max(limits) if limits and max(limits) > 0 else (values[0] if values else 0.0)
    if magnitude == 0:
        return 0
    scale = -3 * math.floor(math.log10(magnitude) / 3)
    return max(min(scale, _SCALES[0]), _SCALES[-1])


def catalog(rows: Sequence[Row]) -> list[int]:
    """The test number of each of `rows`, in their order."""
    keys = [parametric_key(r) for r in rows]
    numbers = number_tests(keys)
    return [numbers[key] for key in keys]


__all__ = [
    "SCALABLE_UNITS",
    "catalog",
    "display_scale",
    "hashed_number",
    "number_tests",
    "parametric_key",
    "parametric_name",
]
