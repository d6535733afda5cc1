"""Simulated inTEST (Temptronic) ThermoStream ATS-545 thermal forcing system, remote commands.

Command set of the ATS Interface & Applications Manual: three operator-screen setpoints (SETN
0 hot, 1 ambient, 2 cold; SETP sets the selected one within the air limits LLIM/ULIM), air flow
(FLOW), the window (WNDW) and soak time (SOAK) that decide "at temperature" in the temperature
condition register (TECR?: bit 0 at temperature, bit 1 not at temperature), TEMP?, TMPA? and
TMPD? with 0.1 degC resolution, DUT mode (DUTM), head (HEAD), the device error register EROR?
and CLER, RSTO, WHAT?. With the flow on the DUT approaches the selected setpoint as a first-order
lag with `time_constant`; with the flow off it relaxes to room temperature ten times slower.
"""

from __future__ import annotations

from collections.abc import Callable

from benchtest.sim.models.world import ROOM_TEMPERATURE, World
from benchtest.sim.server.scpi import (
    DATA_OUT_OF_RANGE,
    ScpiError,
    in_range,
    parse_bool,
    parse_float,
    parse_int,
)
from benchtest.sim.server.scpi_server import ScpiServer

AMBIENT = 1  # setpoint number of the ambient setpoint
DEFAULT_SETPOINTS = (100.0, ROOM_TEMPERATURE, -40.0)  # hot, ambient, cold
AIR_RANGE = (-99.9, 225.0)
AT_TEMPERATURE, NOT_AT_TEMPERATURE = 0x01, 0x02
RESTING_FACTOR = 10.0  # flow off: the DUT drifts back to room temperature this much slower


class ThermoStream(ScpiServer):
    """`ATS-545` forcing the world's DUT temperature (degC, s)."""

    identity = "INTEST THERMAL SOLUTIONS,ATS-545,TS0000001,6.12"
    error_query = "EROR?"

    def __init__(
        self, world: World, *, role: str = "chamber", time_constant: float = 0.05, port: int = 0
    ) -> None:
        self.world = world
        self.time_constant = time_constant
        self._defaults()
        super().__init__(role=role, port=port)

    def _defaults(self) -> None:
        self.setpoints = list(DEFAULT_SETPOINTS)
        self.selected = AMBIENT
        self.flow = False
        self.window, self.soak = 1.0, 30.0
        self.limits = [-60.0, 220.0]
        self.dut_mode, self.head_down = True, True
        self._since = self.world.clock()  # when the present target was set

    def reset(self) -> None:
        self._defaults()
        self._drive()

    def next_error(self) -> str:
        """`EROR?`: the device error register (16 flag bits); nothing is ever wrong here."""
        return "0"

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        self.setting("SETN", lambda r: str(self.selected), lambda r: self._select(r.arg()))
        self._number("SETP", lambda: self.setpoints[self.selected], self._set_setpoint)
        self._number("WNDW", lambda: self.window, lambda v: self._set("window", v, 0.1, 9.9))
        self._number("SOAK", lambda: self.soak, lambda v: self._set("soak", v, 0.0, 9999.0))
        self._number("LLIM", lambda: self.limits[0], lambda v: self._limit(0, v, -99.0, 25.0))
        self._number("ULIM", lambda: self.limits[1], lambda v: self._limit(1, v, 25.0, 225.0))
        self._switch("FLOW", lambda: self.flow, self._set_flow)
        self._switch("DUTM", lambda: self.dut_mode, lambda on: setattr(self, "dut_mode", on))
        self._switch("HEAD", lambda: self.head_down, lambda on: setattr(self, "head_down", on))
        self.command("TEMP?", lambda r: _tenth(self.world.temperature()))
        self.command("TMPA?", lambda r: _tenth(self._air()))
        self.command("TMPD?", lambda r: _tenth(self.world.temperature()))
        self.command("TECR?", lambda r: str(self.condition()))
        self.command("CLER", lambda r: None)
        self.command("RSTO", lambda r: self.reset())
        self.command("WHAT?", lambda r: "5")  # on the operator screen (manual mode)

    def _number(
        self, header: str, read: Callable[[], float], write: Callable[[float], None]
    ) -> None:
        self.setting(header, lambda r: _tenth(read()), lambda r: write(parse_float(r.arg())))

    def _switch(self, header: str, read: Callable[[], bool], write: Callable[[bool], None]) -> None:
        self.setting(header, lambda r: str(int(read())), lambda r: write(parse_bool(r.arg())))

    # -- state -------------------------------------------------------------------------------

    def condition(self) -> int:
        """TECR: at temperature once within the window for the soak time, while flowing."""
        if not self.flow:
            return 0
        entered = self._entered_window()
        at = entered is not None and self.world.clock() >= entered + self.soak
        return AT_TEMPERATURE if at else NOT_AT_TEMPERATURE

    def _entered_window(self) -> float | None:
        """Clock time the DUT came within the window of the setpoint (None: not yet)."""
        target = self.setpoints[self.selected]
        if abs(self.world.temperature() - target) > self.window:
            return None
        start = self.world.temperature_crossing(target + self.window, False, self._since)
        if start is None:
            start = self.world.temperature_crossing(target - self.window, True, self._since)
        return self._since if start is None else start

    def _drive(self) -> None:
        """Point the DUT's temperature at the setpoint (flow on) or room temperature (off)."""
        if self.flow:
            self.world.force_temperature(self.setpoints[self.selected], self.time_constant)
        else:
            tau = self.time_constant * RESTING_FACTOR
            self.world.force_temperature(ROOM_TEMPERATURE, tau)
        self._since = self.world.clock()

    def _air(self) -> float:
        """The air stream's temperature: the setpoint while flowing, else the DUT's."""
        return self.setpoints[self.selected] if self.flow else self.world.temperature()

    def _select(self, text: str) -> None:
        self.selected = int(in_range(parse_int(text), 0, 2))
        self._drive()

    def _set_setpoint(self, value: float) -> None:
        low, high = self.limits
        if not low <= value <= high:
            raise ScpiError(
                DATA_OUT_OF_RANGE, f"{value:g} outside the air limits {low:g}..{high:g}"
            )
        self.setpoints[self.selected] = round(value, 1)
        self._drive()

    def _set_flow(self, on: bool) -> None:
        self.flow = on
        self._drive()

    def _set(self, name: str, value: float, low: float, high: float) -> None:
        setattr(self, name, in_range(value, low, high))

    def _limit(self, index: int, value: float, low: float, high: float) -> None:
        self.limits[index] = in_range(value, low, high)


def _tenth(value: float) -> str:
    """A temperature or setting as the ATS prints it: 0.1 resolution."""
    return f"{value:.1f}"
