"""Simulated Keithley 2450 SourceMeter speaking its native SCPI command set.

Source function, level and limit and the output state are pushed into the shared World, whose
DUT sets the current that `:READ?` returns. Out-of-range values go to the error queue as -222,
and the queue replies in the 2450's `code,"message;type;time"` layout.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from benchtest.sim.journal import Journal
from benchtest.sim.scpi import (
    ILLEGAL_PARAMETER_VALUE,
    Request,
    ScpiError,
    choice_regex,
    in_range,
    parse_bool,
    parse_choice,
    parse_float,
    unquote,
)
from benchtest.sim.scpi_server import ScpiServer
from benchtest.sim.world import SupplyState, World

MAX_VOLTAGE = 210.0
MAX_CURRENT = 1.05
OVERFLOW = 9.9e37
SENSE_RANGES = {"CURR": (10e-9, 1.05), "VOLT": (20e-3, 210.0)}
_FUNCTIONS = choice_regex("VOLTage", "CURRent")
_ELEMENTS = choice_regex("READing", "SOURce")
_SENSE_NAMES = {"CURR": '"CURR:DC"', "VOLT": '"VOLT:DC"'}


def nr3(value: float) -> str:
    """The 2450's reading format: `4.500000E-05`."""
    return f"{value:.6E}"


@dataclasses.dataclass
class SenseSettings:
    """Measure settings of one sense function."""

    range: float
    auto_range: bool = True
    nplc: float = 1.0


def _default_sense() -> dict[str, SenseSettings]:
    """Auto-ranging at the top range, 1 PLC, for both sense functions."""
    return {function: SenseSettings(high) for function, (_, high) in SENSE_RANGES.items()}


class Keithley2450(ScpiServer):
    """`KEITHLEY INSTRUMENTS INC.,MODEL 2450` in its native SCPI mode."""

    identity = "KEITHLEY INSTRUMENTS INC.,MODEL 2450,04412345,1.7.3c"

    def __init__(
        self, world: World, *, role: str = "smu", journal: Journal | None = None, port: int = 0
    ) -> None:
        self.world = world
        self._journal = journal or Journal()
        self._supply = SupplyState()
        self._sense_function = "CURR"
        self._sense = _default_sense()
        super().__init__(role=role, port=port)

    def format_error(self, code: int, message: str) -> str:
        if code == 0:
            return '0,"No error;0;0 0"'
        now = time.time()
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))
        return f'{code},"{message};1;{stamp}.{int(now % 1 * 1000):03d}"'

    def reset(self) -> None:
        self._sense_function = "CURR"
        self._sense = _default_sense()
        self._apply(SupplyState())

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        self.command("*LANG?", lambda r: "SCPI")
        self.command("*LANG", self._set_language)
        self._register_source()
        self._register_sense()
        self.setting(
            ":OUTPut[1][:STATe]", lambda r: str(int(self._supply.output)), self._set_output
        )
        self.command(":READ?", self._read)
        self.command(":SYSTem:ERRor:COUNt?", lambda r: str(self.error_count()))
        self.command(":SYSTem:CLEar", lambda r: self.clear_status())

    def _register_source(self) -> None:
        src = ":SOURce[1]"
        self.setting(f"{src}:FUNCtion[:MODE]", lambda r: self._supply.function, self._set_function)
        level = "[:LEVel][:IMMediate][:AMPLitude]"
        self.setting(
            f"{src}:VOLTage{level}",
            lambda r: nr3(self._supply.voltage),
            lambda r: self._set("voltage", r, MAX_VOLTAGE),
        )
        self.setting(
            f"{src}:CURRent{level}",
            lambda r: nr3(self._supply.current),
            lambda r: self._set("current", r, MAX_CURRENT),
        )
        self.setting(
            f"{src}:VOLTage:ILIMit[:LEVel]",
            lambda r: nr3(self._supply.current_limit),
            lambda r: self._set("current_limit", r, MAX_CURRENT, low=1e-9),
        )
        self.setting(
            f"{src}:CURRent:VLIMit[:LEVel]",
            lambda r: nr3(self._supply.voltage_limit),
            lambda r: self._set("voltage_limit", r, MAX_VOLTAGE, low=0.02),
        )
        self.command(f"{src}:VOLTage:ILIMit[:LEVel]:TRIPped?", self._tripped)
        self.command(f"{src}:CURRent:VLIMit[:LEVel]:TRIPped?", self._tripped)

    def _register_sense(self) -> None:
        self.setting(
            ":SENSe[1]:FUNCtion[:ON]",
            lambda r: _SENSE_NAMES[self._sense_function],
            self._set_sense_function,
        )
        self._register_sense_function("VOLTage")
        self._register_sense_function("CURRent")

    def _register_sense_function(self, function: str) -> None:
        key = function[:4].upper()
        settings = self._sense_settings(key)
        low, high = SENSE_RANGES[key]
        node = f":SENSe[1]:{function}[:DC]"

        def set_range(request: Request) -> None:
            settings().range = in_range(abs(parse_float(request.arg())), low, high)
            settings().auto_range = False

        def set_auto(request: Request) -> None:
            settings().auto_range = parse_bool(request.arg())

        def set_nplc(request: Request) -> None:
            settings().nplc = in_range(parse_float(request.arg()), 0.01, 10.0)

        self.setting(f"{node}:RANGe[:UPPer]", lambda r: nr3(settings().range), set_range)
        self.setting(f"{node}:RANGe:AUTO", lambda r: str(int(settings().auto_range)), set_auto)
        self.setting(f"{node}:NPLCycles", lambda r: nr3(settings().nplc), set_nplc)
        self.command(f":MEASure:{function}[:DC]?", lambda r: self._measure(key, r))

    def _sense_settings(self, key: str) -> Callable[[], SenseSettings]:
        """A getter, because `*RST` replaces the settings objects."""
        return lambda: self._sense[key]

    # -- handlers ----------------------------------------------------------------------------

    def _set_language(self, request: Request) -> None:
        if request.arg().upper() not in ("SCPI", "TSP", "SCPI2400"):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        # The real instrument switches only after a power cycle; the simulator stays in SCPI.

    def _set_function(self, request: Request) -> None:
        function = parse_choice(request.arg(), _FUNCTIONS)[:4]
        self._apply(dataclasses.replace(self._supply, function=function))

    def _set(self, field: str, request: Request, limit: float, low: float | None = None) -> None:
        value = in_range(parse_float(request.arg()), -limit if low is None else low, limit)
        changes: dict[str, Any] = {field: value}
        self._apply(dataclasses.replace(self._supply, **changes))

    def _set_output(self, request: Request) -> None:
        self._apply(dataclasses.replace(self._supply, output=parse_bool(request.arg())))

    def _set_sense_function(self, request: Request) -> None:
        name = unquote(request.arg()).upper().removesuffix(":DC")
        self._sense_function = parse_choice(name, _FUNCTIONS)[:4]

    def _tripped(self, request: Request) -> str:
        return str(int(self.world.in_compliance()))

    def _read(self, request: Request) -> str:
        """`:READ? ["<buffer>"[,<element>...]]`: READing and SOURce elements are supported."""
        if request.args:
            unquote(request.args[0])
        elements = [parse_choice(e, _ELEMENTS) for e in request.args[1:]] or ["READING"]
        reading = self._reading(self._sense_function)
        source = self._supply.voltage if self._supply.function == "VOLT" else self._supply.current
        return ",".join(nr3(reading if e == "READING" else source) for e in elements)

    def _measure(self, function: str, request: Request) -> str:
        self._sense_function = function
        return self._read(request)

    def _reading(self, function: str) -> float:
        value = self.world.input_current() if function == "CURR" else self._voltage_reading()
        settings = self._sense[function]
        if not settings.auto_range and abs(value) > settings.range * 1.05:
            return OVERFLOW
        return value

    def _voltage_reading(self) -> float:
        if self._supply.function == "VOLT":
            return self._supply.voltage if self._supply.output else 0.0
        return self.world.input_voltage()

    def _apply(self, state: SupplyState) -> None:
        """Push a new source state into the world and journal what changed."""
        old, self._supply = self._supply, state
        for field in dataclasses.fields(SupplyState):
            before, after = getattr(old, field.name), getattr(state, field.name)
            if before != after:
                self._journal.record(self.role, field.name, after)
        self.world.apply_supply(state)
