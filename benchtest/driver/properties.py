"""Shorthands for the most common declared SCPI properties: a bounded number, a switch, a choice.

`number(":SOURce:VOLTage", ...)` declares the setting `:SOURce:VOLTage <value>` read back with
`:SOURce:VOLTage?`; `switch(":OUTPut:STATe", ...)` declares an ON/OFF control read back as
`1`/`0` or `ON`/`OFF`; `choice` maps values to keywords. All return `Control` descriptors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from benchtest.driver.scpi import Control, parse_bool, parse_number, strict_range

T = TypeVar("T")

ON_OFF = {True: "ON", False: "OFF"}


def number(
    command: str,
    doc: str,
    low: float,
    high: float,
    *,
    unit: str = "",
    guard: str | None = None,
    parser: Callable[[str], float] = parse_number,
) -> Control[float]:
    """A numeric setting `command <value>` with low <= value <= high, read with `command?`
    (by `parser`, for replies that carry more than the number)."""
    return Control(
        f"{command}?",
        f"{command} {{value}}",
        doc,
        parser=parser,
        validator=strict_range(low, high),
        unit=unit,
        guard=guard,
    )


def switch(command: str, doc: str) -> Control[bool]:
    """An ON/OFF setting `command ON|OFF`, read with `command?`."""
    return Control(f"{command}?", f"{command} {{value}}", doc, values=ON_OFF, parser=parse_bool)


def choice(
    command: str,
    doc: str,
    values: Mapping[T, str],
    *,
    parser: Callable[[str], T] | None = None,
) -> Control[T]:
    """A setting `command <token>` from `values` (value -> token), read back with `command?`
    in long or short form (`POSitive`, `POS`), or by `parser`."""
    return Control(f"{command}?", f"{command} {{value}}", doc, values=values, parser=parser)
