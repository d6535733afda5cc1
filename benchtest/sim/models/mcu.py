"""A low-power MCU: mode currents, wake-up latency, brown-out reset with hysteresis.

IDD(active|sleep) = I_mode (1 + k_vdd (VDD - VDD_nom)); IDD(deepsleep) = I_floor + I_leak, the
leakage doubling every few degC. Below the brown-out threshold (falling) the part is held in
reset and draws I_reset, and it boots again once VDD rises above threshold + hysteresis (a
brown-out reset, or a power-on reset if VDD fell below the POR level meanwhile). A rising edge on
the wake pin in sleep or deep sleep returns it to active after the wake-up latency; the current
then rises with `current_tau`. The scope sees the supply current on the net `idd` (in A).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from benchtest.sim.models.base import DutModel, unit_of
from benchtest.sim.models.device import Action
from benchtest.sim.models.ports import Pin

if TYPE_CHECKING:
    from benchtest.sim.models.load import Load
    from benchtest.sim.models.world import World

ASLEEP = ("sleep", "deepsleep")


@dataclass(frozen=True, kw_only=True)
class McuModel(DutModel):
    """One MCU unit: amperes, volts and seconds."""

    kind = "mcu"
    non_negative = (
        "idd_active",
        "idd_sleep",
        "idd_deepsleep_floor",
        "idd_deepsleep_leakage",
        "idd_reset",
        "wakeup_sleep",
        "wakeup_deepsleep",
        "wake_period",
        "active_time",
        "idd_radio",
        "radio_time",
    )

    vdd_nominal: float = 3.0  # V at which the mode currents hold
    supply_coefficient: float = 0.0  # 1/V: relative change of the active and sleep currents
    idd_active: float  # A
    idd_sleep: float  # A
    idd_deepsleep_floor: float  # A, retention (regulator, RTC)
    idd_deepsleep_leakage: float  # A at the reference temperature
    idd_reset: float  # A while held in reset
    por_level: float = 1.0  # V
    bor_falling: float  # V
    bor_hysteresis: float  # V
    wakeup_sleep: float  # s
    wakeup_deepsleep: float  # s
    current_tau: float = 0.3e-6  # s
    wake_threshold: float = 0.7  # fraction of VDD the wake pin must exceed
    idd_noise: float = 0.0  # A rms on the idd net
    vdd_noise: float = 0.0  # V rms on the vdd and wake nets
    # The firmware's periodic wake-up, as a current profiler sees it (`power_profile`):
    wake_period: float = 0.1  # s from one wake-up to the next
    active_time: float = 1e-3  # s awake after each wake-up (the current rise to going back)
    idd_radio: float = 0.0  # A during the radio burst within each wake-up (0: no burst)
    radio_time: float = 0.0  # s of the radio burst

    def mode_current(self, mode: str, vdd: float) -> float:
        """IDD in `mode` at `vdd`, A."""
        if mode == "deepsleep":
            return self.idd_deepsleep_floor + self.idd_deepsleep_leakage
        base = self.idd_sleep if mode == "sleep" else self.idd_active
        return base * (1.0 + self.supply_coefficient * (vdd - self.vdd_nominal))

    def wakeup(self, mode: str) -> float:
        """Latency from the wake edge to the current rise, s."""
        return self.wakeup_deepsleep if mode == "deepsleep" else self.wakeup_sleep

    def device(self, world: World) -> McuDevice:
        return McuDevice(world)


class McuDevice:
    """The MCU in the world: supply current by mode, brown-out, the wake pin."""

    input_net = "vdd"
    nets = ("vdd", "idd", "wake")
    modes = ("active", "sleep", "deepsleep")
    boot_mode = "active"

    def __init__(self, world: World) -> None:
        self.world = world
        self.wake = Pin(world, "wake")
        self._wake_high = False

    @property
    def por_level(self) -> float:
        return self.unit().por_level

    def unit(self) -> McuModel:
        return unit_of(self.world, McuModel)

    def ports(self) -> Mapping[str, Load]:
        return {"wake": self.wake}

    def power_thresholds(self) -> tuple[float, float]:
        unit = self.unit()
        return unit.bor_falling + unit.bor_hysteresis, unit.bor_falling

    def supply_current(self, now: float) -> float:
        unit, vdd = self.unit(), self.world.input_level()
        if self.world.booted_at is not None:
            return unit.mode_current(self.world.current_mode, vdd)
        return unit.idd_reset if vdd >= unit.por_level else 0.0

    def running_current(self, volts: float) -> float:
        return self.unit().mode_current(self.world.current_mode, volts)

    def update(self, now: float) -> None:
        unit = self.unit()
        pin = self.wake.voltage()
        high = pin >= unit.wake_threshold * max(self.world.input_level(), 1e-3)
        mode = self.world.current_mode
        if high and not self._wake_high and self.world.booted_at is not None and mode in ASLEEP:
            self.world.schedule(now + unit.wakeup(mode), partial(self.world.enter_mode, "active"))
        self._wake_high = high
        self.world.net("wake").change(now, pin)
        self.world.net("idd").change(now, self.supply_current(now), 0.0, unit.current_tau)

    def noise_rms(self, net: str) -> float:
        unit = self.unit()
        return unit.idd_noise if net == "idd" else unit.vdd_noise

    def actions(self) -> Mapping[str, Action]:
        return {}
