"""`SourceMeterServer`: what the simulated SMUs (Keithley 2450/2400, Keysight B2900) share.

The source state (function, levels, limits, output) is pushed into the `Load` the output is
wired to (the world's DUT input, or an open circuit), readings come back from it, with a fixed
measure range overflowing to 9.9E37, and `run_levels` steps a sweep through the load point by
point. Subclasses register their own dialect on top of the common source and sense nodes.
With real timing (`use_timing`) a reading takes its model's time (`integrate`): the source delay
still due after a source change, then NPLC / line frequency, longer with autozero on.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from benchtest.sim.models.load import Load, SupplyState
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.scpi import (
    Request,
    choice_regex,
    in_range,
    parse_bool,
    parse_choice,
    parse_float,
    unquote,
)
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.server.timing import KEITHLEY_2450, SourceMeterTiming

R = TypeVar("R")
OVERFLOW = 9.9e37
NOT_A_NUMBER = 9.91e37  # an element that is neither sourced nor measured
FUNCTIONS = choice_regex("VOLTage", "CURRent")
LEVEL = "[:LEVel][:IMMediate][:AMPLitude]"


@dataclasses.dataclass
class SenseSettings:
    """Measure settings of one sense function."""

    range: float
    auto_range: bool = True
    nplc: float = 1.0
    autozero: bool = True


class SourceMeterServer(ScpiServer):
    """A simulated SMU; `number_format` prints readings and settings the model's way, and
    `timing_model` says how long its readings take with real timing.

    `source_delay` is the delay between a source change and the next reading (None: the
    model's auto delay for the present current range).
    """

    max_voltage: ClassVar[float] = 210.0
    max_current: ClassVar[float] = 1.05
    sense_ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "CURR": (10e-9, 1.05),
        "VOLT": (20e-3, 210.0),
    }
    nplc_range: ClassVar[tuple[float, float]] = (0.01, 10.0)
    number_format: ClassVar[str] = "{:.6E}"
    timing_model: ClassVar[SourceMeterTiming] = KEITHLEY_2450

    def __init__(
        self, load: Load, *, role: str = "smu", journal: Journal | None = None, port: int = 0
    ) -> None:
        self.world = load
        self._journal = journal or Journal()
        self._supply = SupplyState()
        self.sense_function = "CURR"
        self._sense = self._default_sense()
        self.source_delay: float | None = None
        self._changed_at: float | None = None  # monotonic time of the last source change
        self._autoranged = self.sense_ranges["CURR"][1]  # A, the last autoranged current
        super().__init__(role=role, port=port)

    def number(self, value: float) -> str:
        return self.number_format.format(value)

    def reset(self) -> None:
        self.sense_function = "CURR"
        self._sense = self._default_sense()
        self.apply(SupplyState())

    def _default_sense(self) -> dict[str, SenseSettings]:
        """Auto-ranging at the top range, 1 PLC, for both sense functions."""
        return {key: SenseSettings(high) for key, (_, high) in self.sense_ranges.items()}

    # -- the common nodes ----------------------------------------------------------------

    def register_source(self, function_node: str) -> None:
        """Source function at `function_node`, the two levels and the output state."""
        self.setting(function_node, lambda r: self._supply.function, self._set_function)
        for name, field, limit in (
            ("VOLTage", "voltage", self.max_voltage),
            ("CURRent", "current", self.max_current),
        ):
            self.register_number(f":SOURce[1]:{name}{LEVEL}", field, -limit, limit)
        self.setting(
            ":OUTPut[1][:STATe]", lambda r: str(int(self._supply.output)), self._set_output
        )

    def register_number(self, pattern: str, field: str, low: float, high: float) -> None:
        """A numeric field of the source state, settable and queryable at `pattern`."""

        def write(request: Request) -> None:
            changes: dict[str, Any] = {field: in_range(parse_float(request.arg()), low, high)}
            self.apply(dataclasses.replace(self._supply, **changes))

        self.setting(pattern, lambda r: self.number(getattr(self._supply, field)), write)

    def register_sense(self, node: str) -> None:
        """`<node>:FUNCtion` (quoted) and range/autorange/NPLC of both sense functions, and
        `:SYSTem:LFRequency?`, the line frequency the integration time counts in."""
        self.setting(f"{node}:FUNCtion[:ON]", self._sense_name, self._set_sense_function)
        for function in ("VOLTage", "CURRent"):
            self._register_sense_function(node, function)
        self.command(":SYSTem:LFRequency?", lambda r: f"{self.delays.timing.line_frequency:g}")

    def set_autozero(self, state: bool, *functions: str) -> None:
        """Autozero on or off for the sense `functions` (VOLT, CURR; none named: both)."""
        for key in functions or tuple(self._sense):
            self._sense[key].autozero = state

    def _register_sense_function(self, node: str, function: str) -> None:
        key = function[:4].upper()
        settings = self._sense_settings(key)
        low, high = self.sense_ranges[key]
        prefix = f"{node}:{function}[:DC]"

        def set_range(request: Request) -> None:
            settings().range = in_range(abs(parse_float(request.arg())), low, high)
            settings().auto_range = False

        def set_auto(request: Request) -> None:
            settings().auto_range = parse_bool(request.arg())

        def set_nplc(request: Request) -> None:
            settings().nplc = in_range(parse_float(request.arg()), *self.nplc_range)

        self.setting(f"{prefix}:RANGe[:UPPer]", lambda r: self.number(settings().range), set_range)
        self.setting(f"{prefix}:RANGe:AUTO", lambda r: str(int(settings().auto_range)), set_auto)
        self.setting(f"{prefix}:NPLCycles", lambda r: self.number(settings().nplc), set_nplc)

    def _sense_settings(self, key: str) -> Callable[[], SenseSettings]:
        """A getter, because `*RST` replaces the settings objects."""
        return lambda: self._sense[key]

    def _sense_name(self, request: Request) -> str:
        return f'"{self.sense_function}:DC"'

    # -- handlers ------------------------------------------------------------------------

    def _set_function(self, request: Request) -> None:
        function = parse_choice(request.arg(), FUNCTIONS)[:4]
        self.apply(dataclasses.replace(self._supply, function=function))

    def _set_output(self, request: Request) -> None:
        self.apply(dataclasses.replace(self._supply, output=parse_bool(request.arg())))

    def _set_sense_function(self, request: Request) -> None:
        name = unquote(request.arg()).upper().removesuffix(":DC")
        self.sense_function = parse_choice(name, FUNCTIONS)[:4]

    def tripped(self, request: Request) -> str:
        return str(int(self.world.in_compliance()))

    # -- physics -------------------------------------------------------------------------

    @property
    def supply(self) -> SupplyState:
        return self._supply

    def source_level(self) -> float:
        return self._supply.voltage if self._supply.function == "VOLT" else self._supply.current

    def reading(self, function: str) -> float:
        """The measured current or voltage, 9.9E37 beyond a fixed range."""
        if function == "CURR":
            value = self.world.input_current()
        elif self._supply.function == "VOLT":
            value = self._supply.voltage if self._supply.output else 0.0
        else:
            value = self.world.input_voltage()
        settings = self._sense[function]
        if function == "CURR" and settings.auto_range:
            self._autoranged = abs(value)
        if not settings.auto_range and abs(value) > settings.range * 1.05:
            return OVERFLOW
        return value

    def integrate(self, function: str) -> None:
        """Take the time one reading of `function` takes on the real model: the source delay
        still due since the last source change, then the integration (nothing when instant)."""
        if not self.delays.real:
            return
        if self._changed_at is not None:
            delay = self.source_delay
            if delay is None:
                delay = self.timing_model.source_delay(self._current_range(), self._supply.function)
            self.delays.until(self._changed_at + delay)
        settings = self._sense[function]
        line_frequency = self.delays.timing.line_frequency
        self.delays.wait(
            self.timing_model.reading_time(settings.nplc, line_frequency, settings.autozero)
        )

    def _current_range(self) -> float:
        """The current range the auto delay goes by: the measure range when sourcing voltage
        (where autorange left it), the sourced current otherwise."""
        if self._supply.function == "CURR":
            return abs(self._supply.current)
        sense = self._sense["CURR"]
        return self._autoranged if sense.auto_range else sense.range

    def run_levels(
        self,
        function: str,
        levels: Sequence[float],
        measure: Callable[[], R],
        *,
        delay: float | None = None,
    ) -> list[R]:
        """Source each level of `function` with the output on and `measure()` at each;
        `delay` is the sweep's source delay (None: the instrument's `source_delay`)."""
        field = "voltage" if function == "VOLT" else "current"
        before, points = self._supply, []
        saved = self.source_delay
        if delay is not None:
            self.source_delay = delay
        try:
            for level in levels:
                changes: dict[str, Any] = {"function": function, "output": True, field: level}
                self.apply(dataclasses.replace(self._supply, **changes), record=False)
                points.append(measure())
        finally:
            self.source_delay = saved
        self._journal.record(self.role, "sweep", len(points))
        self._record(before, self._supply)
        return points

    def apply(self, state: SupplyState, *, record: bool = True) -> None:
        """Push a new source state into the load and journal what changed; the output turned
        on, or a new source level while on, starts the source delay."""
        old, self._supply = self._supply, state
        if state.output and (not old.output or _level(state) != _level(old)):
            self._changed_at = time.monotonic()
        if record:
            self._record(old, state)
        self.world.apply_supply(state)

    def _record(self, old: SupplyState, new: SupplyState) -> None:
        for field in dataclasses.fields(SupplyState):
            before: Any = getattr(old, field.name)
            after: Any = getattr(new, field.name)
            if before != after:
                self._journal.record(self.role, field.name, after)


def _level(state: SupplyState) -> tuple[str, float]:
    """What the source puts out: its function and level."""
    return state.function, state.voltage if state.function == "VOLT" else state.current
