"""The simulated bench: instruments that speak the real protocols, sharing one physical world.

Each SCPI instrument is a server on a loopback TCP port (`TCPIP::127.0.0.1::<port>::SOCKET`) and
the DUT's debug port is a pseudo-terminal or `socket://` endpoint, so PyVISA and pyserial are
exercised exactly as on a real bench. `SimulatedBench` runs them in-process; `SimulatorProcess`
runs them in a child process (`python -m benchtest.sim`).

Three rooms: `server/` (TCP serving, SCPI syntax, timing: no instrument, no DUT), `models/`
(the physical world and the DUT families in it) and `simulators/` (one dialect per supported
instrument model, and the DUT's firmware console). This package wires them into a bench.

The names below load on first use: a test run that only starts `SimulatorProcess` (each
site's worker) does not import the simulators and models it runs in the child.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.values.lazy import lazy_names

if TYPE_CHECKING:
    from benchtest.sim.bench import SimulatedBench
    from benchtest.sim.factories import SIMULATORS
    from benchtest.sim.models import LdoModel, build_model
    from benchtest.sim.models.load import SupplyState
    from benchtest.sim.models.world import World
    from benchtest.sim.process import SimulatorProcess
    from benchtest.sim.server.journal import Journal

_LAZY = {
    "SIMULATORS": "benchtest.sim.factories",
    "Journal": "benchtest.sim.server.journal",
    "LdoModel": "benchtest.sim.models",
    "SimulatedBench": "benchtest.sim.bench",
    "SimulatorProcess": "benchtest.sim.process",
    "SupplyState": "benchtest.sim.models.load",
    "World": "benchtest.sim.models.world",
    "build_model": "benchtest.sim.models",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


__all__ = [
    "SIMULATORS",
    "Journal",
    "LdoModel",
    "SimulatedBench",
    "SimulatorProcess",
    "SupplyState",
    "World",
    "build_model",
]
