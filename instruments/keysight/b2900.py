"""Keysight B2900 precision source/measure unit (B2901A/B2902A/B2961A/B2962A), one channel.

Commands carry the channel number (`:SOURce1:VOLTage`, `:SENSe1:CURRent:PROTection`) and a spot
reading is `:MEASure:CURRent? (@1)`, where 9.91E37 ("not a number") reads as NaN. A sweep is
programmed in the source subsystem, run on `AINT` triggers by `:INITiate (@1)`, awaited with
`*OPC?` and read in one `:FETCh:ARRay? (@1)` of the `:FORMat:ELEMents:SENSe` elements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from benchtest.driver.classic_smu import ClassicSourceMeter
from benchtest.driver.properties import number, switch
from benchtest.driver.scpi import Setting, apply_settings, parse_int, parse_number
from benchtest.driver.shared_connection import exclusive
from benchtest.driver.source_meter import SenseFunction, compliance, select_source, source_level
from benchtest.driver.sweeps import KEYWORD, Function, SweepPlan, parse_points
from benchtest.driver.transport import Transport
from benchtest.values.errors import InstrumentError
from benchtest.values.ratings import NO_GUARD, SourceGuard
from benchtest.values.sweep import SweepResult
from instruments.keysight.b2900_capture import KeysightB2900Capture

if TYPE_CHECKING:
    from instruments.capabilities import SourceMeter

CHANNELS = (1, 2)


class B2900Sense(SenseFunction):
    """The B2900's measure settings: as the Keithleys', with a wider NPLC range."""

    nplc = number(
        ":SENSe{ch}:{function}:NPLCycles", "Integration time in power-line cycles", 4e-4, 100.0
    )


class KeysightB2900(KeysightB2900Capture, ClassicSourceMeter):
    """One channel of a Keysight B2900 SMU (option `channel`, default 1). Implements
    `SourceMeter` and, sampling on its acquire timer, `CurrentProfiler` (`b2900_capture`)."""

    capabilities: ClassVar[tuple[str, ...]] = ("SourceMeter", "CurrentProfiler")
    driver_name = "keysight.b2900"
    driver_options = ("channel",)
    sense_class = B2900Sense
    max_sweep_points = 2500
    sweep_delay_adds = True  # a sweep's delay is :TRIGger:ACQuire:DELay, after the source delay

    source_function = select_source(":SOURce{ch}:FUNCtion:MODE")
    voltage_setpoint = source_level(":SOURce{ch}:VOLTage", "voltage", 210.0)
    current_setpoint = source_level(":SOURce{ch}:CURRent", "current", 3.03)
    current_limit = compliance(":SENSe{ch}:CURRent:PROTection", "current", 1e-12, 3.03)
    voltage_limit = compliance(":SENSe{ch}:VOLTage:PROTection", "voltage", 0.0, 210.0)
    output_enabled = switch(":OUTPut{ch}:STATe", "Output on/off")
    trigger_source = Setting(
        ":TRIGger{ch}:SOURce {value}",
        "Trigger source: automatic internal, timer or bus",
        values={"auto": "AINT", "timer": "TIMer", "bus": "BUS"},
    )
    acquire_delay = number(":TRIGger{ch}:ACQuire:DELay", "Trigger-to-measure delay", 0, 100.0)
    sense_elements = Setting[str](":FORMat:ELEMents:SENSe {value}", "Elements of the data")

    def __init__(
        self,
        transport: Transport,
        *,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        channel: int = 1,
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        if channel not in CHANNELS:
            raise InstrumentError(f"the B2900 has channels 1 and 2, not {channel!r}", role=role)
        self.channel = channel
        self.channel_suffix = str(channel)

    def safe_state(self) -> None:
        """This channel's output off and level to 0, then the error queue read, with no command
        of the other channel's role in between (their safe states run side by side)."""
        with exclusive(self.transport):
            super().safe_state()

    def read_measurement(self, function: Function) -> float:
        """A spot measurement, `:MEASure:<function>? (@<ch>)`."""
        return self.query_value(self.reading_query(function), parse_number)

    def reading_query(self, function: Function) -> str:
        return f":MEASure:{KEYWORD[function]}? (@{self.channel})"

    def acquire(self, plan: SweepPlan) -> SweepResult:
        """AINT triggers, measured and source elements, output on, INIT, `*OPC?` (which waits
        as long as the sweep takes), one FETCh."""
        duration = self.sweep_time(plan)
        self.trigger_source = "auto"
        if plan.delay is not None:
            self.acquire_delay = plan.delay
        self.sense_elements = f"{plan.measured_keyword},SOURce"
        apply_settings(self, output_enabled=True)
        self.write(f":INITiate (@{self.channel})", check=False)
        with self.waiting(duration):
            self.query_value("*OPC?", parse_int)
        rows = self.query_value(
            f":FETCh:ARRay? (@{self.channel})", lambda reply: parse_points(reply, 2, plan.points)
        )
        self.check_errors(after=f":INITiate (@{self.channel})")
        return plan.result(rows[:, 1], rows[:, 0])


if TYPE_CHECKING:
    _capability: type[SourceMeter] = KeysightB2900
