"""Keithley 2450 SourceMeter in its native SCPI command set (reference manual, SCPI commands).

Source functions use `:SOURce:<function>` with the limit `ILIMit`/`VLIMit`; measure functions
are selected with a quoted name (`:SENSe:FUNCtion "CURRent"`) and read with `:READ?`. The 2450
must be in the SCPI command set (`*LANG?`), which only changes after a power cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.driver.base import NO_GUARD, SourceGuard
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiChannel,
    ScpiInstrument,
    Setting,
    apply_settings,
    check_settings,
    parse_bool,
    parse_number,
    parse_text,
    strict_range,
)
from benchtest.driver.transport import Transport
from benchtest.errors import InstrumentError

if TYPE_CHECKING:
    from instruments.capabilities import SourceMeter

ON_OFF = {True: "ON", False: "OFF"}


class SenseFunction(ScpiChannel):
    """The `:SENSe:<function>` settings of one measure function (`CURRent` or `VOLTage`)."""

    placeholder = "function"

    range = Control(
        ":SENSe:{function}:RANGe?",
        ":SENSe:{function}:RANGe {value}",
        "Fixed measure range (selecting one turns autorange off)",
        parser=parse_number,
        validator=strict_range(1e-9, 210.0),
    )
    autorange = Control(
        ":SENSe:{function}:RANGe:AUTO?",
        ":SENSe:{function}:RANGe:AUTO {value}",
        "Measure autorange on/off",
        values=ON_OFF,
        parser=parse_bool,
    )
    nplc = Control(
        ":SENSe:{function}:NPLCycles?",
        ":SENSe:{function}:NPLCycles {value}",
        "Integration time in power-line cycles",
        parser=parse_number,
        validator=strict_range(0.01, 10.0),
    )


class Keithley2450(ScpiInstrument):
    """Keithley 2450 SourceMeter (native SCPI). Implements `SourceMeter`."""

    driver_name = "keithley.k2450"

    source_function = Control(
        ":SOURce:FUNCtion?",
        ":SOURce:FUNCtion {value}",
        "Source function",
        values={"voltage": "VOLTage", "current": "CURRent"},
    )
    voltage_setpoint = Control(
        ":SOURce:VOLTage?",
        ":SOURce:VOLTage {value}",
        "Source voltage level",
        parser=parse_number,
        validator=strict_range(-210.0, 210.0),
        unit="V",
        guard="voltage",
    )
    current_setpoint = Control(
        ":SOURce:CURRent?",
        ":SOURce:CURRent {value}",
        "Source current level",
        parser=parse_number,
        validator=strict_range(-1.05, 1.05),
        unit="A",
        guard="current",
    )
    current_limit = Control(
        ":SOURce:VOLTage:ILIMit?",
        ":SOURce:VOLTage:ILIMit {value}",
        "Current limit (compliance) while sourcing voltage",
        parser=parse_number,
        validator=strict_range(1e-9, 1.05),
        unit="A",
        guard="current",
    )
    voltage_limit = Control(
        ":SOURce:CURRent:VLIMit?",
        ":SOURce:CURRent:VLIMit {value}",
        "Voltage limit (compliance) while sourcing current",
        parser=parse_number,
        validator=strict_range(0.02, 210.0),
        unit="V",
        guard="voltage",
    )
    output_enabled = Control(
        ":OUTPut:STATe?",
        ":OUTPut:STATe {value}",
        "Output relay on/off",
        values=ON_OFF,
        parser=parse_bool,
    )
    sense_function = Setting(
        ':SENSe:FUNCtion "{value}"',
        "Measure function (quoted name)",
        values={"current": "CURRent", "voltage": "VOLTage"},
    )
    reading = Reading(
        ":READ?", "Take one reading with the present measure function", parser=parse_number
    )
    language = Reading("*LANG?", "Command set: SCPI, TSP or SCPI2400", parser=parse_text)

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.sense_current = SenseFunction(self, "CURRent")
        self.sense_voltage = SenseFunction(self, "VOLTage")

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

    def source_voltage(self, level: float, *, current_limit: float) -> None:
        """Source `level` V with the current limited to `current_limit` A."""
        apply_settings(
            self, source_function="voltage", current_limit=current_limit, voltage_setpoint=level
        )

    def source_current(self, level: float, *, voltage_limit: float) -> None:
        """Source `level` A with the voltage limited to `voltage_limit` V."""
        apply_settings(
            self, source_function="current", voltage_limit=voltage_limit, current_setpoint=level
        )

    def output_on(self) -> None:
        self.output_enabled = True

    def output_off(self) -> None:
        self.output_enabled = False

    def measure_current(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """One current reading in A (NaN when the 2450 reports no value)."""
        return self._measure("current", self.sense_current, range, nplc)

    def measure_voltage(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """One voltage reading in V (NaN when the 2450 reports no value)."""
        return self._measure("voltage", self.sense_voltage, range, nplc)

    def _measure(
        self, function: str, sense: SenseFunction, range: float | None, nplc: float | None
    ) -> float:
        settings: dict[str, object] = {"autorange": True} if range is None else {"range": range}
        if nplc is not None:
            settings["nplc"] = nplc
        check_settings(sense, **settings)  # a bad range or NPLC is refused before any command
        self.sense_function = function
        apply_settings(sense, **settings)
        return self.reading

    def safe_state(self) -> None:
        """Output off first, then the present source function's level to 0.

        The error queue is drained only after both commands went out, so a stale error cannot
        stop the zeroing; calling it again is harmless.
        """
        self.write(":OUTPut:STATe OFF", check=False)
        if self.source_function == "current":
            self.write(":SOURce:CURRent 0", check=False)
        else:
            self.write(":SOURce:VOLTage 0", check=False)
        self.check_errors(after="safe state (:OUTPut:STATe OFF, source level 0)")


if TYPE_CHECKING:
    _capability: type[SourceMeter] = Keithley2450
