"""A digital temperature sensor read through its console: transfer function, noise, conversions.

A reading is T + offset + gain_error (T - T_ref) + curvature (T - T_ref)^2 + k_vdd (VDD - VDD_nom)
plus gaussian noise, rounded to the LSB, where T is the die temperature (the chamber's). A
one-shot conversion takes `t_conversion` and draws `idd_active` meanwhile, `idd_standby`
otherwise; in continuous mode it converts back to back. `read` converts and waits for the result
(or returns the one a `convert` started), so the scope sees the conversion as a current pulse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchtest.sim.models.base import DutModel, unit_of
from benchtest.sim.models.device import Action

if TYPE_CHECKING:
    from benchtest.sim.models.load import Load
    from benchtest.sim.models.world import World

NOT_POWERED = "ERR not powered"


@dataclass(frozen=True, kw_only=True)
class SensorModel(DutModel):
    """One sensor unit: degC, volts, amperes and seconds."""

    kind = "sensor"
    non_negative = (
        "noise_rms", "lsb", "t_conversion", "idd_active", "idd_standby", "conversion_period",
    )  # fmt: skip

    offset: float  # degC
    gain_error: float = 0.0  # degC per degC from the reference temperature
    curvature: float = 0.0  # degC per degC^2
    vdd_nominal: float = 3.3  # V
    supply_sensitivity: float = 0.0  # degC/V
    noise_rms: float  # degC per reading
    lsb: float  # degC
    t_conversion: float  # s
    idd_active: float  # A while converting
    idd_standby: float  # A between conversions
    por_level: float = 1.5  # V
    por_hysteresis: float = 0.1  # V
    current_tau: float = 20e-6  # s
    idd_noise: float = 0.0  # A rms on the idd net
    conversion_period: float = 0.1  # s between conversions when it converts continuously

    def error(self, temperature: float, vdd: float) -> float:
        """Systematic error of a reading at `temperature` degC and `vdd`, degC."""
        delta = temperature - self.reference_temperature
        supply = self.supply_sensitivity * (vdd - self.vdd_nominal)
        return self.offset + self.gain_error * delta + self.curvature * delta * delta + supply

    def device(self, world: World) -> SensorDevice:
        return SensorDevice(world)


class SensorDevice:
    """The sensor in the world: conversions, their current, and the readings."""

    input_net = "vdd"
    nets = ("vdd", "idd")
    modes = ("standby", "continuous")
    boot_mode = "standby"

    def __init__(self, world: World) -> None:
        self.world = world
        self._due: float | None = None  # end of the running one-shot conversion
        self._result: float | None = None

    @property
    def por_level(self) -> float:
        return self.unit().por_level

    def unit(self) -> SensorModel:
        return unit_of(self.world, SensorModel)

    def ports(self) -> Mapping[str, Load]:
        return {}

    def power_thresholds(self) -> tuple[float, float]:
        unit = self.unit()
        return unit.por_level, unit.por_level - unit.por_hysteresis

    def supply_current(self, now: float) -> float:
        if self.world.booted_at is None:
            return 0.0
        return self.running_current(self.world.input_level())

    def running_current(self, volts: float) -> float:
        unit = self.unit()
        busy = self.world.current_mode == "continuous" or self._due is not None
        return unit.idd_active if busy else unit.idd_standby

    def update(self, now: float) -> None:
        if self.world.booted_at is None:
            self._due = self._result = None
        current = self.supply_current(now)
        self.world.net("idd").change(now, current, 0.0, self.unit().current_tau)

    def noise_rms(self, net: str) -> float:
        return self.unit().idd_noise if net == "idd" else 0.0

    def actions(self) -> Mapping[str, Action]:
        return {"convert": self.convert, "read": self.read}

    # -- console ---------------------------------------------------------------------------

    def convert(self) -> str:
        """Start a one-shot conversion (a running one goes on)."""
        with self.world.lock:
            now = self.world.settle()
            if self.world.booted_at is None:
                return NOT_POWERED
            self._start(now)
            return "OK"

    def read(self) -> str:
        """The result of the running (or a new) conversion, once it is done."""
        with self.world.lock:
            now = self.world.settle()
            if self.world.booted_at is None:
                return NOT_POWERED
            if self.world.current_mode == "continuous":
                return _format(self._sample(now))
            if self._result is None:
                self._start(now)
            due = self._due
        if due is not None:
            self.world.wait_until(due)
        with self.world.lock:
            self.world.settle()
            result, self._result = self._result, None
        return NOT_POWERED if result is None else _format(result)

    def _start(self, now: float) -> None:
        if self._due is None:
            self._due = now + self.unit().t_conversion
            self.world.schedule(self._due, self._finish)
            self.update(now)

    def _finish(self, at: float) -> None:
        self._result = self._sample(at)
        self._due = None
        self.update(at)

    def _sample(self, at: float) -> float:
        unit = self.unit()
        temperature = self.world.temperature()
        reading = temperature + unit.error(temperature, self.world.input_level())
        reading += unit.noise_rms * float(self.world.rng.standard_normal())
        return round(reading / unit.lsb) * unit.lsb if unit.lsb > 0 else reading


def _format(value: float) -> str:
    return f"{value:+.4f}"
