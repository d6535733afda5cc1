"""Simulated Keithley 2400 SourceMeter in the classic SCPI command set.

Compliance is `:SENSe:<function>:PROTection`; `:READ?` runs the trigger count (a fixed level,
a staircase or a list, at most 2500 points) through the load and answers the `:FORMat:ELEMents`
of every point, always in the order voltage, current, resistance, time, status (NR3 with a
sign; 9.91E37 for an element neither sourced nor measured). The error queue holds 10 entries.
`:SOURce:DELay` (or its auto delay) and `:SYSTem:AZERo` shape a reading's time with real timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchtest.sim.models.load import Load
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.scpi import (
    Request,
    choice_regex,
    in_range,
    parse_bool,
    parse_choice,
    parse_float,
)
from benchtest.sim.server.timing import KEITHLEY_2400
from benchtest.sim.simulators.classic_sweep import ClassicSweep
from benchtest.sim.simulators.smu import NOT_A_NUMBER, SourceMeterServer

MAX_POINTS = 2500
ELEMENT_ORDER = ("VOLTAGE", "CURRENT", "RESISTANCE", "TIME", "STATUS")
_ELEMENTS = choice_regex("VOLTage", "CURRent", "RESistance", "TIME", "STATus")
_SHORT = {
    "VOLTAGE": "VOLT",
    "CURRENT": "CURR",
    "RESISTANCE": "RES",
    "TIME": "TIME",
    "STATUS": "STAT",
}
COMPLIANCE_BIT = 1 << 3
Point = dict[str, float]


class Keithley2400(SourceMeterServer):
    """`KEITHLEY INSTRUMENTS INC.,MODEL 2400` (classic SCPI)."""

    identity = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4104821,C32   Oct  4 2010 14:20:11/A02  /S/K"
    number_format = "{:+.6E}"
    error_queue_size = 10
    timing_model = KEITHLEY_2400

    def __init__(
        self, world: Load, *, role: str = "smu", journal: Journal | None = None, port: int = 0
    ) -> None:
        self._elements = list(ELEMENT_ORDER)
        self._t0 = time.monotonic()
        self._last: list[Point] = []
        self.sweep = ClassicSweep(self, trigger=":TRIGger", max_points=MAX_POINTS, list_chunk=100)
        super().__init__(world, role=role, journal=journal, port=port)

    def reset(self) -> None:
        super().reset()
        self.sweep.reset()
        self._elements = list(ELEMENT_ORDER)
        self.source_delay = None

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        self.register_source(":SOURce[1]:FUNCtion[:MODE]")
        self._register_protection("CURRent", "current_limit", 1e-9, self.max_current)
        self._register_protection("VOLTage", "voltage_limit", 2e-4, self.max_voltage)
        self.register_sense(":SENSe[1]")
        self.setting(":SENSe[1]:FUNCtion:CONCurrent", lambda r: "1", lambda r: None)
        self.setting(":FORMat:ELEMents[:SENSe]", self._elements_query, self._set_elements)
        self.setting(":SOURce[1]:DELay", self._delay_query, self._set_delay)
        self.setting(
            ":SOURce[1]:DELay:AUTO", lambda r: str(int(self.source_delay is None)), self._set_auto
        )
        self.setting(
            ":SYSTem:AZERo[:STATe]",
            lambda r: str(int(self._sense[self.sense_function].autozero)),
            self._set_autozero,
        )
        self.sweep.register()
        self.command(":MEASure:VOLTage[:DC]?", self._measure("VOLT"))
        self.command(":MEASure:CURRent[:DC]?", self._measure("CURR"))
        self.command(":READ?", lambda r: self._format(self._run()))
        self.command(":INITiate[:IMMediate]", lambda r: self._initiate())
        self.command(":FETCh?", lambda r: self._format(self._last))

    def _register_protection(self, function: str, field: str, low: float, high: float) -> None:
        node = f":SENSe[1]:{function}[:DC]:PROTection"
        self.register_number(f"{node}[:LEVel]", field, low, high)
        self.command(f"{node}:TRIPped?", self.tripped)

    # -- handlers ----------------------------------------------------------------------------

    def _elements_query(self, request: Request) -> str:
        return ",".join(_SHORT[e] for e in self._elements)

    def _set_elements(self, request: Request) -> None:
        chosen = {parse_choice(a, _ELEMENTS) for a in request.args if a}
        self._elements = [e for e in ELEMENT_ORDER if e in chosen] or list(ELEMENT_ORDER)

    def _delay_query(self, request: Request) -> str:
        return self.number(0.0 if self.source_delay is None else self.source_delay)

    def _set_delay(self, request: Request) -> None:
        self.source_delay = in_range(parse_float(request.arg()), 0.0, 9999.999)

    def _set_auto(self, request: Request) -> None:
        self.source_delay = None if parse_bool(request.arg()) else (self.source_delay or 0.0)

    def _set_autozero(self, request: Request) -> None:
        """ON, OFF, or ONCE (one refresh now, then off)."""
        once = request.arg().strip().upper() == "ONCE"
        self.set_autozero(False if once else parse_bool(request.arg()))

    def _measure(self, function: str) -> Callable[[Request], str]:
        def measure(request: Request) -> str:
            self.sense_function = function
            return self._format(self._run())

        return measure

    def _initiate(self) -> None:
        self._last = self._run()

    def _run(self) -> list[Point]:
        """One trigger run: every level of the programmed source, measured."""
        if self.sweep.fixed:
            self._last = [self._point() for _ in range(self.sweep.count)]
        else:
            self._last = self.run_levels(self.supply.function, self.sweep.levels(), self._point)
        return self._last

    def _point(self) -> Point:
        self.integrate(self.sense_function)
        status = COMPLIANCE_BIT if self.world.in_compliance() else 0
        return {
            "VOLTAGE": self.reading("VOLT"),
            "CURRENT": self.reading("CURR"),
            "RESISTANCE": NOT_A_NUMBER,
            "TIME": time.monotonic() - self._t0,
            "STATUS": float(status),
        }

    def _format(self, points: list[Point]) -> str:
        return ",".join(self.number(p[e]) for p in points for e in self._elements)
