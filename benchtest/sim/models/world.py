"""The physical world of the simulated bench: one DUT, the supply that feeds it, its temperature.

The world keeps what every part shares: the supply state an SMU or supply channel pushes in,
power-on and power-down with hysteresis, the power mode, reboots and their cause, the DUT's
temperature (held by a chamber, else room temperature), the nets a scope sees and events due
later (a wake-up latency). The part family's physics lives in its device (`benchtest.sim.models`)
and its parameters in the model; the instrument simulators only translate protocol to these
calls. Every method is thread-safe.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from benchtest.sim.models import noise
from benchtest.sim.models.device import Device
from benchtest.sim.models.faults import DutFaults
from benchtest.sim.models.load import Load, SupplyState
from benchtest.sim.models.nets import NetHistory
from benchtest.sim.server.journal import Journal

CURRENT_NOISE = 1e-3  # relative RMS noise of the input-current reading
ROOM_TEMPERATURE = 25.0  # degC
TEMPERATURE_STEP = 0.005  # degC of drift after which the nets are re-targeted
BootListener = Callable[[str], None]
Event = Callable[[float], None]


class PartModel(Protocol):
    """What the world needs of one unit's model (`benchtest.sim.models.base.DutModel`)."""

    @property
    def kind(self) -> str: ...

    @property
    def firmware_id(self) -> str: ...

    @property
    def faults(self) -> DutFaults: ...

    def at(self, temperature: float) -> PartModel: ...

    def device(self, world: World) -> Device: ...


class World:
    """The DUT's state and nets. `clock` is a monotonic time source in seconds and `sleep` lets
    its time pass; a test drives both with a `benchtest.sim.testing.ManualClock`, whose `sleep`
    moves it on at once, so what the model does is checked at the times it scheduled."""

    def __init__(
        self,
        model: PartModel,
        *,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.clock = clock
        self._sleep = sleep
        self.rng = np.random.default_rng(seed)
        self._journal = journal or Journal()
        self._lock = threading.RLock()
        self._supply = SupplyState()
        self._power_on_time: float | None = None
        self._reset_cause = "por"
        self._below_por = True
        self._epoch = 0  # events of an earlier power cycle are dropped
        self._events: list[tuple[float, int, int, Event]] = []
        self._order = itertools.count()
        self._boot_listeners: list[BootListener] = []
        self._aliases: dict[str, str] = {}
        now = clock()
        self._thermal = NetHistory(now, ROOM_TEMPERATURE)
        self._used_temperature = ROOM_TEMPERATURE
        self._model_at = (ROOM_TEMPERATURE, model.at(ROOM_TEMPERATURE))
        self.device: Device = model.device(self)
        self._mode = self.device.boot_mode
        self._nets = {name: NetHistory(now) for name in self.device.nets}

    # -- for devices -------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def unit(self) -> PartModel:
        """This unit's parameters at the present DUT temperature."""
        temperature = round(self._thermal.value(self.clock()), 2)
        if self._model_at[0] != temperature:
            self._model_at = (temperature, self.model.at(temperature))
        return self._model_at[1]

    def net(self, name: str) -> NetHistory:
        return self._nets[name]

    @property
    def booted_at(self) -> float | None:
        """The last boot's clock time, None while unpowered (no settling: for devices)."""
        return self._power_on_time

    @property
    def current_mode(self) -> str:
        """The power mode as it is (no settling: for devices)."""
        return self._mode

    def wait_until(self, moment: float) -> None:
        """Return once the clock has reached `moment` (call it without the lock held)."""
        delay = moment - self.clock()
        if delay > 0:
            self._sleep(delay)

    def schedule(self, at: float, event: Event) -> None:
        """Run `event(at)` once the clock passes `at`, unless the part powers down first."""
        heapq.heappush(self._events, (at, next(self._order), self._epoch, event))

    def record(self, event: str, value: object) -> None:
        self._journal.record("dut", event, value)

    # -- supply side (the `Load` of the DUT's input) -----------------------------------------

    @property
    def supply(self) -> SupplyState:
        with self._lock:
            return self._supply

    def apply_supply(self, state: SupplyState) -> None:
        """The SMU changed its source: update the input, power the DUT up or down."""
        with self._lock:
            now = self.settle()
            self._supply = state
            self._update_power(now)

    def input_voltage(self) -> float:
        """Voltage at the DUT input, V (0 with the output off)."""
        with self._lock:
            self.settle()
            return self._vin()

    def input_current(self) -> float:
        """Current into the DUT input, A: what the part draws, limited by compliance."""
        with self._lock:
            now = self.settle()
            s = self._supply
            if not s.output:
                return 0.0
            if s.function == "CURR":
                return s.current
            drawn = self.device.supply_current(now)
            drawn *= 1.0 + CURRENT_NOISE * self.rng.standard_normal()
            return min(drawn, s.current_limit)

    def in_compliance(self) -> bool:
        """True when the SMU's limit, not the DUT, sets the current (or voltage) of the input."""
        with self._lock:
            now = self.settle()
            s = self._supply
            if not s.output:
                return False
            if s.function == "CURR":
                return self._vin() >= s.voltage_limit
            return self.device.supply_current(now) > s.current_limit

    def port(self, net: str) -> Load | None:
        """What an instrument wired to `net` drives or loads (None: nothing simulated there)."""
        node = self._aliases.get(net, net)
        if node == self.device.input_net:
            return self
        return self.device.ports().get(node)

    def alias_nets(self, nets: Mapping[str, Mapping[str, Any]]) -> None:
        """Profile nets with a `node` (a DMM's sense lead on VOUT) are that node of the part."""
        self._aliases = {name: str(spec["node"]) for name, spec in nets.items() if "node" in spec}

    # -- DUT side ----------------------------------------------------------------------------

    @property
    def modes(self) -> tuple[str, ...]:
        return self.device.modes

    @property
    def powered(self) -> bool:
        with self._lock:
            self.settle()
            return self._power_on_time is not None

    @property
    def power_on_time(self) -> float | None:
        """Clock time of the last boot (power-on or reset with the supply on)."""
        with self._lock:
            self.settle()
            return self._power_on_time

    @property
    def reset_cause(self) -> str:
        """Why the firmware last booted: por, bor, software, watchdog."""
        with self._lock:
            return self._reset_cause

    @property
    def mode(self) -> str:
        with self._lock:
            self.settle()
            return self._mode

    def set_mode(self, mode: str, at: float | None = None) -> None:
        """Change the power mode now (or at clock time `at`, a wake-up latency later)."""
        if mode not in self.device.modes:
            raise ValueError(f"unknown DUT mode {mode!r}; modes are {', '.join(self.device.modes)}")
        with self._lock:
            now = self.settle()
            if at is not None and at > now:
                self.schedule(at, lambda t: self.enter_mode(mode, t))
            else:
                self.enter_mode(mode, now)

    def reboot(self, cause: str) -> None:
        """A reset with the supply on: the firmware starts again in its boot mode."""
        with self._lock:
            now = self.settle()
            if self._power_on_time is not None:
                self._boot(now, cause)
                self.device.update(now)

    def on_boot(self, listener: BootListener) -> None:
        """Call `listener(cause)` at every boot (with the world's lock held: be quick)."""
        with self._lock:
            self._boot_listeners.append(listener)

    # -- temperature -------------------------------------------------------------------------

    def temperature(self) -> float:
        """The DUT's temperature now, degC."""
        with self._lock:
            return self._thermal.value(self.clock())

    def force_temperature(self, target: float, tau: float) -> None:
        """From now, approach `target` degC with time constant `tau` s (a chamber's air flow)."""
        with self._lock:
            now = self.settle()
            if target == self._thermal.target:  # another rate: restart the approach from here
                self._thermal.change(now, self._thermal.value(now))
            self._thermal.change(now, target, 0.0, tau)

    def temperature_crossing(self, level: float, rising: bool, after: float) -> float | None:
        """First clock time >= `after` at which the temperature crosses `level`."""
        with self._lock:
            return self._thermal.first_crossing(level, rising, after)

    # -- nets for the scope ------------------------------------------------------------------

    def net_value(self, net: str, t: float) -> float:
        """Noise-free value of `net` at clock time `t`."""
        with self._lock:
            self.settle()
            return self._net(net).value(t)

    def first_crossing(
        self, net: str, level: float, rising: bool | None, after: float
    ) -> float | None:
        """First clock time >= `after` at which `net` crosses `level` (None: either direction)."""
        with self._lock:
            self.settle()
            return self._net(net).first_crossing(level, rising, after)

    def render(
        self, net: str, t_first: float, dt: float, start: int, count: int, seed: Sequence[int]
    ) -> npt.NDArray[np.float64]:
        """Points `start .. start+count-1` of a record of `net` sampled every `dt` from clock
        time `t_first`, with the net's gaussian noise (reproducible for a given `seed`)."""
        times = t_first + (start + np.arange(count, dtype=np.float64)) * dt
        with self._lock:
            self.settle()
            clean = self._net(net).values(times)
            rms = self.noise_rms(net)
        return clean + noise.gaussian(seed, start, count, rms)

    def noise_rms(self, net: str | None = None) -> float:
        """RMS noise a scope sees on `net`; on an unconnected input, the loudest net's."""
        if net is not None:
            return self.device.noise_rms(self._aliases.get(net, net))
        return max(self.device.noise_rms(name) for name in self.device.nets)

    # -- internals ---------------------------------------------------------------------------

    def _net(self, net: str) -> NetHistory:
        node = self._aliases.get(net, net)
        if node not in self._nets:
            known = ", ".join([*self._nets, *self._aliases])
            raise ValueError(f"the simulated DUT has no net {net!r}; nets are {known}")
        return self._nets[node]

    def settle(self) -> float:
        """Run the events that are due and follow the temperature; returns the clock time.

        For devices and ports: call it with the lock held before reading or changing state.
        """
        now = self.clock()
        while self._events and self._events[0][0] <= now:
            at, _, epoch, event = heapq.heappop(self._events)
            if epoch == self._epoch:
                event(at)
        temperature = self._thermal.value(now)
        if abs(temperature - self._used_temperature) > TEMPERATURE_STEP:
            self._used_temperature = temperature
            self.device.update(now)
        return now

    def input_level(self) -> float:
        """The input voltage as it is, without settling first (for devices), V."""
        return self._vin()

    def _vin(self) -> float:
        s = self._supply
        if not s.output:
            return 0.0
        if s.function == "VOLT":
            return max(s.voltage, 0.0)
        # Sourcing current into the part: at compliance when it covers what the part draws
        # running there, otherwise the input collapses.
        return s.voltage_limit if s.current >= self.device.running_current(s.voltage_limit) else 0.0

    def _update_power(self, now: float) -> None:
        vin = self._vin()
        self._nets[self.device.input_net].change(now, vin)
        on, off = self.device.power_thresholds()
        if vin < self.device.por_level:
            self._below_por = True
        if self._power_on_time is None and vin >= on:
            self._boot(now, "por" if self._below_por else "bor")
        elif self._power_on_time is not None and vin < off:
            self._power_on_time = None
            self._epoch += 1
            self.record("power", False)
        self.device.update(now)

    def _boot(self, now: float, cause: str) -> None:
        first = self._power_on_time is None
        self._power_on_time = now
        self._reset_cause = cause
        self._below_por = False
        self._epoch += 1
        self._mode = self.device.boot_mode  # the firmware boots in its boot mode
        self.record("power" if first else "reboot", True if first else cause)
        for listener in self._boot_listeners:
            listener(cause)

    def enter_mode(self, mode: str, at: float) -> None:
        """Switch to `mode` at clock time `at` (for devices and events: the lock is held)."""
        if mode != self._mode:
            self._mode = mode
            self.record("mode", mode)
            self.device.update(at)
