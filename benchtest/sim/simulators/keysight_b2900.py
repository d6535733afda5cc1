"""Simulated Keysight B2901A (one channel) and B2902A (two) source/measure units in their dialect.

Channel-numbered nodes (`:SOURce1:`, `:SENSe1:…:PROTection`, `:OUTPut1`), spot readings with
`:MEASure:<function>? (@1)` and errors as `+0,"No error"`. Sweeps programmed in the source
subsystem run on `:INITiate (@1)` and `:FETCh:ARRay? (@1)` answers the `:FORMat:ELEMents:SENSe`
elements of every point, 9.91E37 for a function that is not measured. With real timing every
reading (spot or swept) takes its integration time after the source delay. In a sweep each
point is a trigger of both device actions (AINT): the source changes `:TRIGger:TRANsient:
DELay` after it and the measurement starts `:TRIGger:ACQuire:DELay` after it, once the source
delay since the change is over too (`:TRIGger[:ALL]:DELay` sets both; 0 to 100 000 s). A spot
`:MEASure?` is not a trigger-system action: the trigger delays do not apply to it.

The B2902A's channel 2 is addressed as the programming guide does it: the suffix of the first
node (`:SOURce2:VOLTage`, `:SENSe2:CURRent:PROTection`, `:OUTPut2`, `:TRIGger2`, `:TRACe2`)
or the channel list (`:MEASure:CURRent? (@2)`, `:INITiate (@2)`, `:FETCh:ARRay? (@2)`). It has
a source of its own on its own load; the error queue, `:FORMat` and the line frequency are the
instrument's. A list of both channels (`(@1,2)`) is refused (-224): the simulator answers one
channel per command.
"""

from __future__ import annotations

import re
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
from benchtest.sim.server.scpi_server import Reply
from benchtest.sim.server.timing import KEYSIGHT_B2900, Timing
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
# The first node of a channel-2 command, and a channel list naming channel 2 alone.
_CHANNEL_2_NODE = re.compile(
    r"^(:?(?:SOURce|SOUR|SENSe|SENS|OUTPut|OUTP|TRIGger|TRIG|TRACe|TRAC|ARM|CALCulate|CALC))2"
    r"(?=[:?\s]|$)",
    re.IGNORECASE,
)
_CHANNEL_2_LIST = re.compile(r"\(\s*@\s*2\s*\)")


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


class KeysightB2902(KeysightB2900):
    """`Keysight Technologies,B2902A`: channel 1 (this server, sourcing `load`) and channel 2
    (`second`, sourcing `second_load`, journalled as `second_role`) on one connection."""

    identity = "Keysight Technologies,B2902A,MY51140002,3.4.2011.5100"

    def __init__(
        self,
        load: Load,
        second_load: Load,
        *,
        role: str = "smu",
        second_role: str = "smu_2",
        journal: Journal | None = None,
        port: int = 0,
    ) -> None:
        self.second = _SecondChannel(self, second_load, role=second_role, journal=journal)
        super().__init__(load, role=role, journal=journal, port=port)

    def use_timing(self, timing: Timing) -> None:
        super().use_timing(timing)
        self.second.use_timing(timing)

    def stop(self) -> None:
        self.second.delays.cancel()  # its reading or sweep in progress ends now too
        super().stop()

    def reset(self) -> None:
        super().reset()
        self.second.reset()  # *RST resets both channels

    def _execute(self, text: str) -> Reply:
        header, _, rest = text.partition(" ")
        node = _CHANNEL_2_NODE.match(header)
        if node is None and not _CHANNEL_2_LIST.search(rest):
            return super()._execute(text)
        if node is not None:
            header = node.group(1) + header[node.end() :]
        on_channel_1 = " ".join(filter(None, (header, _CHANNEL_2_LIST.sub("(@1)", rest))))
        return self.second._execute(on_channel_1)


class _SecondChannel(KeysightB2900):
    """Channel 2 of a `KeysightB2902`, its commands spelt as channel 1's; its errors and
    `:FORMat:ELEMents` are the instrument's."""

    def __init__(
        self, instrument: KeysightB2902, load: Load, *, role: str, journal: Journal | None
    ) -> None:
        self.instrument = instrument
        super().__init__(load, role=role, journal=journal)

    @property
    def _elements(self) -> list[str]:
        return self.instrument._elements

    @_elements.setter
    def _elements(self, elements: list[str]) -> None:
        self.instrument._elements = elements

    def push_error(self, code: int, message: str) -> None:
        self.instrument.push_error(code, message)
