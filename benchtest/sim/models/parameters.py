"""Model parameters as the profile states them: typical value, unit-to-unit sigma, tempco.

A parameter is a number (the typical value) or `{typ, sigma, tempco}`; `spread` and `tempco`
sections may give the sigma and the temperature coefficient apart from the value. One unit's
value is drawn from a normal distribution seeded by its serial number and the parameter's name,
so the same serial always gives the same part and adding a parameter changes no other draw.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchtest.values.errors import SimulatorError

TEMPCO_KINDS = ("linear", "relative", "doubling")
SPEC_KEYS = ("typ", "sigma", "tempco")


@dataclass(frozen=True)
class Tempco:
    """How a parameter moves with temperature, per degC away from the reference temperature.

    `linear`: units per degC added; `relative`: fraction of the value per degC; `doubling`:
    degC for the value to double (junction leakage).
    """

    kind: str
    value: float

    def apply(self, value: float, delta: float) -> float:
        if self.kind == "linear":
            return value + self.value * delta
        if self.kind == "relative":
            return value * (1.0 + self.value * delta)
        return value * float(2.0 ** (delta / self.value))


@dataclass(frozen=True)
class ParameterSpec:
    """One model parameter: its typical value, unit-to-unit sigma and temperature coefficient."""

    name: str
    typ: float
    sigma: float = 0.0
    tempco: Tempco | None = None

    def draw(self, serial: str | None) -> float:
        """This unit's value: the typical value without a serial, else a seeded normal draw."""
        if not serial or self.sigma == 0.0:
            return self.typ
        rng = np.random.default_rng(unit_seed(serial, self.name))
        return self.typ + self.sigma * float(rng.standard_normal())

    def at(self, value: float, delta: float) -> float:
        """`value` moved by the tempco to `delta` degC from the reference temperature."""
        return value if self.tempco is None else self.tempco.apply(value, delta)


def unit_seed(serial: str, name: str) -> list[int]:
    """The RNG seed of parameter `name` of unit `serial` (stable across runs and platforms)."""
    digest = hashlib.sha256(f"{serial}\x00{name}".encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def parse_spec(model: Mapping[str, Any], name: str, default: float | None) -> ParameterSpec:
    """The spec of `name` from the `model` section (value, `spread` and `tempco` sections)."""
    raw = model.get(name, default)
    if raw is None:
        raise SimulatorError(f"model.{name}: missing; expected a number or {{typ, sigma}}")
    where = f"model.{name}"
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - set(SPEC_KEYS))
        if unknown or "typ" not in raw:
            raise SimulatorError(
                f"{where}: expected a number or a mapping with typ (and sigma, tempco), "
                f"got keys {', '.join(map(str, raw)) or 'none'}"
            )
        typ, sigma, tempco = raw["typ"], raw.get("sigma"), raw.get("tempco")
    else:
        typ, sigma, tempco = raw, None, None
    sigma = _section(model, "spread", name, "sigma", sigma)
    tempco = _section(model, "tempco", name, None, tempco)
    return ParameterSpec(
        name,
        number(typ, f"{where}.typ" if isinstance(raw, Mapping) else where),
        0.0 if sigma is None else number(sigma, f"{where}.sigma", minimum=0.0),
        None if tempco is None else parse_tempco(tempco, f"model.tempco.{name}"),
    )


def _section(
    model: Mapping[str, Any], section: str, name: str, key: str | None, inline: Any
) -> Any:
    """`name`'s entry in the `spread` or `tempco` section, else what the parameter gave inline."""
    entry = (model.get(section) or {}).get(name)
    if entry is None:
        return inline
    if inline is not None:
        raise SimulatorError(
            f"model.{section}.{name}: model.{name} already gives its {key or section}; "
            "give it in one place"
        )
    if key is None:
        return entry
    if not isinstance(entry, Mapping) or set(entry) != {key}:
        raise SimulatorError(f"model.{section}.{name}: expected {{{key}: <number>}}, got {entry!r}")
    return entry[key]


def parse_tempco(raw: Any, where: str) -> Tempco:
    if not isinstance(raw, Mapping) or len(raw) != 1 or next(iter(raw)) not in TEMPCO_KINDS:
        raise SimulatorError(
            f"{where}: expected one of {{linear: <per degC>}}, {{relative: <fraction per degC>}}"
            f" or {{doubling: <degC>}}, got {raw!r}"
        )
    kind, value = next(iter(raw.items()))
    checked = number(value, f"{where}.{kind}")
    if kind == "doubling" and checked <= 0.0:
        raise SimulatorError(f"{where}.doubling: expected degC > 0, got {value!r}")
    return Tempco(kind, checked)


def number(value: Any, where: str, *, minimum: float | None = None) -> float:
    """`value` as a finite float, or a SimulatorError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SimulatorError(f"{where}: expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise SimulatorError(f"{where}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def check_sections(model: Mapping[str, Any], known: tuple[str, ...], kind: str) -> None:
    """Every parameter named in `model`, `spread` or `tempco` must be one the model knows."""
    for section in ("spread", "tempco"):
        entries = model.get(section) or {}
        if not isinstance(entries, Mapping):
            raise SimulatorError(f"model.{section}: expected a mapping of parameter to value")
        for name in entries:
            if name not in known:
                raise SimulatorError(
                    f"model.{section}.{name}: the {kind} model has no parameter {name!r}; "
                    f"parameters: {', '.join(known)}"
                )
