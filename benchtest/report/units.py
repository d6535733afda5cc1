"""Numbers for people: engineering notation with SI prefixes ("45.1 µA", "182 mV").

Values stay in SI base units everywhere in benchtest; only the report turns them into prefixed
text, here. Units that take no prefix (degC, %, dB) are printed with plain significant digits.
"""

from __future__ import annotations

import math

_PREFIXES = {
    -18: "a",
    -15: "f",
    -12: "p",
    -9: "n",
    -6: "µ",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
}
_NO_PREFIX = frozenset({"", "degC", "%", "dB", "dBm", "dBc", "ppm"})
_SHOWN = {"degC": "°C", "Ohm": "Ω"}


def shown_unit(unit: str) -> str:
    """`unit` as printed: degC as °C, Ohm as Ω."""
    return _SHOWN.get(unit, unit)


def exponent3(value: float) -> int:
    """The multiple of three to scale `value` by so that its mantissa is in [1, 1000)."""
    if value == 0 or not math.isfinite(value):
        return 0
    exp = math.floor(math.log10(abs(value)) / 3) * 3
    return max(min(_PREFIXES), min(max(_PREFIXES), exp))


def scale_for(value: float, unit: str) -> tuple[float, str]:
    """(factor, prefixed unit) to show numbers of `unit` around `value`: (1e-3, "ms")."""
    if unit in _NO_PREFIX:
        return 1.0, shown_unit(unit)
    exp = exponent3(value)
    return 10.0**exp, _PREFIXES[exp] + shown_unit(unit)


def format_eng(value: float | None, unit: str, digits: int = 4) -> str:
    """`value` in engineering notation with up to `digits` significant digits: "45.1 µA"."""
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return f"{'-' if value < 0 else ''}∞ {shown_unit(unit)}".rstrip()
    if unit in _NO_PREFIX:
        return f"{value:.{digits}g} {shown_unit(unit)}".rstrip()
    rounded = float(f"{value:.{digits - 1}e}")  # round first so 999.96 µ becomes 1 m
    factor, prefixed = scale_for(rounded, unit)
    return f"{value / factor:.{digits}g} {prefixed}"
