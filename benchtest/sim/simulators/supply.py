"""`SupplyServer`: what the simulated multi-output supplies (Rigol DP800, Siglent SPD3303X) share.

Each output keeps its voltage and current setting and its on/off state and pushes them into the
`Load` it is wired to (the world's DUT input for the channel the profile maps to `vin`, an open
circuit otherwise); readbacks come from that load, so a supply that powers the DUT sees its
quiescent current. Out-of-range settings raise -222. With real timing an output takes its
model's settling time after it is switched on or set to a new level, and a readback waits for it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from benchtest.sim.models.load import Load, OpenCircuit, SupplyState
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.scpi import ILLEGAL_PARAMETER_VALUE, ScpiError, in_range, parse_float
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.server.timing import SupplyTiming


class SupplyServer(ScpiServer):
    """Outputs 1..n with `ranges` (max V, max A; None for a fixed output); `timing_model`
    says how long an output takes to settle with real timing."""

    ranges: ClassVar[tuple[tuple[float | None, float], ...]] = ()
    default_current: ClassVar[float] = 1.0
    timing_model: ClassVar[SupplyTiming]

    def __init__(
        self,
        loads: Mapping[int, Load] | None = None,
        *,
        role: str = "psu",
        journal: Journal | None = None,
        port: int = 0,
    ) -> None:
        wired = dict(loads or {})
        self._journal = journal or Journal()
        self.loads = {n: wired.get(n) or OpenCircuit() for n in self.channels}
        self.outputs = {n: self._default() for n in self.channels}
        self._settled_at = dict.fromkeys(self.channels, 0.0)  # monotonic time, per output
        super().__init__(role=role, port=port)

    @property
    def channels(self) -> range:
        return range(1, len(self.ranges) + 1)

    def _default(self) -> SupplyState:
        return SupplyState(current_limit=self.default_current)

    def reset(self) -> None:
        for number in self.channels:
            self.change(number, **dataclasses.asdict(self._default()))

    # -- settings ----------------------------------------------------------------------------

    def channel(self, text: str) -> int:
        """`CH1` (any case) -> 1; -224 for a channel the model does not have."""
        token = text.strip().upper()
        if token.startswith("CH") and token[2:].isdigit() and int(token[2:]) in self.channels:
            return int(token[2:])
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"no channel {text.strip()}")

    def set_level(self, number: int, quantity: str, text: str) -> None:
        """Set the voltage or the current (limit) of an output, within its range."""
        vmax, imax = self.ranges[number - 1]
        high = vmax if quantity == "voltage" else imax
        if high is None:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"CH{number} is a fixed output")
        field = "voltage" if quantity == "voltage" else "current_limit"
        self.change(number, **{field: in_range(parse_float(text), 0.0, high)})

    def change(self, number: int, **changes: Any) -> None:
        """Apply new settings to output `number`, journal them, and drive its load."""
        old = self.outputs[number]
        new = dataclasses.replace(old, **changes)
        self.outputs[number] = new
        for field, value in changes.items():
            if getattr(old, field) != value:
                self._journal.record(self.role, f"ch{number}.{field}", value)
        if new.output and (not old.output or new.voltage != old.voltage):
            self._settled_at[number] = time.monotonic() + self.timing_model.settle
        self.loads[number].apply_supply(new)

    # -- readback ----------------------------------------------------------------------------

    def measured(self, number: int, quantity: str) -> float:
        """What output `number` delivers: volts, amperes or watts (once it has settled)."""
        self.delays.until(self._settled_at[number])
        load = self.loads[number]
        if quantity == "voltage":
            return load.input_voltage()
        if quantity == "current":
            return load.input_current()
        return load.input_voltage() * load.input_current()
