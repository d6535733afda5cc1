"""Rigol DP800 programmable DC supply (DP832 channel ranges), per the DP800 programming guide.

`:APPLy CH<n>,<V>[,<A>]` sets an output and `:APPLy? CH<n>,VOLTage|CURRent` reads a setting
back, parsed from the right because firmware versions prefix it differently. Outputs switch with
`:OUTPut:STATe CH<n>,ON|OFF` (queried as `ON`/`OFF`) and read back with `:MEASure:<quantity>?`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.driver.dialect import SourceCommand
from benchtest.driver.properties import ON_OFF
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiChannel,
    Setting,
    format_value,
    parse_bool,
    parse_number,
    strict_range,
)
from benchtest.driver.supply import ChannelRange, PowerSupplyBase
from benchtest.driver.sweeps import KEYWORD, UNIT, Function

if TYPE_CHECKING:
    from instruments.capabilities import PowerSupply


def parse_last(reply: str) -> float:
    """The last comma-separated field of a reply (`CH1:30V/3A,5.000` -> 5.0)."""
    return parse_number(reply.rsplit(",", 1)[-1])


def setting(quantity: Function, set_cmd: str, high: float) -> Control[float]:
    """A guarded output setting, read back with `:APPLy? CH<n>,<quantity>`."""
    return Control(
        f":APPLy? CH{{ch}},{KEYWORD[quantity]}",
        set_cmd,
        f"{quantity.capitalize()} setting of the output",
        parser=parse_last,
        validator=strict_range(0.0, high),
        unit=UNIT[quantity],
        guard=quantity,
    )


class DP800Output(ScpiChannel):
    """One output of a DP800 (`CH<n>`)."""

    voltage_setpoint = setting("voltage", ":APPLy CH{ch},{value}", 32.0)
    current_limit = setting("current", ":SOURce{ch}:CURRent {value}", 3.2)
    output_enabled = Control(
        ":OUTPut:STATe? CH{ch}",
        ":OUTPut:STATe CH{ch},{value}",
        "Output on/off",
        values=ON_OFF,
        parser=parse_bool,
    )
    settings = Setting[tuple[float, float]](
        ":APPLy CH{ch},{value}",
        "Voltage and current setting in one command (checked by `RigolDP800.apply`)",
        formatter=lambda pair: ",".join(format_value(v) for v in pair),
    )
    voltage = Reading(":MEASure:VOLTage? CH{ch}", "Measured output voltage", parser=parse_number)
    current = Reading(":MEASure:CURRent? CH{ch}", "Measured output current", parser=parse_number)


class RigolDP800(PowerSupplyBase):
    """Rigol DP800 three-output supply with the DP832's ranges. Implements `PowerSupply`."""

    capabilities = ("PowerSupply",)
    driver_name = "rigol.dp800"
    # Raw commands guarded beyond the declared properties: `:APPLy [CH<n>,]<V>[,<A>]`, the
    # levels of the selected output (immediate and triggered) and its protection levels.
    source_commands = (
        SourceCommand(":APPLy", ("voltage", "current"), channel_first=True),
        *(
            SourceCommand(f"[:SOURce[<n>]]:{keyword}{tail}", quantity)
            for keyword, quantity in (("VOLTage", "voltage"), ("CURRent", "current"))
            for tail in (
                "[:LEVel][:IMMediate][:AMPLitude]",
                "[:LEVel]:TRIGgered[:AMPLitude]",
                ":PROTection[:LEVel]",
            )
        ),
        SourceCommand(":OUTPut:OVP:VALue", ("voltage",), channel_first=True),
        SourceCommand(":OUTPut:OCP:VALue", ("current",), channel_first=True),
    )
    channel_class = DP800Output
    ranges = (ChannelRange(32.0, 3.2), ChannelRange(32.0, 3.2), ChannelRange(5.3, 3.2))

    def apply(self, channel: int, volts: float, current_limit: float) -> None:
        """Set voltage and current limit of one output in one `:APPLy CH<n>,<V>,<A>`."""
        self.check_request(channel, voltage_setpoint=volts, current_limit=current_limit)
        self.channel(channel).settings = (volts, current_limit)


if TYPE_CHECKING:
    _capability: type[PowerSupply] = RigolDP800
