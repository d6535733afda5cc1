"""Siglent SPD3303X / SPD3303X-E programmable supply, per its quick-start command list.

Keywords are spelled exactly as documented (`CH1:VOLTage`, `OUTPut CH1,ON`), since the SPD
rejects other abbreviations, and `command_interval` keeps the 10–100 ms it needs between
commands. No output query exists: CH1/CH2 state comes from the `SYSTem:STATus?` bits and CH3's
state is reported nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchtest.driver.dialect import SourceCommand
from benchtest.driver.properties import ON_OFF, number
from benchtest.driver.scpi import Reading, ScpiChannel, Setting, parse_number
from benchtest.driver.supply import ChannelRange, PowerSupplyBase
from benchtest.driver.transport import MAX_QUEUED_ERRORS, parse_error_reply
from benchtest.values.errors import InstrumentError

if TYPE_CHECKING:
    from instruments.capabilities import PowerSupply

MODES = {1: "independent", 2: "parallel", 3: "series"}


@dataclass(frozen=True)
class SpdStatus:
    """The `SYSTem:STATus?` word: bit0/1 CH1/CH2 in CC, bits 2–3 mode, bit4/5 CH1/CH2 on."""

    word: int

    @classmethod
    def parse(cls, reply: str) -> SpdStatus:
        """`0x0224` (or `224`) as hexadecimal."""
        return cls(int(reply.strip(), 16))

    def output_on(self, channel: int) -> bool:
        return bool(self.word >> (3 + channel) & 1)

    def constant_current(self, channel: int) -> bool:
        return bool(self.word >> (channel - 1) & 1)

    @property
    def mode(self) -> str:
        return MODES.get(self.word >> 2 & 3, "unknown")


class SpdOutput(ScpiChannel):
    """One output (`CH<n>`); only CH1 and CH2 are programmable and measurable."""

    voltage_setpoint = number(
        "CH{ch}:VOLTage", "Voltage setting", 0.0, 32.0, unit="V", guard="voltage"
    )
    current_limit = number("CH{ch}:CURRent", "Current setting", 0.0, 3.2, unit="A", guard="current")
    output_enabled = Setting(
        "OUTPut CH{ch},{value}",
        "Output on/off (no query exists: see `SYSTem:STATus?`)",
        values=ON_OFF,
    )
    voltage = Reading("MEASure:VOLTage? CH{ch}", "Measured output voltage", parser=parse_number)
    current = Reading("MEASure:CURRent? CH{ch}", "Measured output current", parser=parse_number)


class SiglentSPD3303X(PowerSupplyBase):
    """Siglent SPD3303X(-E): CH1/CH2 0–32 V, 0–3.2 A; CH3 fixed. Implements `PowerSupply`."""

    capabilities = ("PowerSupply",)
    driver_name = "siglent.spd3303x"
    error_query = "SYSTem:ERRor?"
    command_interval = 0.05  # s; Siglent asks for 10–100 ms between commands
    channel_class = SpdOutput
    ranges = (ChannelRange(32.0, 3.2), ChannelRange(32.0, 3.2), ChannelRange(None, None))
    # Raw commands guarded beyond the declared `CH<n>:VOLTage`/`CH<n>:CURRent`: the timer
    # sequence `TIMEr:SET CH<n>,<group>,<V>,<A>,<s>`.
    source_commands = (
        SourceCommand("TIMEr:SET", (None, "voltage", "current", None), channel_first=True),
    )

    status = Reading("SYSTem:STATus?", "Status word (hex)", parser=SpdStatus.parse)

    def on_connect(self) -> None:
        """The SPD has no `*CLS`: read stale errors off the queue instead."""
        for _ in range(MAX_QUEUED_ERRORS):
            code, _message = self.query_value(self.error_query or "", parse_error_reply)
            if code == 0:
                return
        raise InstrumentError("the error queue does not empty", role=self.role)

    def output_enabled(self, channel: int) -> bool:
        """CH1/CH2 from the status word; CH3's state is reported nowhere (an error says so)."""
        self.channel(channel)
        if channel == 3:
            raise InstrumentError(
                "the SPD3303X reports no output state for CH3 (no query, no status bit)",
                role=self.role,
                command="SYSTem:STATus?",
            )
        return self.status.output_on(channel)


if TYPE_CHECKING:
    _capability: type[PowerSupply] = SiglentSPD3303X
