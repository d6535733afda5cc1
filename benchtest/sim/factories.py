"""Simulator factories for the source-measure units, supplies and meters of a simulated bench.

Each factory wires its instrument the way the DUT profile's `nets` say: an SMU whose role
drives the DUT's supply input, or the supply channel mapped to it, sources that input in the
shared world; one on another port of the part (an LDO's output, a wake pin) drives or loads
that port (anything else drives an open circuit); a meter measures the net mapped to its role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from benchtest.sim.keithley2400 import Keithley2400
from benchtest.sim.keysight_b2900 import KeysightB2900
from benchtest.sim.load import Load, OpenCircuit
from benchtest.sim.rigol_dp800 import RigolDP800
from benchtest.sim.scpi_dmm import ScpiMultimeter
from benchtest.sim.scpi_server import ScpiServer
from benchtest.sim.siglent_spd3303x import SiglentSPD3303X
from benchtest.sim.smu import SourceMeterServer
from benchtest.sim.supply import SupplyServer

if TYPE_CHECKING:
    from benchtest.sim.bench import SimContext

Factory = Callable[["SimContext", str], ScpiServer]


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


def scpi_dmm(ctx: SimContext, role: str) -> ScpiMultimeter:
    return ScpiMultimeter(ctx.world, next(iter(ctx.nets_of(role)), None), role=role)


keithley_2400 = _smu(Keithley2400)
keysight_b2900 = _smu(KeysightB2900)
rigol_dp800 = _supply(RigolDP800)
siglent_spd3303x = _supply(SiglentSPD3303X)
