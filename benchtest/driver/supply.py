"""The PowerSupply flow shared by multi-channel supply drivers, over declared channel properties.

A model declares a channel class (`voltage_setpoint`, `current_limit`, `output_enabled`, and
the readings `voltage` and `current`) and the range of every channel; this base checks a
request against the channel's range and the guard before anything is sent, switches and
measures per channel, and makes every output safe (off, then programmable levels to 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from benchtest.driver.numbers import as_number, plain
from benchtest.driver.scpi import (
    InvalidValueError,
    ScpiChannel,
    ScpiInstrument,
    apply_settings,
    check_settings,
    declared,
)
from benchtest.driver.transport import Transport
from benchtest.values.ratings import NO_GUARD, SourceGuard, number_text

QUANTITY = {"voltage_setpoint": "voltage", "current_limit": "current"}


@dataclass(frozen=True)
class ChannelRange:
    """What one output can do; `voltage_max` None: a fixed output that cannot be programmed."""

    voltage_max: float | None
    current_max: float | None
    voltage_min: float = 0.0

    def problem(self, quantity: str, value: float) -> str | None:
        """Why `value` of `quantity` ("voltage", "current") is out of range, or None."""
        high = self.voltage_max if quantity == "voltage" else self.current_max
        low = self.voltage_min if quantity == "voltage" else 0.0
        if high is None:
            return f"the output has no programmable {quantity}"
        if not low <= value <= high:
            return f"{number_text(value)} is outside {number_text(low)} .. {number_text(high)}"
        return None


class PowerSupplyBase(ScpiInstrument):
    """Shared `PowerSupply` behaviour; see the module doc for what a subclass declares."""

    capabilities = ("PowerSupply",)
    channel_class: ClassVar[type[ScpiChannel]] = ScpiChannel
    ranges: ClassVar[tuple[ChannelRange, ...]] = ()  # outputs 1, 2, ...

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.channels = {n: self.channel_class(self, n) for n in range(1, len(self.ranges) + 1)}

    @property
    def channel_count(self) -> int:
        return len(self.ranges)

    def channel(self, number: int) -> Any:
        """The channel object for output `number` (from 1, an integer of any kind); refused if
        there is none."""
        number = plain(number)  # type: ignore[assignment]
        if not isinstance(number, int) or number not in self.channels:
            known = ", ".join(map(str, self.channels))
            raise InvalidValueError(
                f"no output {number!r} (outputs: {known}); nothing was sent", role=self.role
            )
        return self.channels[number]

    def set_voltage(self, channel: int, volts: float) -> None:
        self._set(channel, "voltage_setpoint", volts)

    def set_current_limit(self, channel: int, amperes: float) -> None:
        self._set(channel, "current_limit", amperes)

    def output_on(self, channel: int) -> None:
        apply_settings(self.channel(channel), output_enabled=True)

    def output_off(self, channel: int) -> None:
        apply_settings(self.channel(channel), output_enabled=False)

    def output_enabled(self, channel: int) -> bool:
        return bool(self.channel(channel).output_enabled)

    def measure_voltage(self, channel: int) -> float:
        self._require_programmable(channel, "measure")
        return float(self.channel(channel).voltage)

    def measure_current(self, channel: int) -> float:
        self._require_programmable(channel, "measure")
        return float(self.channel(channel).current)

    def safe_state(self) -> None:
        """Every output off, then every programmable voltage to 0; errors drained last."""
        for output in self.channels.values():
            self.write(declared(output, "output_enabled").command(output, False), check=False)
        for number, output in self.channels.items():
            if self.ranges[number - 1].voltage_max is not None:
                self.write(declared(output, "voltage_setpoint").command(output, 0), check=False)
        self.check_errors(after="safe state (outputs off, voltages 0)")

    def check_request(self, channel: int, **values: float) -> None:
        """Guard, validator and the output's range for each named setting; sends nothing."""
        output = self.channel(channel)
        check_settings(output, **values)
        for name, value in values.items():
            quantity = QUANTITY[name]
            problem = self.ranges[output.id - 1].problem(quantity, float(as_number(value)))
            if problem:
                raise InvalidValueError(
                    f"refused to set the {quantity} of output {channel}: {problem}; "
                    "nothing was sent",
                    role=self.role,
                )

    def _set(self, channel: int, name: str, value: float) -> None:
        self.check_request(channel, **{name: value})
        apply_settings(self.channel(channel), **{name: value})

    def _require_programmable(self, channel: int, action: str) -> None:
        if self.ranges[self.channel(channel).id - 1].voltage_max is None:
            raise InvalidValueError(
                f"cannot {action} output {channel}: it is a fixed output; nothing was sent",
                role=self.role,
            )
