"""Simulated SCPI digital multimeter (Keysight 34461A dialect) reading the DUT's nets.

`:MEASure`, `:CONFigure`, `[:SENSe]:<function>:NPLCycles` and `:READ?` for DC volts and amperes
and two- and four-wire ohms, printed as `+3.30000000E+00`. It reads the voltage of the net the
profile maps to its role (the input current when that net is `vin`; ohms see open terminals),
and 9.9E37 beyond a fixed range. With real timing `:READ?` and `:MEASure?` take the integration
time (NPLC / line frequency, twice that with autozero, which is on from 1 PLC up).
"""

from __future__ import annotations

from collections.abc import Callable

from benchtest.sim.models.world import World
from benchtest.sim.server.scpi import DATA_OUT_OF_RANGE, Request, ScpiError, in_range, parse_float
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.server.timing import DMM_AUTOZERO_FACTOR, DMM_AUTOZERO_MIN_NPLC

OVERLOAD = 9.9e37
FUNCTIONS = {
    "VOLTage[:DC]": "VOLT",
    "CURRent[:DC]": "CURR",
    "RESistance": "RES",
    "FRESistance": "FRES",
}
TOP_RANGE = {"VOLT": 1000.0, "CURR": 3.0, "RES": 100e6, "FRES": 100e6}
NPLC_STEPS = (0.02, 0.2, 1.0, 10.0, 100.0)  # the 34461A rounds a setting up to one of these


class ScpiMultimeter(ScpiServer):
    """`Keysight Technologies,34461A` measuring `net` of the world (None: nothing connected)."""

    identity = "Keysight Technologies,34461A,MY53200000,A.02.14-02.40-02.14-00.49-02-01"

    def __init__(self, world: World, net: str | None, *, role: str = "dmm", port: int = 0) -> None:
        self.world = world
        self.net = net
        self.function = "VOLT"
        self.range: float | None = None  # None: autorange
        self.nplc = dict.fromkeys(TOP_RANGE, 10.0)
        super().__init__(role=role, port=port)

    def format_error(self, code: int, message: str) -> str:
        return f'{code:+d},"{message}"'

    def reset(self) -> None:
        self.function, self.range = "VOLT", None
        self.nplc = dict.fromkeys(TOP_RANGE, 10.0)

    def register(self) -> None:
        for node, key in FUNCTIONS.items():
            self.command(f":MEASure:{node}?", self._measure(key))
            self.command(f":CONFigure:{node}", self._configure(key))
            self.setting(f"[:SENSe]:{node}:NPLCycles", *self._nplc(key))
        self.command(":READ?", lambda r: _format(self.measure()))
        self.command(":INITiate[:IMMediate]", lambda r: None)
        self.command(":FETCh?", lambda r: _format(self.value()))

    def measure(self) -> float:
        """A new reading: with real timing it takes the integration time first."""
        nplc = self.nplc[self.function]
        factor = DMM_AUTOZERO_FACTOR if nplc >= DMM_AUTOZERO_MIN_NPLC else 1.0
        self.delays.wait(nplc / self.delays.timing.line_frequency * factor)
        return self.value()

    def value(self) -> float:
        """The present reading of the configured function and range."""
        value = self._physical()
        top = self.range if self.range is not None else TOP_RANGE[self.function]
        return OVERLOAD if abs(value) > top * 1.2 else value

    def _physical(self) -> float:
        if self.function == "VOLT":
            return self.world.net_value(self.net, self.world.clock()) if self.net else 0.0
        if self.function == "CURR":
            return self.world.input_current() if self.net == "vin" else 0.0
        return OVERLOAD  # nothing connected between the ohms terminals

    # -- handlers ----------------------------------------------------------------------------

    def _configure(self, function: str) -> Callable[[Request], None]:
        def configure(request: Request) -> None:
            self.range = self._range(function, request)
            self.function = function

        return configure

    def _measure(self, function: str) -> Callable[[Request], str]:
        configure = self._configure(function)

        def measure(request: Request) -> str:
            configure(request)
            return _format(self.measure())

        return measure

    def _nplc(self, function: str) -> tuple[Callable[[Request], str], Callable[[Request], None]]:
        def query(request: Request) -> str:
            return _format(self.nplc[function])

        def write(request: Request) -> None:
            wanted = in_range(parse_float(request.arg()), NPLC_STEPS[0], NPLC_STEPS[-1])
            self.nplc[function] = min(step for step in NPLC_STEPS if step >= wanted)

        return query, write

    @staticmethod
    def _range(function: str, request: Request) -> float | None:
        """The range argument: AUTO/DEF (None), MIN, MAX or a number up to the top range."""
        word = request.args[0].strip().upper() if request.args and request.args[0] else "AUTO"
        if word in ("AUTO", "DEF"):
            return None
        if word in ("MIN", "MAX"):
            return TOP_RANGE[function] if word == "MAX" else TOP_RANGE[function] * 1e-5
        value = parse_float(word)
        if not 0 < value <= TOP_RANGE[function]:
            raise ScpiError(DATA_OUT_OF_RANGE, word)
        return value


def _format(value: float) -> str:
    return f"{value:+.8E}"
