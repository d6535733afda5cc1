"""SCPI numbers: which values count as a number, and the one text each number is sent as.

Every numeric argument of every driver goes through `as_number` and `format_value`, so a plain
Python number, a numpy scalar (`np.float64`, `np.float32`, `np.int64`) and a 0-d array give the
same bytes and are checked by the guard as the same value. NaN and infinities have no SCPI form
and are refused; a bool is never a level.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, cast

import numpy as np


def as_number(value: object) -> int | float:
    """`value` as a plain `int` or `float`; TypeError when it is not one number.

    Integers (Python or numpy) stay integers. A numpy float becomes the float its own shortest
    text spells, so `np.float32(3.3)` is 3.3, not 3.299999952316284: the number the caller
    wrote is the number sent and the number checked. Bools, strings, arrays with elements and
    anything else are refused.
    """
    kind = type(value)
    if kind is float or kind is int:  # the usual argument, as it is (a bool's type is bool)
        return cast("int | float", value)
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise TypeError(f"expected one number, got an array of shape {value.shape}")
        value = value[()]
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"expected a number, got the bool {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, np.floating):
        return float(str(value))
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")


def finite_number(value: object) -> int | float:
    """`as_number(value)`, and a ValueError for NaN and infinities."""
    number = as_number(value)
    if not math.isfinite(number):
        raise ValueError(f"{number!r} is not a finite number")
    return number


def seconds(value: object) -> float:
    """A duration or timeout in s: a finite number >= 0 of any kind; ValueError otherwise (an
    infinite or NaN timeout would wait forever)."""
    try:
        number = finite_number(value)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if number < 0:
        raise ValueError(f"{number!r} s is negative")
    return float(number)


def plain(value: object) -> object:
    """A number of any kind as a plain `int`/`float` (see `as_number`); anything else as is."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    try:
        return as_number(value)
    except TypeError:
        return value


def format_value(value: Any) -> str:
    """The SCPI text of `value`: a number of any kind as an exact SCPI number (`0.5`, `1e-06`,
    `1200`), a bool as `1`/`0`, text as it is. NaN and infinities raise ValueError; a list or an
    array with elements raises TypeError (one value, one token)."""
    kind = type(value)
    if kind is str or kind is int:  # the usual arguments, without the checks below
        return str(value)
    if kind is float:
        return repr(finite_number(value))
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim != 0):
        raise TypeError(f"expected one value, got {type(value).__name__} {value!r}")
    number = plain(value)
    if isinstance(number, float):
        return repr(finite_number(number))
    return str(number)
