"""A low-dropout regulator: regulation, dropout, current limit, quiescent current, start-up.

VOUT = VOUT_nom + k_line (VIN - VIN_nom) - R_load IOUT, but never above VIN - R_do IOUT (the pass
device in dropout, R_do = dropout / rated current); IOUT is at most the current limit, beyond
which the output collapses. The input draws the mode's quiescent current plus IOUT. At power-on
VOUT rises after a delay as a first-order ramp (or a second-order one that overshoots). A load on
VOUT is an SMU sinking current (or forcing a voltage below regulation, which draws the limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchtest.sim.models.base import DutModel, unit_of
from benchtest.sim.models.device import Action
from benchtest.sim.models.ports import Port

if TYPE_CHECKING:
    from benchtest.sim.models.load import Load
    from benchtest.sim.models.world import World

POR_ALWAYS = float("inf")  # an LDO has no brown-out detector: every power-up is a power-on


@dataclass(frozen=True, kw_only=True)
class LdoModel(DutModel):
    """One LDO unit: volts, amperes, ohms (V/A) and seconds."""

    kind = "ldo"
    non_negative = ("dropout", "iq_active", "iq_sleep", "current_limit", "startup_tau")

    vout_nominal: float  # V at vin_nominal, no load
    vin_nominal: float = 5.0  # V
    line_regulation: float = 0.0  # V/V
    load_regulation: float = 0.0  # V/A
    dropout: float  # V at rated_current
    rated_current: float = 0.3  # A
    current_limit: float = 1.0  # A
    iq_active: float  # A
    iq_sleep: float  # A
    startup_tau: float  # s
    startup_delay: float  # s
    startup_overshoot: float = 0.0  # fraction of VOUT
    response_tau: float = 10e-6  # s, settling after a line or load step
    uvlo: float  # V
    uvlo_hysteresis: float = 0.0  # V
    noise_rms: float  # V on VOUT

    def iq(self, mode: str) -> float:
        """Quiescent input current in `mode` ("active" or "sleep"), A."""
        return self.iq_sleep if mode == "sleep" else self.iq_active

    def regulated(self, vin: float, iout: float) -> float:
        """The regulation target at `vin` and load `iout`, V."""
        line = self.line_regulation * (vin - self.vin_nominal)
        return self.vout_nominal + line - self.load_regulation * iout

    def output_target(self, vin: float, iout: float = 0.0) -> float:
        """Steady-state VOUT at `vin` with `iout` drawn (0 below the lockout), V."""
        if vin < self.uvlo:
            return 0.0
        return max(0.0, min(self.regulated(vin, iout), vin - self.dropout_resistance * iout))

    def sourced_current(self, vin: float, vout: float) -> float:
        """What the regulator drives into an output held at `vout` (by an SMU), A."""
        if vin < self.uvlo or vout >= self.output_target(vin):
            return 0.0
        headroom = [self.current_limit, (vin - vout) / max(self.dropout_resistance, 1e-9)]
        if self.load_regulation > 0:
            headroom.append((self.regulated(vin, 0.0) - vout) / self.load_regulation)
        return max(0.0, min(headroom))

    @property
    def dropout_resistance(self) -> float:
        """The pass device's resistance in dropout, Ohm."""
        return self.dropout / self.rated_current

    def device(self, world: World) -> LdoDevice:
        return LdoDevice(world)


class OutputPort(Port):
    """VOUT as an SMU on it sees it: sinking a current, or forcing a voltage."""

    def __init__(self, world: World, device: LdoDevice) -> None:
        super().__init__(world, "vout")
        self.device = device

    def voltage(self) -> float:
        return self.device.operating_point()[0]

    def current(self) -> float:
        if self.state.function == "CURR":
            return self.state.current if self.state.output else 0.0
        return -self.device.operating_point()[1]  # the SMU sinks what the LDO sources

    def compliance(self) -> bool:
        s = self.state
        if not s.output:
            return False
        if s.function == "CURR":
            return -s.current > self.device.unit().current_limit or s.current > 0
        return self.device.sourced(s.voltage) > s.current_limit


class LdoDevice:
    """The LDO in the world: VOUT from VIN, the load on VOUT, mode and temperature."""

    input_net = "vin"
    por_level = POR_ALWAYS
    nets = ("vin", "vout")
    modes = ("active", "sleep")
    boot_mode = "active"

    def __init__(self, world: World) -> None:
        self.world = world
        self.output = OutputPort(world, self)

    def unit(self) -> LdoModel:
        return unit_of(self.world, LdoModel)

    def ports(self) -> Mapping[str, Load]:
        return {"vout": self.output}

    def power_thresholds(self) -> tuple[float, float]:
        unit = self.unit()
        return unit.uvlo, unit.uvlo - unit.uvlo_hysteresis

    def supply_current(self, now: float) -> float:
        if self.world.booted_at is None:
            return 0.0
        return self.unit().iq(self.world.current_mode) + self.operating_point()[1]

    def running_current(self, volts: float) -> float:
        load = self.output.state
        sink = -load.current if load.output and load.function == "CURR" else 0.0
        return self.unit().iq(self.world.current_mode) + max(sink, 0.0)

    def operating_point(self) -> tuple[float, float]:
        """(VOUT, IOUT) with the present input and load."""
        if self.world.booted_at is None:
            return 0.0, 0.0
        unit, vin, load = self.unit(), self.world.input_level(), self.output.state
        if not load.output:
            return unit.output_target(vin), 0.0
        if load.function == "VOLT":
            sourced = self.sourced(load.voltage)
            if sourced > load.current_limit:  # the SMU cannot take it: VOUT rises to match
                return unit.output_target(vin, load.current_limit), load.current_limit
            return load.voltage, sourced
        sink = -load.current
        if sink > unit.current_limit:
            return 0.0, unit.current_limit  # in current limit: the output collapses
        if sink < 0:  # pushing current into an LDO, which cannot sink it
            return load.voltage_limit, 0.0
        return unit.output_target(vin, sink), sink

    def sourced(self, vout: float) -> float:
        return self.unit().sourced_current(self.world.input_level(), vout)

    def update(self, now: float) -> None:
        unit = self.unit()
        vout, _ = self.operating_point()
        net = self.world.net("vout")
        if net.target == 0.0 and vout > 0.0:
            net.change(now, vout, unit.startup_delay, unit.startup_tau, unit.startup_overshoot)
        elif vout == 0.0:
            net.change(now, 0.0)
        else:
            net.change(now, vout, 0.0, unit.response_tau)

    def noise_rms(self, net: str) -> float:
        return self.unit().noise_rms if net == "vout" else 0.0

    def actions(self) -> Mapping[str, Action]:
        return {}
