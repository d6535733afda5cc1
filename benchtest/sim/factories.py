"""Simulator factories: the simulator that serves each driver name, wired into the world.

`SIMULATORS` maps a bench file's driver name to its factory. Each factory wires its instrument
the way the DUT profile's `nets` say: an SMU whose role drives the DUT's supply input, or the
supply channel mapped to it, sources that input in the shared world; one on another port of the
part (an LDO's output, a wake pin) drives or loads that port (anything else drives an open
circuit); a meter measures the net mapped to its role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchtest.sim.models.load import Load, OpenCircuit
from benchtest.sim.models.power_profile import supply_schedule
from benchtest.sim.models.world import World
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.timing import Timing
from benchtest.sim.simulators.debug_port import Firmware, PortConfig, PtyDebugPort, SocketDebugPort
from benchtest.sim.simulators.keithley2400 import Keithley2400
from benchtest.sim.simulators.keithley2450 import Keithley2450
from benchtest.sim.simulators.keysight_b2900 import KeysightB2900, KeysightB2902
from benchtest.sim.simulators.profiler import ProfilerServer
from benchtest.sim.simulators.rigol_dp800 import RigolDP800
from benchtest.sim.simulators.rigol_ds1000z import RigolDS1000Z
from benchtest.sim.simulators.rigol_mso5000 import RigolMSO5000
from benchtest.sim.simulators.scpi_dmm import ScpiMultimeter
from benchtest.sim.simulators.siglent_sds1000xe import SiglentSDS1000XE
from benchtest.sim.simulators.siglent_sds2000xp import SiglentSDS2000XPlus
from benchtest.sim.simulators.siglent_spd3303x import SiglentSPD3303X
from benchtest.sim.simulators.smu import SourceMeterServer
from benchtest.sim.simulators.supply import SupplyServer
from benchtest.sim.simulators.thermostream import ThermoStream
from benchtest.values.errors import SimulatorError
from benchtest.values.probe import probes_of


class Simulator(Protocol):
    """What the bench needs of a simulated instrument."""

    @property
    def address(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def use_timing(self, timing: Timing) -> None: ...


@dataclass(frozen=True)
class SimContext:
    """Everything a simulator factory may use: the world, the DUT profile and the settings."""

    world: World
    profile: Mapping[str, Any]
    journal: Journal
    seed: int
    serial_transport: str
    # The settings in each role's sim:// resource (`sim://chamber?time_constant=0.1`).
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The channel roles of one multi-channel instrument (`CHANNELLED`): each role's
    # {channel: role} of the instrument it drives a channel of.
    channels: Mapping[str, Mapping[int, str]] = field(default_factory=dict)

    def nets_of(self, role: str) -> dict[str, Mapping[str, Any]]:
        """The DUT nets the profile connects to `role`, by net name."""
        nets = self.profile.get("nets") or {}
        return {name: spec for name, spec in nets.items() if (spec or {}).get("role") == role}


Factory = Callable[[SimContext, str], Simulator]


def input_load(ctx: SimContext, role: str) -> Load:
    """What `role` drives: the DUT's input, another port of the part (an LDO's output, a
    wake pin), or an open circuit."""
    ports = [ctx.world.port(net) for net in ctx.nets_of(role)]
    return next((port for port in ports if port is not None), OpenCircuit())


def supply_loads(ctx: SimContext, role: str) -> dict[int, Load]:
    """The part's input or ports on the supply channels the profile maps (channel 1 if none
    is named)."""
    loads = {}
    for net, spec in ctx.nets_of(role).items():
        port = ctx.world.port(net)
        if port is not None:
            loads[int(spec.get("channel", 1))] = port
    return loads


def _smu(model: type[SourceMeterServer]) -> Factory:
    def build(ctx: SimContext, role: str) -> SourceMeterServer:
        return model(input_load(ctx, role), role=role, journal=ctx.journal)

    return build


def _supply(model: type[SupplyServer]) -> Factory:
    def build(ctx: SimContext, role: str) -> SupplyServer:
        return model(supply_loads(ctx, role), role=role, journal=ctx.journal)

    return build


def _scope(model: type[RigolDS1000Z | SiglentSDS1000XE | SiglentSDS2000XPlus]) -> Factory:
    def build(ctx: SimContext, role: str) -> Simulator:
        nets = ctx.nets_of(role).items()
        channels = {int(spec["channel"]): net for net, spec in nets if "channel" in spec}
        probes = {n: probe.input_gain for n, probe in probes_of(ctx.nets_of(role), role).items()}
        return model(ctx.world, channels, role=role, seed=ctx.seed, probes=probes)

    return build


def b2900(ctx: SimContext, role: str) -> KeysightB2900:
    """A B2901A; a B2902A when a role drives its channel 2, each channel driving what the
    profile maps to its role."""
    channels = ctx.channels.get(role, {})
    if set(channels) <= {1}:
        return KeysightB2900(input_load(ctx, role), role=role, journal=ctx.journal)
    first, second = channels.get(1), channels[2]
    return KeysightB2902(
        input_load(ctx, first) if first else OpenCircuit(),
        input_load(ctx, second),
        role=first or f"{second}_channel_1",
        second_role=second,
        journal=ctx.journal,
    )


def k2450(ctx: SimContext, role: str) -> Keithley2450:
    """A 2450 whose captures see the part's periodic wake-ups when it supplies the part."""
    load = input_load(ctx, role)
    schedule = (lambda vdd: supply_schedule(ctx.world.unit(), vdd)) if load is ctx.world else None
    return Keithley2450(load, role=role, journal=ctx.journal, wake_schedule=schedule)


def scpi_dmm(ctx: SimContext, role: str) -> ScpiMultimeter:
    return ScpiMultimeter(ctx.world, next(iter(ctx.nets_of(role)), None), role=role)


def chamber(ctx: SimContext, role: str) -> ThermoStream:
    setting = ctx.options.get(role, {}).get("time_constant", "0.05")
    try:
        tau = float(setting)
    except ValueError:
        tau = -1.0
    if not tau > 0:
        raise SimulatorError(
            f"instruments.{role}.resource: time_constant={setting!r}: expected a time in s > 0"
        )
    return ThermoStream(ctx.world, role=role, time_constant=tau)


def debug_port(ctx: SimContext, role: str) -> Simulator:
    firmware = Firmware(ctx.world, PortConfig.from_mapping(ctx.profile.get("debug_port")))
    if ctx.serial_transport == "socket":
        return SocketDebugPort(firmware)
    return PtyDebugPort(firmware)


#: Drivers of one channel of a multi-channel instrument, and its channels: the roles with one
#: `sim://` resource and one of these drivers are the channels of one simulated instrument.
CHANNELLED: dict[str, tuple[int, ...]] = {"keysight.b2900": (1, 2)}

SIMULATORS: dict[str, Factory] = {
    "keithley.k2450": k2450,
    "keithley.k2400": _smu(Keithley2400),
    "keysight.b2900": b2900,
    "rigol.dp800": _supply(RigolDP800),
    "siglent.spd3303x": _supply(SiglentSPD3303X),
    "generic.scpi_dmm": scpi_dmm,
    "rigol.ds1000z": _scope(RigolDS1000Z),
    "rigol.mso5000": _scope(RigolMSO5000),
    "siglent.sds1000xe": _scope(SiglentSDS1000XE),
    "siglent.sds2000xp": _scope(SiglentSDS2000XPlus),
    "serial.debug_port": debug_port,
    "temptronic.ats545": chamber,
    "sim.profiler": lambda ctx, role: ProfilerServer.on_bench(
        ctx.world, ctx.profile, role=role, seed=ctx.seed
    ),
}
