"""`ScopeServer`: what every simulated oscilloscope has besides its dialect.

Four channels on the world's nets, a timebase, a memory depth and an edge trigger driving the
shared acquisition model, with the checks a front panel applies (V/div range at the probe
ratio, offset range, documented probe ratios, timebase rounded to 1-2-5 steps). The class
attributes describe the model (`timing_model`: its re-arm time with real timing); a dialect
subclass registers the commands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

from benchtest.sim.models.world import World
from benchtest.sim.server.scpi import (
    DATA_OUT_OF_RANGE,
    UNDEFINED_HEADER,
    Request,
    ScpiError,
    in_range,
)
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.server.timing import ScopeTiming, Timing
from benchtest.sim.simulators.scope_acquisition import (
    Acquisition,
    ChannelSettings,
    Geometry,
    Memory,
    TriggerSettings,
)

CHANNELS = 4


def nearest_125(value: float) -> float:
    """The 1-2-5 step nearest to `value` on a log scale."""
    decade = 10.0 ** math.floor(math.log10(value))
    steps = [m * decade for m in (1, 2, 5, 10)]
    return min(steps, key=lambda s: abs(math.log(s / value)))


class ScopeServer(ScpiServer):
    """A four-channel scope; `channel_nets` maps channel -> world net, `probes` channel -> the
    volts its probe puts at the input per unit of the net (1/attenuation, or a current probe's
    V/A). A channel without one shows its net as it is, whatever its probe ratio.

    `scale_range` is the V/div range at a 1x probe; `offset_ranges` is (V/div below which the
    small range applies, small range, large range), in V at a 1x probe.
    """

    memory: ClassVar[Memory]
    probe_ratios: ClassVar[tuple[float, ...]]
    scale_range: ClassVar[tuple[float, float]]
    offset_ranges: ClassVar[tuple[float, float, float]]
    timebase_range: ClassVar[tuple[float, float]]
    timing_model: ClassVar[ScopeTiming]

    def __init__(
        self,
        world: World,
        channel_nets: dict[int, str],
        *,
        role: str = "scope",
        port: int = 0,
        seed: int = 0,
        probes: Mapping[int, float] | None = None,
    ) -> None:
        self.world = world
        self.probes = dict(probes or {})
        self.acquisition = Acquisition(world, channel_nets, seed, self.displayed_gain)
        self._defaults()
        super().__init__(role=role, port=port)

    def _defaults(self) -> None:
        self.channels = {n: ChannelSettings(display=n == 1) for n in range(1, CHANNELS + 1)}
        self.timebase_scale, self.timebase_offset = 1e-6, 0.0
        self.memory_depth: int | None = None  # None: AUTO, the smallest depth
        self.trigger = TriggerSettings()

    def reset(self) -> None:
        self._defaults()
        self.acquisition.run()

    def use_timing(self, timing: Timing) -> None:
        super().use_timing(timing)
        self.acquisition.rearm = self.timing_model.rearm if timing.real else None

    def geometry(self) -> Geometry:
        displayed = sum(c.display for c in self.channels.values())
        return Geometry.of(
            self.timebase_scale, self.timebase_offset, self.memory_depth, displayed, self.memory
        )

    def displayed_gain(self, channel: int) -> float:
        """What the channel shows per unit of its net: the volts its probe puts at the input,
        times the probe ratio the scope is set to."""
        volts_per_unit = self.probes.get(channel)
        if volts_per_unit is None:
            return 1.0
        return volts_per_unit * self.channels[channel].probe

    def kept(self, value: float) -> float:
        """A value as the scope keeps (and reports) it."""
        return value

    def channel(self, request: Request) -> ChannelSettings:
        """The channel the command's numeric suffix names; -113 for a channel that is not."""
        number = request.suffix()
        if not 1 <= number <= CHANNELS:
            raise ScpiError(UNDEFINED_HEADER, request.header)
        return self.channels[number]

    def set_scale(self, channel: ChannelSettings, volts: float) -> None:
        low, high = self.scale_range
        channel.scale = self.kept(in_range(volts, low * channel.probe, high * channel.probe))

    def set_offset(self, channel: ChannelSettings, volts: float) -> None:
        threshold, small, large = self.offset_ranges
        limit = (small if channel.scale < threshold * channel.probe else large) * channel.probe
        channel.offset = self.kept(in_range(volts, -limit, limit))

    def set_probe(self, channel: ChannelSettings, ratio: float) -> None:
        if not any(math.isclose(ratio, p) for p in self.probe_ratios):
            raise ScpiError(DATA_OUT_OF_RANGE, f"probe ratio {ratio:g}")
        channel.change_probe(ratio)

    def set_timebase(self, seconds: float) -> None:
        self.timebase_scale = nearest_125(in_range(seconds, *self.timebase_range))
