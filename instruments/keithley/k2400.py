"""Keithley 2400-series SourceMeter (2400/2410/2420/…) in the classic SCPI command set.

Compliance is a sense setting (`:SENSe:CURRent:PROTection`); every `:READ?` returns the elements
of `:FORMat:ELEMents` for each point, so the driver sets them once at connect (all five:
voltage, current, resistance, time, status) and parses replies in groups of five. A sweep is a
staircase or list (at most 2500 points) read back by one `:READ?`; 9.91E37 means "no value".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.driver.classic_smu import ClassicSourceMeter
from benchtest.driver.properties import number, switch
from benchtest.driver.scpi import Setting, apply_settings
from benchtest.driver.source_meter import compliance, select_source, source_level
from benchtest.driver.sweeps import Function, SweepPlan, parse_points
from benchtest.values.sweep import SweepResult

if TYPE_CHECKING:
    from instruments.capabilities import SourceMeter

ELEMENTS = ("VOLTage", "CURRent", "RESistance", "TIME", "STATus")
COLUMN: dict[Function, int] = {"voltage": 0, "current": 1}


class Keithley2400(ClassicSourceMeter):
    """Keithley 2400 SourceMeter (classic SCPI). Implements `SourceMeter`."""

    capabilities = ("SourceMeter",)
    driver_name = "keithley.k2400"
    max_sweep_points = 2500

    source_function = select_source(":SOURce:FUNCtion")
    voltage_setpoint = source_level(":SOURce:VOLTage", "voltage", 210.0)
    current_setpoint = source_level(":SOURce:CURRent", "current", 1.05)
    current_limit = compliance(":SENSe:CURRent:PROTection", "current", 1e-9, 1.05)
    voltage_limit = compliance(":SENSe:VOLTage:PROTection", "voltage", 2e-4, 210.0)
    output_enabled = switch(":OUTPut:STATe", "Output on/off")
    elements = Setting[str](":FORMat:ELEMents {value}", "Elements of every reading, in this order")
    source_delay = number(":SOURce:DELay", "Settling delay after each source step", 0, 9999.999)
    auto_delay = switch(":SOURce:DELay:AUTO", "Automatic source delay on/off")

    def on_connect(self) -> None:
        """`*CLS`, then the five reading elements once, so every reply parses the same way."""
        super().on_connect()
        self.elements = ",".join(ELEMENTS)

    def read_measurement(self, function: Function) -> float:
        """`:READ?`: the last point's element of `function` (5 elements per point)."""
        rows = self.query_value(":READ?", lambda reply: parse_points(reply, len(ELEMENTS), 1))
        return float(rows[0, COLUMN[function]])

    def acquire(self, plan: SweepPlan) -> SweepResult:
        """Source delay, output on, then every point in one `:READ?` (which answers once the
        sweep is done, so it waits as long as the sweep takes)."""
        duration = self.sweep_time(plan)
        if plan.delay is None:
            self.auto_delay = True
        else:
            self.source_delay = plan.delay
        apply_settings(self, output_enabled=True)
        with self.waiting(duration):
            rows = self.query_value(
                ":READ?", lambda reply: parse_points(reply, len(ELEMENTS), plan.points)
            )
        return plan.result(rows[:, COLUMN[plan.source]], rows[:, COLUMN[plan.measured]])


if TYPE_CHECKING:
    _capability: type[SourceMeter] = Keithley2400
