"""`SimulatedBench`: one simulator per `sim://` role of a bench file, sharing one World.

The simulator is chosen by the role's driver name; `resolved_bench()` returns the bench mapping
with every `sim://` resource replaced by the loopback address or serial port that now serves it,
so a real bench and a simulated one differ only in that file.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self

import yaml

from benchtest.errors import SimulatorError
from benchtest.sim.debug_port import Firmware, PortConfig, PtyDebugPort, SocketDebugPort
from benchtest.sim.journal import Journal
from benchtest.sim.keithley2450 import Keithley2450
from benchtest.sim.model import LdoModel
from benchtest.sim.rigol_ds1000z import RigolDS1000Z
from benchtest.sim.service import Service
from benchtest.sim.world import World

SIM_SCHEME = "sim://"


class Simulator(Protocol):
    """What the bench needs of a simulated instrument."""

    @property
    def address(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class SimContext:
    """Everything a simulator factory may use: the world, the DUT profile and the settings."""

    world: World
    profile: Mapping[str, Any]
    journal: Journal
    seed: int
    serial_transport: str

    def nets_of(self, role: str) -> dict[str, Mapping[str, Any]]:
        """The DUT nets the profile connects to `role`, by net name."""
        nets = self.profile.get("nets") or {}
        return {name: spec for name, spec in nets.items() if (spec or {}).get("role") == role}


def _smu(ctx: SimContext, role: str) -> Simulator:
    return Keithley2450(ctx.world, role=role, journal=ctx.journal)


def _scope(ctx: SimContext, role: str) -> Simulator:
    channels = {
        int(spec["channel"]): net for net, spec in ctx.nets_of(role).items() if "channel" in spec
    }
    return RigolDS1000Z(ctx.world, channels, role=role, seed=ctx.seed)


def _debug_port(ctx: SimContext, role: str) -> Simulator:
    firmware = Firmware(ctx.world, PortConfig.from_mapping(ctx.profile.get("debug_port")))
    if ctx.serial_transport == "socket":
        return SocketDebugPort(firmware)
    return PtyDebugPort(firmware)


SIMULATORS: dict[str, Callable[[SimContext, str], Simulator]] = {
    "keithley.k2450": _smu,
    "rigol.ds1000z": _scope,
    "serial.debug_port": _debug_port,
}


def default_serial_transport() -> str:
    return "pty" if os.name == "posix" else "socket"


class SimulatedBench(Service):
    """Start the simulators of a bench: `with SimulatedBench(profile, bench) as sim: ...`."""

    def __init__(
        self,
        profile: Mapping[str, Any],
        bench: Mapping[str, Any],
        *,
        journal: Journal | None = None,
        seed: int = 0,
        serial_transport: str | None = None,
    ) -> None:
        transport = serial_transport or default_serial_transport()
        if transport not in ("pty", "socket"):
            raise SimulatorError(f"serial transport must be 'pty' or 'socket', not {transport!r}")
        self.journal = journal or Journal()
        model = LdoModel.from_mapping(profile.get("model") or {})
        self.world = World(model, journal=self.journal, seed=seed)
        self._bench = copy.deepcopy(dict(bench))
        context = SimContext(self.world, profile, self.journal, seed, transport)
        self.simulators: dict[str, Simulator] = {
            role: _factory(role, spec)(context, role) for role, spec in _sim_roles(self._bench)
        }
        self._started: list[Simulator] = []

    def start(self) -> Self:
        try:
            for simulator in self.simulators.values():
                simulator.start()
                self._started.append(simulator)
        except Exception as error:
            self.stop()
            raise SimulatorError(f"the simulated bench could not start: {error}") from error
        return self

    def stop(self) -> None:
        """Stop every started simulator and join its threads."""
        while self._started:
            self._started.pop().stop()

    @property
    def addresses(self) -> dict[str, str]:
        """Role -> the address now serving it (PyVISA resource or serial port)."""
        return {role: sim.address for role, sim in self.simulators.items()}

    def resolved_bench(self) -> dict[str, Any]:
        """The bench mapping with every `sim://` resource replaced by its real address."""
        bench = copy.deepcopy(self._bench)
        for role, address in self.addresses.items():
            bench["instruments"][role]["resource"] = address
        return bench

    def bench_yaml(self) -> str:
        return yaml.safe_dump(self.resolved_bench(), sort_keys=False)


def _sim_roles(bench: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    instruments = bench.get("instruments")
    if not isinstance(instruments, Mapping):
        raise SimulatorError("bench: 'instruments' must be a mapping of role to instrument")
    return [
        (role, spec)
        for role, spec in instruments.items()
        if isinstance(spec, Mapping) and str(spec.get("resource", "")).startswith(SIM_SCHEME)
    ]


def _factory(role: str, spec: Mapping[str, Any]) -> Callable[[SimContext, str], Simulator]:
    driver = spec.get("driver")
    if driver not in SIMULATORS:
        known = ", ".join(sorted(SIMULATORS))
        raise SimulatorError(
            f"instruments.{role}: no simulator for driver {driver!r}; simulated drivers: {known}"
        )
    return SIMULATORS[str(driver)]
