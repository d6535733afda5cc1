"""`LdoModel`: the simulation parameters of a DUT, read from the DUT profile's `model` mapping.

Only the simulated bench uses these numbers; they describe how the simulated part behaves
(output voltage, dropout, quiescent currents, start-up ramp, undervoltage lockout, noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchtest.errors import SimulatorError

_NUMERIC_FIELDS = (
    "vout_nominal",
    "dropout",
    "iq_active",
    "iq_sleep",
    "startup_tau",
    "startup_delay",
    "uvlo",
    "noise_rms",
)


@dataclass(frozen=True)
class LdoModel:
    """A low-dropout regulator: volts, amperes and seconds (SI units)."""

    vout_nominal: float
    dropout: float
    iq_active: float
    iq_sleep: float
    startup_tau: float
    startup_delay: float
    uvlo: float
    noise_rms: float
    firmware_id: str

    @classmethod
    def from_mapping(cls, model: Mapping[str, Any]) -> LdoModel:
        """Build from the profile's `model` section; a bad or missing field: SimulatorError."""
        kind = model.get("kind", "ldo")
        if kind != "ldo":
            raise SimulatorError(
                f"model.kind: the simulated bench models 'ldo' parts, not {kind!r}"
            )
        values = {name: _non_negative(model, name) for name in _NUMERIC_FIELDS}
        firmware_id = model.get("firmware_id")
        if not isinstance(firmware_id, str) or not firmware_id:
            raise SimulatorError("model.firmware_id: expected a non-empty string")
        return cls(firmware_id=firmware_id, **values)

    def iq(self, mode: str) -> float:
        """Quiescent input current in `mode` ("active" or "sleep"), A."""
        return self.iq_sleep if mode == "sleep" else self.iq_active

    def output_target(self, vin: float) -> float:
        """Steady-state output voltage for input `vin` (0 below the undervoltage lockout), V."""
        if vin < self.uvlo:
            return 0.0
        return max(0.0, min(self.vout_nominal, vin - self.dropout))


def _non_negative(model: Mapping[str, Any], name: str) -> float:
    value = model.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SimulatorError(f"model.{name}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise SimulatorError(f"model.{name}: expected a finite number >= 0, got {value!r}")
    return float(value)
