"""Keithley 2450 SourceMeter in its native SCPI command set (reference manual, SCPI commands).

Limits are `ILIMit`/`VLIMit` of the source function and measure functions are selected by a
quoted name (`:SENSe:FUNCtion "CURRent"`), so the 2450 must be in the SCPI command set. Sweeps
replace the trigger model (`:SOURce:SWEep:<function>:LINear|LIST`), run with `:INITiate` into
`defbuffer1` and come back in one `:TRACe:DATA?`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from benchtest.driver.dialect import SourceCommand
from benchtest.driver.properties import switch
from benchtest.driver.scpi import (
    InvalidValueError,
    Reading,
    format_value,
    parse_int,
    parse_number,
    parse_text,
)
from benchtest.driver.source_meter import (
    KEYWORD_QUANTITY,
    SourceMeterBase,
    compliance,
    level_commands,
    select_source,
    source_level,
)
from benchtest.driver.sweeps import Function, SweepPlan, parse_points
from benchtest.values.errors import InstrumentError
from benchtest.values.sweep import SweepResult
from instruments.keithley.k2450_capture import Keithley2450Capture

if TYPE_CHECKING:
    from instruments.capabilities import SourceMeter

BUFFER = '"defbuffer1"'
#: The delay a sweep command takes besides 0 (none): 50 us to 10 000 s (reference manual).
SWEEP_DELAY_MIN, SWEEP_DELAY_MAX = 50e-6, 10_000.0


class Keithley2450(Keithley2450Capture, SourceMeterBase):
    """Keithley 2450 SourceMeter (native SCPI). Implements `SourceMeter` and, through its
    fast reading buffer, `CurrentProfiler` (`k2450_capture`)."""

    capabilities: ClassVar[tuple[str, ...]] = ("SourceMeter", "CurrentProfiler")
    driver_name = "keithley.k2450"
    max_sweep_points = 100_000  # read back in one :TRACe:DATA? (defbuffer1 is sized to fit)
    # Raw commands guarded beyond the declared properties: levels, lists, limits, sweeps
    # (`:SOURce:SWEep:<function>:LINear|LINear:STEP|LOG <start>,<stop>,...`).
    source_commands = (
        *level_commands(),
        SourceCommand("[:SOURce[<n>]]:VOLTage:ILIMit[:LEVel]", "current"),
        SourceCommand("[:SOURce[<n>]]:CURRent:VLIMit[:LEVel]", "voltage"),
        *(
            SourceCommand(f"[:SOURce[<n>]]:SWEep:{keyword}:{kind}", (quantity, quantity))
            for keyword, quantity in KEYWORD_QUANTITY
            for kind in ("LINear", "LINear:STEP", "LOG")
        ),
    )

    source_function = select_source(":SOURce:FUNCtion")
    voltage_setpoint = source_level(":SOURce:VOLTage", "voltage", 210.0)
    current_setpoint = source_level(":SOURce:CURRent", "current", 1.05)
    current_limit = compliance(":SOURce:VOLTage:ILIMit", "current", 1e-9, 1.05)
    voltage_limit = compliance(":SOURce:CURRent:VLIMit", "voltage", 0.02, 210.0)
    output_enabled = switch(":OUTPut:STATe", "Output relay on/off")
    reading = Reading(
        ":READ?", "Take one reading with the present measure function", parser=parse_number
    )
    language = Reading("*LANG?", "Command set: SCPI, TSP or SCPI2400", parser=parse_text)

    def on_connect(self) -> None:
        """Refuse an instrument that is not in the native SCPI command set, then `*CLS`."""
        language = self.language
        if language.upper() != "SCPI":
            raise InstrumentError(
                f"the 2450 uses the {language} command set, this driver needs SCPI: "
                "send *LANG SCPI and power-cycle the instrument (the change only takes "
                "effect after a power cycle)",
                role=self.role,
                command="*LANG?",
                received=language,
            )
        super().on_connect()

    def read_measurement(self, function: Function) -> float:
        return self.reading

    def _plan(
        self,
        source: Function,
        levels: Sequence[float],
        limit: float,
        delay: float | None,
        nplc: float | None,
    ) -> SweepPlan:
        """The shared checks, then the sweep delay the 2450 takes: 0, or 50 us to 10 000 s
        (None: auto delay); anything else is refused before a command is sent."""
        plan = super()._plan(source, levels, limit, delay, nplc)
        wait = plan.delay
        if wait is not None and wait != 0 and not SWEEP_DELAY_MIN <= wait <= SWEEP_DELAY_MAX:
            raise InvalidValueError(
                f"refused to sweep: a delay of {wait:g} s is outside what the 2450 takes "
                f"(0, or {SWEEP_DELAY_MIN:g} .. {SWEEP_DELAY_MAX:g} s); nothing was sent",
                role=self.role,
            )
        return plan

    def run_sweep(self, plan: SweepPlan) -> SweepResult:
        """defbuffer1 sized to hold the sweep, the sweep command, `:INITiate`, `*WAI`, then the
        buffer in one `:TRACe:DATA?`; the count after `*WAI` comes once the sweep is done, so it
        waits as long as the sweep takes."""
        duration = self.sweep_time(plan)
        self.hold_in_buffer(plan.points)
        for command in self.sweep_commands(plan):
            self.write(command)
        self.write(":INITiate", check=False)
        self.write("*WAI", check=False)
        with self.waiting(duration):
            stored = self.query_value(f":TRACe:ACTual? {BUFFER}", parse_int)
        if stored != plan.points:
            raise InstrumentError(
                f"the sweep stored {stored} of {plan.points} readings",
                role=self.role,
                command=f":TRACe:ACTual? {BUFFER}",
                received=str(stored),
            )
        rows = self.query_value(
            f":TRACe:DATA? 1,{stored},{BUFFER},SOUR,READ",
            lambda reply: parse_points(reply, 2, stored),
        )
        self.check_errors(after=":INITiate")
        return plan.result(rows[:, 0], rows[:, 1])

    def hold_in_buffer(self, points: int) -> None:
        """Grow defbuffer1 to hold `points` readings when it is smaller: it holds 10 000 after
        a reset (or what the last capture sized it to) and fills continuously, so a longer
        sweep would overwrite its own first readings."""
        capacity = self.query_value(f":TRACe:POINts? {BUFFER}", parse_int)
        if capacity < points:
            self.write(f":TRACe:POINts {points},{BUFFER}")

    @staticmethod
    def sweep_commands(plan: SweepPlan) -> list[str]:
        """Equally spaced levels as a linear sweep (delay -1: auto), others as a source list.

        Both complete even when the limit is reached (failAbort OFF) and store in defbuffer1.
        """
        if plan.linear:
            delay = -1 if plan.delay is None else plan.delay
            start, stop = format_value(plan.start), format_value(plan.stop)
            return [
                f":SOURce:SWEep:{plan.keyword}:LINear {start},{stop},{plan.points},"
                f"{format_value(delay)},1,BEST,OFF,OFF,{BUFFER}"
            ]
        pause = format_value(0.0 if plan.delay is None else plan.delay)  # lists: no auto delay
        return [
            *plan.list_commands(f":SOURce:LIST:{plan.keyword}"),
            f":SOURce:SWEep:{plan.keyword}:LIST 1,{pause},1,OFF,{BUFFER}",
        ]


if TYPE_CHECKING:
    _capability: type[SourceMeter] = Keithley2450
