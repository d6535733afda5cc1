"""Numbers with SI prefixes for readouts and tables: 1.25e-6 s reads "1.25 µs"."""

from __future__ import annotations

import math

_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G"}
#: Units that take no prefix (a percentage of 3 k% would mislead).
_BARE = frozenset({"%", "degC", "°C", "dB", "dBm", ""})


def si(value: float, unit: str = "", digits: int = 4) -> str:
    """`value` with `digits` significant digits and the SI prefix that suits it."""
    number = float(value)
    if not math.isfinite(number):
        return f"{number} {unit}".strip()
    if unit in _BARE or number == 0.0:
        return f"{number:.{digits}g} {unit}".strip()
    exponent = 3 * math.floor(math.log10(abs(number)) / 3)
    exponent = min(max(exponent, min(_PREFIXES)), max(_PREFIXES))
    scaled = number / 10.0**exponent
    if abs(float(f"{scaled:.{digits}g}")) >= 1000 and exponent < max(_PREFIXES):
        exponent, scaled = exponent + 3, scaled / 1000
    return f"{scaled:.{digits}g} {_PREFIXES[exponent]}{unit}"
