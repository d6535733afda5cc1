"""The physical world of the simulated bench: one DUT (an LDO) and the supply that feeds it.

The SMU simulator pushes its source state in, the DUT firmware sets the power mode, and the scope
reads the nets back as rendered records. All physics lives here and every method is thread-safe;
the instrument simulators only translate protocol to these calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchtest.sim import noise
from benchtest.sim.journal import Journal
from benchtest.sim.model import LdoModel
from benchtest.sim.nets import NetHistory

MODES = ("active", "sleep")
CURRENT_NOISE = 1e-3  # relative RMS noise of the input-current reading
NETS = ("vin", "vout")


@dataclass(frozen=True)
class SupplyState:
    """What the source-measure unit applies to the DUT input (SI units)."""

    output: bool = False
    function: str = "VOLT"  # "VOLT" or "CURR"
    voltage: float = 0.0
    current: float = 0.0
    current_limit: float = 105e-6
    voltage_limit: float = 21.0


class World:
    """The DUT's state and nets; `clock` is a monotonic time source in seconds."""

    def __init__(
        self,
        model: LdoModel,
        *,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.clock = clock
        self._journal = journal or Journal()
        self._lock = threading.RLock()
        self._rng = np.random.default_rng(seed)
        self._supply = SupplyState()
        self._mode = "active"
        self._power_on_time: float | None = None
        now = clock()
        self._nets = {name: NetHistory(now) for name in NETS}

    # -- supply side -------------------------------------------------------------------------

    @property
    def supply(self) -> SupplyState:
        with self._lock:
            return self._supply

    def apply_supply(self, state: SupplyState) -> None:
        """The SMU changed its source: update the input, power the DUT up or down."""
        with self._lock:
            self._supply = state
            self._update_power(self.clock())

    def input_voltage(self) -> float:
        """Voltage at the DUT input, V (0 with the output off)."""
        with self._lock:
            return self._vin()

    def input_current(self) -> float:
        """Current into the DUT input, A: the mode's quiescent current, limited by compliance."""
        with self._lock:
            s = self._supply
            if not s.output:
                return 0.0
            if s.function == "CURR":
                return s.current
            if self._power_on_time is None:
                return 0.0
            drawn = self.model.iq(self._mode) * (1.0 + CURRENT_NOISE * self._rng.standard_normal())
            return min(drawn, s.current_limit)

    def in_compliance(self) -> bool:
        """True when the SMU's limit, not the DUT, sets the current (or voltage) of the input."""
        with self._lock:
            s = self._supply
            if not s.output:
                return False
            if s.function == "CURR":
                return self._vin() >= s.voltage_limit
            return self._power_on_time is not None and self.model.iq(self._mode) > s.current_limit

    # -- DUT side ----------------------------------------------------------------------------

    @property
    def powered(self) -> bool:
        with self._lock:
            return self._power_on_time is not None

    @property
    def power_on_time(self) -> float | None:
        """Clock time of the last power-on (input rose above UVLO with the output on)."""
        with self._lock:
            return self._power_on_time

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown DUT mode {mode!r}; modes are {', '.join(MODES)}")
        with self._lock:
            if mode != self._mode:
                self._mode = mode
                self._journal.record("dut", "mode", mode)

    # -- nets for the scope ------------------------------------------------------------------

    def net_value(self, net: str, t: float) -> float:
        """Noise-free value of `net` at clock time `t`, V."""
        with self._lock:
            return self._net(net).value(t)

    def first_crossing(
        self, net: str, level: float, rising: bool | None, after: float
    ) -> float | None:
        """First clock time >= `after` at which `net` crosses `level` (None: either direction)."""
        with self._lock:
            return self._net(net).first_crossing(level, rising, after)

    def render(
        self, net: str, t_first: float, dt: float, start: int, count: int, seed: Sequence[int]
    ) -> npt.NDArray[np.float64]:
        """Points `start .. start+count-1` of a record of `net` sampled every `dt` from clock
        time `t_first`, with the model's gaussian noise (reproducible for a given `seed`)."""
        times = t_first + (start + np.arange(count, dtype=np.float64)) * dt
        with self._lock:
            clean = self._net(net).values(times)
        return clean + noise.gaussian(seed, start, count, self.model.noise_rms)

    # -- internals ---------------------------------------------------------------------------

    def _net(self, net: str) -> NetHistory:
        if net not in self._nets:
            raise ValueError(f"the simulated DUT has no net {net!r}; nets are {', '.join(NETS)}")
        return self._nets[net]

    def _vin(self) -> float:
        s = self._supply
        if not s.output:
            return 0.0
        if s.function == "VOLT":
            return max(s.voltage, 0.0)
        # Sourcing current into a constant-current load: at compliance when it can supply
        # the quiescent current, otherwise the input collapses below the lockout.
        if s.current >= self.model.iq(self._mode):
            return s.voltage_limit
        return 0.0

    def _update_power(self, now: float) -> None:
        vin = self._vin()
        self._nets["vin"].change(now, vin)
        target = self.model.output_target(vin)
        vout = self._nets["vout"]
        if target > 0 and self._power_on_time is None:
            self._power_on_time = now
            self._mode = "active"  # the firmware boots in active mode
            vout.change(now, target, self.model.startup_delay, self.model.startup_tau)
            self._journal.record("dut", "power", True)
        elif target > 0:
            vout.change(now, target, 0.0, self.model.startup_tau)
        elif self._power_on_time is not None:
            self._power_on_time = None
            vout.change(now, 0.0)
            self._journal.record("dut", "power", False)
