"""`Device`: what a part family contributes to the simulated world (its physics).

The world keeps what every part shares (the supply, power-on with hysteresis, the power mode,
reboots and their cause, temperature, nets, scheduled events); a device turns that state into
the family's currents and net voltages, adds the ports the bench may drive or load (an LDO's
output, an MCU's wake pin) and the console commands of its firmware. The world calls a device
with its lock held.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from benchtest.sim.models.load import Load

Action = Callable[[], str]


class Device(Protocol):
    """A part family's behaviour; `input_net` is the supply pin, `nets` what a scope can see.

    A boot after the input fell below `por_level` is a power-on reset, else a brown-out reset.
    """

    @property
    def input_net(self) -> str: ...

    @property
    def por_level(self) -> float: ...

    @property
    def nets(self) -> tuple[str, ...]: ...

    @property
    def modes(self) -> tuple[str, ...]: ...

    @property
    def boot_mode(self) -> str: ...

    def ports(self) -> Mapping[str, Load]:
        """Nets besides the supply input that an instrument may drive or load, by net name."""
        ...

    def power_thresholds(self) -> tuple[float, float]:
        """(input voltage that powers the part up, voltage below which it powers down), V."""
        ...

    def supply_current(self, now: float) -> float:
        """Current drawn from the input now, A."""
        ...

    def running_current(self, volts: float) -> float:
        """What the part draws running from an input at `volts`: what a current source into
        the input must cover to hold it there, A."""
        ...

    def update(self, now: float) -> None:
        """An input (supply, load, mode, temperature) changed at `now`: re-target the nets."""
        ...

    def noise_rms(self, net: str) -> float:
        """RMS noise a scope sees on `net`, in the net's unit."""
        ...

    def actions(self) -> Mapping[str, Action]:
        """Console commands of this family's firmware, by action name, beyond the common ones."""
        ...
