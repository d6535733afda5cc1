"""Simulated Keysight B2901A source/measure unit (one channel) in its SCPI dialect.

Channel-numbered nodes (`:SOURce1:`, `:SENSe1:…:PROTection`, `:OUTPut1`), spot readings with
`:MEASure:<function>? (@1)` and errors as `+0,"No error"`. Sweeps programmed in the source
subsystem run on `:INITiate (@1)` and `:FETCh:ARRay? (@1)` answers the `:FORMat:ELEMents:SENSe`
elements of every point, 9.91E37 for a function that is not measured. With real timing every
reading (spot or swept) takes its integration time after the source delay. In a sweep each
point is a trigger of both device actions (AINT): the source changes `:TRIGger:TRANsient:
DELay` after it and the measurement starts `:TRIGger:ACQuire:DELay` after it, once the source
delay since the change is over too (`:TRIGger[:ALL]:DELay` sets both; 0 to 100 000 s). A spot
`:MEASure?` is not a trigger-system action: the trigger delays do not apply to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from benchtest.sim.models.load import Load, SupplyState
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.scpi import (
    ILLEGAL_PARAMETER_VALUE,
    Request,
    ScpiError,
    choice_regex,
    in_range,
    parse_choice,
    parse_float,
)
from benchtest.sim.server.timing import KEYSIGHT_B2900
from benchtest.sim.simulators.b2900_acquire import TimerAcquisition
from benchtest.sim.simulators.classic_sweep import ClassicSweep
from benchtest.sim.simulators.smu import NOT_A_NUMBER, SourceMeterServer

MAX_POINTS = 2500
ELEMENT_ORDER = ("VOLTAGE", "CURRENT", "RESISTANCE", "TIME", "STATUS", "SOURCE")
_ELEMENTS = choice_regex("VOLTage", "CURRent", "RESistance", "TIME", "STATus", "SOURce")
_TRIGGER_SOURCES = choice_regex("AINT", "BUS", "TIMer", "INT1", "INT2", "LAN", "EXT1")
MAX_TRIGGER_DELAY = 1e5  # s, :TRIGger<c>:{ACQuire|TRANsient|ALL}:DELay
# The trigger layers with a delay, and the device actions each one sets.
_DELAY_LAYERS = {"[:ALL]": ("ACQ", "TRAN"), ":ACQuire": ("ACQ",), ":TRANsient": ("TRAN",)}
Point = dict[str, float]


class KeysightB2900(SourceMeterServer):
    """`Keysight Technologies,B2901A` (channel 1 only)."""

    identity = "Keysight Technologies,B2901A,MY51140001,3.4.2011.5100"
    number_format = "{:+.6E}"
    max_current = 3.03
    sense_ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "CURR": (100e-9, 3.03),
        "VOLT": (0.2, 210.0),
    }
    nplc_range = (4e-4, 100.0)
    timing_model = KEYSIGHT_B2900

    def __init__(
        self, world: Load, *, role: str = "smu", journal: Journal | None = None, port: int = 0
    ) -> None:
        self._elements = ["VOLTAGE", "CURRENT"]
        self._data: list[Point] = []
        self._t0 = time.monotonic()
        self.trigger_delay = {"ACQ": 0.0, "TRAN": 0.0}  # s, per device action
        self._sweeping = False
        self._triggered = 0.0  # monotonic time of the present sweep point's trigger
        self.sweep = ClassicSweep(
            self, trigger=":TRIGger[1][:ALL]", max_points=MAX_POINTS, list_chunk=MAX_POINTS
        )
        super().__init__(world, role=role, journal=journal, port=port)

    def format_error(self, code: int, message: str) -> str:
        return f'{code:+d},"{message}"'

    def reset(self) -> None:
        super().reset()
        self.sweep.reset()
        self._elements = ["VOLTAGE", "CURRENT"]
        self.trigger_delay = {"ACQ": 0.0, "TRAN": 0.0}

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        # first: its :SENSe:FUNCtion:ON takes several functions (current profiling)
        TimerAcquisition(
            self, elements=lambda: self._elements, delay=lambda: self.trigger_delay["ACQ"]
        ).register()
        self.register_source(":SOURce[1]:FUNCtion[:MODE]")
        for function, field, low, high in (
            ("CURRent", "current_limit", 1e-12, self.max_current),
            ("VOLTage", "voltage_limit", 0.0, self.max_voltage),
        ):
            node = f":SENSe[1]:{function}[:DC]:PROTection"
            self.register_number(f"{node}[:LEVel]", field, low, high)
            self.command(f"{node}:TRIPped?", self.tripped)
        self.register_sense(":SENSe[1]")
        self.sweep.register()
        self.setting(":TRIGger[1][:ALL]:SOURce", lambda r: "AINT", self._set_trigger_source)
        for layer, actions in _DELAY_LAYERS.items():
            self.setting(
                f":TRIGger[1]{layer}:DELay", self._delay_query(actions[0]), self._delay(actions)
            )
        self.setting(":FORMat:ELEMents:SENSe", self._elements_query, self._set_elements)
        self.command(":MEASure:VOLTage[:DC]?", self._measure("VOLT"))
        self.command(":MEASure:CURRent[:DC]?", self._measure("CURR"))
        self.command(":INITiate[:IMMediate][:ALL]", self._initiate)
        self.command(":FETCh:ARRay?", self._fetch)

    # -- handlers ----------------------------------------------------------------------------

    def _set_trigger_source(self, request: Request) -> None:
        parse_choice(request.arg(), _TRIGGER_SOURCES)

    def _delay_query(self, action: str) -> Callable[[Request], str]:
        return lambda request: self.number(self.trigger_delay[action])

    def _delay(self, actions: tuple[str, ...]) -> Callable[[Request], None]:
        def set_delay(request: Request) -> None:
            word = request.arg().strip().upper()
            if word in ("MIN", "MINIMUM", "DEF", "DEFAULT"):
                value = 0.0
            elif word in ("MAX", "MAXIMUM"):
                value = MAX_TRIGGER_DELAY
            else:
                value = in_range(parse_float(word), 0.0, MAX_TRIGGER_DELAY)
            for action in actions:
                self.trigger_delay[action] = value

        return set_delay

    def _elements_query(self, request: Request) -> str:
        return ",".join(e[:4] for e in self._elements)

    def _set_elements(self, request: Request) -> None:
        chosen = {parse_choice(a, _ELEMENTS) for a in request.args if a}
        self._elements = [e for e in ELEMENT_ORDER if e in chosen]
        if not self._elements:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)

    def _measure(self, function: str) -> Callable[[Request], str]:
        def measure(request: Request) -> str:
            self._channels(request)
            self.sense_function = function
            self.integrate(function)
            return self.number(self.reading(function))

        return measure

    def _initiate(self, request: Request) -> None:
        self._channels(request)
        self._sweeping = True
        try:
            self._data = self.run_levels(self.supply.function, self.sweep.levels(), self._point)
        finally:
            self._sweeping = False

    def apply(self, state: SupplyState, *, record: bool = True) -> None:
        """In a sweep each level is a point's trigger: the source changes the transient
        delay after it."""
        if self._sweeping:
            self._triggered = time.monotonic()
            self.delays.wait(self.trigger_delay["TRAN"])
        super().apply(state, record=record)

    def _fetch(self, request: Request) -> str:
        self._channels(request)
        return ",".join(self.number(p[e]) for p in self._data for e in self._elements)

    def _point(self) -> Point:
        measured = {"VOLT": "VOLTAGE", "CURR": "CURRENT"}[self.sense_function]
        self.delays.until(self._triggered + self.trigger_delay["ACQ"])  # the acquire delay
        self.integrate(self.sense_function)  # after the source delay too, then integrating
        point = dict.fromkeys(ELEMENT_ORDER, NOT_A_NUMBER)
        point[measured] = self.reading(self.sense_function)
        point["SOURCE"] = self.source_level()
        point["TIME"] = time.monotonic() - self._t0
        point["STATUS"] = 0.0
        return point

    @staticmethod
    def _channels(request: Request) -> None:
        """The optional channel list must name channel 1: the B2901A has no other."""
        if request.args and request.args[0].replace(" ", "") not in ("(@1)", ""):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"channel list {request.args[0]}")
