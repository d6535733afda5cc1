"""`SimulatedBench`: one simulator per `sim://` role of a bench file (one for the channel roles
of one multi-channel instrument: one resource, one driver), sharing one World.

The simulator is chosen by the role's driver name; `resolved_bench()` returns the bench mapping
with every `sim://` resource replaced by the loopback address or serial port that now serves it,
so a real bench and a simulated one differ only in that file. A role's resource may ask for a
fault (`?fault=slow`) and for its timing (`?timing=real`: the real model's integration,
acquisition, settling and baud-rate times; instant unless the resource or the bench's `timing`
asks for real), and how VISA reaches it (`?visa=vxi11` or `?visa=hislip`: a `::INSTR` resource,
see `server/gateway.py`; a raw `::SOCKET` by default).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from typing import Any, Self

import yaml

from benchtest.sim.factories import CHANNELLED, SIMULATORS, SimContext, Simulator
from benchtest.sim.faults import FaultyFirmware, FaultyLink, parse_fault, resource_options
from benchtest.sim.models import build_model
from benchtest.sim.models.world import World
from benchtest.sim.server.gateway import LanGateway, visa_transport
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.service import Service
from benchtest.sim.server.timing import INSTANT, Timing, parse_timing
from benchtest.sim.simulators.debug_port import PtyDebugPort, SocketDebugPort
from benchtest.sim.simulators.prologix import behind_prologix
from benchtest.values.errors import SimulatorError

SIM_SCHEME = "sim://"


def default_serial_transport() -> str:
    return "pty" if os.name == "posix" else "socket"


class SimulatedBench(Service):
    """Start the simulators of a bench: `with SimulatedBench(profile, bench) as sim: ...`.

    `timing` is the timing of every role whose resource names none (default: instant).
    """

    def __init__(
        self,
        profile: Mapping[str, Any],
        bench: Mapping[str, Any],
        *,
        journal: Journal | None = None,
        seed: int = 0,
        serial_transport: str | None = None,
        serial: str | None = None,
        timing: Timing = INSTANT,
    ) -> None:
        transport = serial_transport or default_serial_transport()
        if transport not in ("pty", "socket"):
            raise SimulatorError(f"serial transport must be 'pty' or 'socket', not {transport!r}")
        self.journal = journal or Journal()
        model = build_model(profile.get("model"), serial)  # `serial` picks the unit
        self.world = World(model, journal=self.journal, seed=seed)
        self.world.alias_nets(profile.get("nets") or {})
        self._bench = copy.deepcopy(dict(bench))
        roles = _sim_roles(self._bench)
        options = {role: resource_options(role, spec["resource"]) for role, spec in roles}
        for role, spec in roles:
            _check_settings(role, str(spec["resource"]), options[role])
        timings = {
            role: parse_timing(role, str(spec["resource"]), options[role], timing)
            for role, spec in roles
        }
        channels = _channel_roles(roles)
        context = SimContext(self.world, profile, self.journal, seed, transport, options, channels)
        self.simulators: dict[str, Simulator] = {}
        for role, spec in roles:
            first = next(iter(channels.get(role, {0: role}).values()))  # builds the instrument
            if first != role:  # another channel of an instrument built already
                self.simulators[role] = self.simulators[first]
                continue
            simulator = _factory(role, spec)(context, role)
            simulator.use_timing(timings[role])
            simulator = _with_fault(role, options[role], simulator, self.journal)
            self.simulators[role] = _served(role, str(spec["resource"]), options[role], simulator)
            self.simulators[role] = behind_prologix(  # `gpib=`: on a Prologix adapter's bus
                role, str(spec["resource"]), options[role], self.simulators[role]
            )
        self._started: list[Simulator] = []

    def start(self) -> Self:
        try:
            for simulator in {id(sim): sim for sim in self.simulators.values()}.values():
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


def _channel_roles(roles: list[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[int, str]]:
    """Each channel role's {channel: role} of its instrument: the roles of a `CHANNELLED`
    driver with one `sim://` resource are the channels of one simulated instrument."""
    instruments: dict[tuple[str, str], dict[int, str]] = {}
    grouped: dict[str, dict[int, str]] = {}
    for role, spec in roles:
        driver = str(spec.get("driver"))
        if driver not in CHANNELLED:
            continue
        options = spec.get("options") or {}
        channel = options.get("channel", 1) if isinstance(options, Mapping) else 1
        if channel not in CHANNELLED[driver]:
            raise SimulatorError(
                f"instruments.{role}.options.channel: {channel!r}; the simulated {driver} "
                f"has channels {', '.join(map(str, CHANNELLED[driver]))}"
            )
        instrument = instruments.setdefault((str(spec["resource"]), driver), {})
        if channel in instrument:
            raise SimulatorError(
                f"instruments.{role}: channel {channel} of {spec['resource']} is also role "
                f"{instrument[channel]!r}'s; give each role its own channel"
            )
        instrument[channel] = role
        grouped[role] = instrument
    return grouped


#: What a `sim://` resource may set: its fault, its timing, the chamber's time constant, and
#: how VISA reaches it (`visa=socket`, `vxi11` or `hislip`).
SIM_SETTINGS = (
    "fault",
    "delay",
    "after",
    "match",
    "timing",
    "line_frequency",
    "time_constant",
    "visa",
    "gpib",
)


def _check_settings(role: str, resource: str, options: Mapping[str, str]) -> None:
    """Refuse a setting no simulator reads (a misspelt `timming=real` would be ignored)."""
    unknown = sorted(set(options) - set(SIM_SETTINGS))
    if unknown:
        raise SimulatorError(
            f"instruments.{role}.resource {resource!r}: unknown setting(s) "
            f"{', '.join(unknown)}; sim:// resources take {', '.join(SIM_SETTINGS)}"
        )


def _with_fault(
    role: str, options: Mapping[str, str], simulator: Simulator, journal: Journal
) -> Simulator:
    """The simulator, misbehaving as its resource's `fault` setting says."""
    fault = parse_fault(role, options)
    if fault is None:
        return simulator
    if isinstance(simulator, PtyDebugPort | SocketDebugPort):
        simulator.firmware = FaultyFirmware(simulator.firmware, fault, role)  # type: ignore[assignment]
        return simulator
    return FaultyLink(simulator, fault, role=role, journal=journal)


def _served(role: str, resource: str, options: Mapping[str, str], simulator: Any) -> Any:
    """The simulator as its resource's `visa` setting serves it: on its raw socket, or behind
    a VXI-11 or HiSLIP server."""
    visa = visa_transport(role, resource, options)
    if visa == "socket":
        return simulator
    if isinstance(simulator, PtyDebugPort | SocketDebugPort):
        raise SimulatorError(
            f"instruments.{role}.resource {resource!r}: visa={visa} serves a SCPI instrument; "
            f"{role} is a serial debug port"
        )
    return LanGateway(simulator, visa, role=role)


def _factory(role: str, spec: Mapping[str, Any]) -> Callable[[SimContext, str], Simulator]:
    driver = spec.get("driver")
    if driver not in SIMULATORS:
        known = ", ".join(sorted(SIMULATORS))
        raise SimulatorError(
            f"instruments.{role}: no simulator for driver {driver!r}; simulated drivers: {known}"
        )
    return SIMULATORS[str(driver)]
