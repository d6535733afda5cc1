"""Ports: nets of the part, other than its supply input, that an instrument drives or loads.

A port is the `Load` an SMU or supply channel is wired to: it keeps what the instrument applies,
tells the device that its input changed, and answers the instrument's readbacks from the
device's physics. `Pin` is a high-impedance input (an MCU's wake pin); the LDO's output port
lives with the LDO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchtest.sim.models.load import OpenCircuit, SupplyState

if TYPE_CHECKING:
    from benchtest.sim.models.world import World


class Port:
    """What an instrument applies to one net; subclasses give the readbacks."""

    def __init__(self, world: World, net: str) -> None:
        self.world = world
        self.net = net
        self.state = SupplyState()

    def apply_supply(self, state: SupplyState) -> None:
        with self.world.lock:
            now = self.world.settle()
            self.state = state
            self.world.device.update(now)

    def input_voltage(self) -> float:
        with self.world.lock:
            self.world.settle()
            return self.voltage()

    def input_current(self) -> float:
        with self.world.lock:
            self.world.settle()
            return self.current()

    def in_compliance(self) -> bool:
        with self.world.lock:
            self.world.settle()
            return self.compliance()

    def voltage(self) -> float:
        """The net's voltage, V (the lock is held)."""
        raise NotImplementedError

    def current(self) -> float:
        """The current the instrument measures, A, positive out of its terminal."""
        raise NotImplementedError

    def compliance(self) -> bool:
        raise NotImplementedError


class Pin(Port):
    """A high-impedance input: it takes the driven voltage and draws no current."""

    def voltage(self) -> float:
        return self._open().input_voltage()

    def current(self) -> float:
        return self._open().input_current()

    def compliance(self) -> bool:
        return self._open().in_compliance()

    def _open(self) -> OpenCircuit:
        circuit = OpenCircuit()
        circuit.apply_supply(self.state)
        return circuit
