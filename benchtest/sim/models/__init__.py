"""The part families the simulated bench can model, chosen by the profile's `model.kind`.

Each family is a model class (one unit's parameters, drawn from the profile's typical values
and spread by serial number) and a device (its physics in the shared world). `build_model`
picks the family and names the known kinds when the profile asks for another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchtest.sim.models.base import DutModel
from benchtest.sim.models.ldo import LdoModel
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.sensor import SensorModel
from benchtest.values.errors import SimulatorError

MODELS: dict[str, type[DutModel]] = {
    "ldo": LdoModel,
    "mcu": McuModel,
    "sensor": SensorModel,
}

__all__ = ["MODELS", "DutModel", "LdoModel", "McuModel", "SensorModel", "build_model"]


def build_model(model: Mapping[str, Any] | None, serial: str | None = None) -> DutModel:
    """Unit `serial` (None or "": the typical unit) of the part `model` describes."""
    section = model or {}
    kind = section.get("kind")
    if kind not in MODELS:
        raise SimulatorError(
            f"model.kind: the simulated bench has no {kind!r} model; kinds: {', '.join(MODELS)}"
        )
    return MODELS[str(kind)].from_mapping(section, serial)
