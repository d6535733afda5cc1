"""Faults of the simulated part, from the `faults` mapping of the profile's `model` section.

`out_of_spec` makes a failing unit: the named model parameters take the given values (at the
reference temperature) instead of the drawn ones. `reboot_during` makes the firmware reboot
while it answers a console command (the reply is cut off and the boot banner follows), `times`
times (every time when left out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchtest.sim.models.parameters import number
from benchtest.values.errors import SimulatorError

FAULT_KEYS = ("out_of_spec", "reboot_during")


@dataclass(frozen=True)
class RebootDuring:
    """Reboot while answering `command` (whitespace-normalised), at most `times` times."""

    command: str
    times: int | None = None


@dataclass(frozen=True)
class DutFaults:
    """What is wrong with this simulated part (nothing by default)."""

    out_of_spec: Mapping[str, float] = field(default_factory=dict)
    reboot_during: RebootDuring | None = None

    @classmethod
    def from_mapping(cls, raw: Any, parameters: tuple[str, ...]) -> DutFaults:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise SimulatorError(
                f"model.faults: expected a mapping of fault to setting, got {raw!r}"
            )
        unknown = sorted(set(raw) - set(FAULT_KEYS))
        if unknown:
            raise SimulatorError(
                f"model.faults.{unknown[0]}: unknown fault; faults: {', '.join(FAULT_KEYS)}"
            )
        return cls(
            out_of_spec=_out_of_spec(raw.get("out_of_spec") or {}, parameters),
            reboot_during=_reboot(raw.get("reboot_during")),
        )

    def apply(self, values: dict[str, float]) -> dict[str, float]:
        """The unit's parameter values with the out-of-spec ones substituted."""
        return {**values, **self.out_of_spec}


def _out_of_spec(raw: Any, parameters: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise SimulatorError("model.faults.out_of_spec: expected a mapping of parameter to value")
    values = {}
    for name, value in raw.items():
        if name not in parameters:
            raise SimulatorError(
                f"model.faults.out_of_spec.{name}: the model has no parameter {name!r}; "
                f"parameters: {', '.join(parameters)}"
            )
        values[str(name)] = number(value, f"model.faults.out_of_spec.{name}")
    return values


def _reboot(raw: Any) -> RebootDuring | None:
    if raw is None:
        return None
    where = "model.faults.reboot_during"
    if isinstance(raw, str):
        raw = {"command": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("command"), str):
        raise SimulatorError(f"{where}: expected a command text or {{command, times}}, got {raw!r}")
    times = raw.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise SimulatorError(f"{where}.times: expected a whole number >= 1, got {times!r}")
    extra = sorted(set(raw) - {"command", "times"})
    if extra:
        raise SimulatorError(f"{where}.{extra[0]}: unknown setting; settings: command, times")
    return RebootDuring(" ".join(raw["command"].split()), times)
