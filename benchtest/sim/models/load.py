"""What a simulated source output drives: the DUT's input in the world, or nothing at all.

`Load` is the supply side of `World` (`apply_supply`, `input_voltage`, `input_current`,
`in_compliance`); an SMU or supply channel whose role drives the DUT's `vin` net gets the
world, any other output an `OpenCircuit` that draws no current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SupplyState:
    """What the source-measure unit applies to the DUT input (SI units)."""

    output: bool = False
    function: str = "VOLT"  # "VOLT" or "CURR"
    voltage: float = 0.0
    current: float = 0.0
    current_limit: float = 105e-6
    voltage_limit: float = 21.0


class Load(Protocol):
    """The input a simulated source is wired to."""

    def apply_supply(self, state: SupplyState) -> None: ...

    def input_voltage(self) -> float: ...

    def input_current(self) -> float: ...

    def in_compliance(self) -> bool: ...


class OpenCircuit:
    """Nothing connected: no current flows; a current source rises to its voltage limit, of
    the sign of the current it sources."""

    def __init__(self) -> None:
        self._supply = SupplyState()

    def apply_supply(self, state: SupplyState) -> None:
        self._supply = state

    def input_voltage(self) -> float:
        s = self._supply
        if not s.output:
            return 0.0
        if s.function == "VOLT":
            return s.voltage
        if not s.current:
            return 0.0
        return s.voltage_limit if s.current > 0 else -s.voltage_limit

    def input_current(self) -> float:
        return 0.0

    def in_compliance(self) -> bool:
        s = self._supply
        return s.output and s.function == "CURR" and s.current != 0.0
