"""Argument types the sub-commands share: argparse calls them on the text given."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive_number(expected: str) -> Callable[[str], float]:
    """An argparse type: a finite number > 0, else an error saying `expected` and the text."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse
