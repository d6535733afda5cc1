"""`Probe`: what sits between a DUT net and a scope input, and the unit the channel then reads.

A DUT profile's net entry may name the probe on its scope channel: a voltage probe by its
`attenuation` (10 for a 10:1 probe), a current probe by its `transimpedance` (volts out per
ampere, V/A) or by its `amps_per_volt` (A/V, what a current probe's data sheet calls its
scale). The scope driver sets the channel's probe ratio to `ratio`, so that the scope itself
shows the net in `unit`: waveforms, scales, offsets and trigger levels of that channel are
then in V or A.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchtest.values.errors import ConfigError

#: The keys of a probe entry, with the unit each implies.
PROBE_KEYS = {"attenuation": "V", "transimpedance": "A", "amps_per_volt": "A"}


@dataclass(frozen=True)
class Probe:
    """A probe on a scope channel: the channel reads `unit`, with the scope's probe ratio set
    to `ratio` (the probe's attenuation, or its A/V)."""

    unit: str = "V"
    ratio: float = 1.0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: str = "", field: str = "probe") -> Probe:
        """The probe of a profile's `probe:` entry; a ConfigError names `where` and the field."""
        if not isinstance(spec, Mapping):
            raise ConfigError(where, field, f"expected a mapping with one of {_keys()}")
        unknown = sorted(str(key) for key in spec if key not in PROBE_KEYS)
        if unknown:
            raise ConfigError(
                where, field, f"unknown key {', '.join(unknown)}; use one of {_keys()}"
            )
        if len(spec) != 1:
            raise ConfigError(where, field, f"give exactly one of {_keys()}")
        ((key, value),) = spec.items()
        number = _positive(value, where, f"{field}.{key}")
        ratio = 1.0 / number if key == "transimpedance" else number
        return cls(unit=PROBE_KEYS[key], ratio=ratio)

    @property
    def input_gain(self) -> float:
        """Volts at the scope input per unit (V or A) at the probe tip."""
        return 1.0 / self.ratio

    def describe(self) -> str:
        """The probe in words: "10x voltage probe", "current probe, 100 V/A"."""
        if self.unit == "A":
            return f"current probe, {self.input_gain:g} V/A"
        return f"{self.ratio:g}x voltage probe"


def probes_of(nets: Mapping[str, Mapping[str, Any]], role: str) -> dict[int, Probe]:
    """The probes of `role`'s channels, by channel number, from a profile's `nets`."""
    return {
        int(spec["channel"]): Probe.from_spec(spec["probe"], field=f"nets.{net}.probe")
        for net, spec in nets.items()
        if spec.get("role") == role and "probe" in spec and "channel" in spec
    }


def _keys() -> str:
    return ", ".join(PROBE_KEYS)


def _positive(value: object, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, field, f"expected a finite number > 0, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(where, field, f"expected a finite number > 0, got {value!r}")
    return number
