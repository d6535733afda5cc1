"""A digital multimeter with the standard SCPI measurement commands (Keysight 344xx class).

An autoranged reading is one `:MEASure:<function>? AUTO`; with an NPLC the function is
configured (`:CONFigure`), its integration time set (`:SENSe:<function>:NPLCycles`) and read
with `:READ?`, and an overload (9.9E37) reads as NaN. A multimeter sources nothing, so its safe
state sends nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.driver.numbers import finite_number, format_value
from benchtest.driver.properties import number
from benchtest.driver.scpi import (
    Reading,
    ScpiChannel,
    ScpiInstrument,
    Setting,
    apply_settings,
    check_settings,
    parse_number,
)

if TYPE_CHECKING:
    from instruments.capabilities import Multimeter


def range_token(value: float | None) -> str:
    """A measurement range in SI units, or `AUTO` for None."""
    return "AUTO" if value is None else format_value(value)


def positive_or_auto(value: float | None) -> float | None:
    """A finite range > 0 (a number of any kind), or None for autorange."""
    if value is None:
        return None
    try:
        number = finite_number(value)
    except (TypeError, ValueError):
        number = 0
    if not number > 0:
        raise ValueError(f"a range must be a positive number or None (autorange), not {value!r}")
    return number


class MeasureFunction(ScpiChannel):
    """One measurement function (`VOLTage:DC`, `CURRent:DC`, `RESistance`, `FRESistance`)."""

    placeholder = "function"

    configuration = Setting[float | None](
        ":CONFigure:{function} {value}",
        "Select the function with a range (None: autorange)",
        validator=positive_or_auto,
        formatter=range_token,
    )
    nplc = number(
        ":SENSe:{function}:NPLCycles", "Integration time in power-line cycles", 0.001, 100.0
    )


class ScpiMultimeter(ScpiInstrument):
    """A SCPI DMM such as the Keysight 34461A. Implements `Multimeter`."""

    capabilities = ("Multimeter",)
    driver_name = "generic.scpi_dmm"
    safe_state_sends = False

    reading = Reading(":READ?", "Trigger and read the configured function", parser=parse_number)

    def measure_voltage_dc(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """DC volts (NaN on overload)."""
        return self._measure("VOLTage:DC", range, nplc)

    def measure_current_dc(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """DC amperes (NaN on overload)."""
        return self._measure("CURRent:DC", range, nplc)

    def measure_resistance(
        self, *, range: float | None = None, nplc: float | None = None, four_wire: bool = False
    ) -> float:
        """Ohms, two- or four-wire (NaN on overload, e.g. open terminals)."""
        return self._measure("FRESistance" if four_wire else "RESistance", range, nplc)

    def safe_state(self) -> None:
        """Nothing to make safe: a multimeter sources nothing, so no command is sent."""

    def _measure(self, function: str, range: float | None, nplc: float | None) -> float:
        meter = MeasureFunction(self, function)
        settings: dict[str, object] = {"configuration": range}
        if nplc is not None:
            settings["nplc"] = nplc
        check_settings(meter, **settings)
        if nplc is None:
            return self.query_value(f":MEASure:{function}? {range_token(range)}", parse_number)
        apply_settings(meter, **settings)
        return self.reading


if TYPE_CHECKING:
    _capability: type[Multimeter] = ScpiMultimeter
