"""Buffered sweeps in the classic SCPI source subsystem (Keithley 2400, Keysight B2900).

Both families program a sweep the same way: `:SOURce<ch>:<function>:MODE SWEep` with
`STARt`/`STOP` and `:SOURce<ch>:SWEep:POINts`, or `MODE LIST` with `:SOURce<ch>:LIST:<function>`
(at most 100 values per command, then `:APPend`), and a trigger count of one per point. How the
sweep is started and read back differs per model (`acquire`).
"""

from __future__ import annotations

from benchtest.driver.dialect import SourceCommand
from benchtest.driver.properties import number
from benchtest.driver.scpi import Control, apply_settings
from benchtest.driver.source_meter import (
    KEYWORD_QUANTITY,
    FunctionChannel,
    SourceMeterBase,
    level_commands,
)
from benchtest.driver.sweeps import Function, SweepPlan
from benchtest.driver.transport import Transport
from benchtest.values.ratings import NO_GUARD, SourceGuard
from benchtest.values.sweep import SweepResult


class SweepSource(FunctionChannel):
    """`:SOURce<ch>:<function>` sweep settings: source mode, start and stop level."""

    mode = Control(
        ":SOURce{ch}:{function}:MODE?",
        ":SOURce{ch}:{function}:MODE {value}",
        "Fixed level, staircase sweep or list",
        values={"fixed": "FIXed", "sweep": "SWEep", "list": "LIST"},
    )
    start = number(":SOURce{ch}:{function}:STARt", "Staircase sweep start level", -210.0, 210.0)
    stop = number(":SOURce{ch}:{function}:STOP", "Staircase sweep stop level", -210.0, 210.0)


class ClassicSourceMeter(SourceMeterBase):
    """A source meter whose sweeps use the classic SCPI source subsystem.

    Its raw source and limit commands: the level (immediate and triggered), the staircase's
    start, stop, centre and span, the list, the source's protection level and the compliance
    `[:SENSe]:<function>[:DC]:PROTection[:LEVel][:POSitive|:NEGative]`.
    """

    source_commands = (
        *level_commands(),
        *(
            SourceCommand(f"[:SOURce[<n>]]:{keyword}{tail}", quantity)
            for keyword, quantity in KEYWORD_QUANTITY
            for tail in (
                "[:LEVel]:TRIGgered[:AMPLitude]",
                ":STARt",
                ":STOP",
                ":CENTer",
                ":SPAN",
                ":PROTection[:LEVel]",
            )
        ),
        *(
            SourceCommand(f"[:SENSe[<n>]]:{keyword}[:DC]:PROTection[:LEVel]{side}", quantity)
            for keyword, quantity in KEYWORD_QUANTITY
            for side in ("", ":POSitive", ":NEGative")
        ),
    )

    sweep_points = number(":SOURce{ch}:SWEep:POINts", "Points of a staircase sweep", 1, 2500)
    trigger_count = number(":TRIGger{ch}:COUNt", "Trigger count (one per sweep point)", 1, 1e5)

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.sweep_sources: dict[Function, SweepSource] = {
            "voltage": SweepSource(self, "VOLTage"),
            "current": SweepSource(self, "CURRent"),
        }

    def acquire(self, plan: SweepPlan) -> SweepResult:
        """Run the programmed sweep and read it back in one transfer."""
        raise NotImplementedError

    def run_sweep(self, plan: SweepPlan) -> SweepResult:
        """Program the staircase or list, acquire, then return the source to a fixed level."""
        source = self.sweep_sources[plan.source]
        if plan.linear:
            apply_settings(source, start=plan.start, stop=plan.stop)
            self.sweep_points = plan.points
            source.mode = "sweep"
        else:
            for command in plan.list_commands(f":SOURce{self.channel_suffix}:LIST:{plan.keyword}"):
                self.write(command)
            source.mode = "list"
        self.trigger_count = plan.points
        result = self.acquire(plan)
        source.mode = "fixed"
        self.trigger_count = 1
        return result
