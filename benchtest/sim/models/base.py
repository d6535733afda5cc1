"""`DutModel`: the base of every family's model, read from the profile's `model` section.

A model is a frozen set of one unit's parameters at the reference temperature (SI units, degC):
`from_mapping(model, serial)` draws them from the profile's typical values and spread, seeded by
the serial number (no serial: the typical part), applies the `out_of_spec` fault, and `at(T)`
moves every parameter that has a temperature coefficient to temperature T.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from benchtest.sim.models.faults import DutFaults
from benchtest.sim.models.parameters import ParameterSpec, check_sections, number, parse_spec
from benchtest.values.errors import SimulatorError

if TYPE_CHECKING:
    from benchtest.sim.models.device import Device
    from benchtest.sim.models.world import World

M = TypeVar("M", bound="DutModel")
MODEL_KEYS = ("kind", "reference_temperature", "spread", "tempco", "faults", "firmware_id")
REFERENCE_TEMPERATURE = 25.0  # degC


@dataclass(frozen=True, kw_only=True)
class DutModel:
    """One unit of a part family. Subclasses declare their parameters as float fields."""

    kind: ClassVar[str] = ""
    non_negative: ClassVar[tuple[str, ...]] = ()  # drawn values are clipped at 0

    firmware_id: str
    specs: Mapping[str, ParameterSpec] = field(default_factory=dict, repr=False, compare=False)
    serial: str | None = field(default=None, compare=False)
    reference_temperature: float = field(default=REFERENCE_TEMPERATURE, compare=False)
    faults: DutFaults = field(default_factory=DutFaults, repr=False, compare=False)

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The model's parameters: its float fields, in declaration order."""
        return tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.type in ("float", float) and f.name != "reference_temperature"
        )

    @classmethod
    def from_mapping(cls, model: Mapping[str, Any], serial: str | None = None) -> Self:
        """Unit `serial` (None: the typical unit) of the part the `model` section describes."""
        kind = model.get("kind", cls.kind)
        if kind != cls.kind:
            raise SimulatorError(f"model.kind: the {cls.kind} model cannot build a {kind!r} part")
        names = cls.parameter_names()
        _check_keys(model, names, cls.kind)
        check_sections(model, names, cls.kind)
        defaults = {
            f.name: f.default for f in dataclasses.fields(cls) if isinstance(f.default, float)
        }
        specs = {name: parse_spec(model, name, defaults.get(name)) for name in names}
        for name in cls.non_negative:
            if specs[name].typ < 0:
                raise SimulatorError(f"model.{name}: expected a number >= 0, got {specs[name].typ}")
        drawn = {name: spec.draw(serial) for name, spec in specs.items()}
        drawn = {n: max(v, 0.0) if n in cls.non_negative else v for n, v in drawn.items()}
        faults = DutFaults.from_mapping(model.get("faults"), names)
        return cls(
            firmware_id=_firmware_id(model),
            specs=specs,
            serial=serial or None,
            reference_temperature=number(
                model.get("reference_temperature", REFERENCE_TEMPERATURE),
                "model.reference_temperature",
            ),
            faults=faults,
            **faults.apply(drawn),
        )

    def at(self, temperature: float) -> Self:
        """This unit at `temperature` degC: every parameter with a tempco moved there."""
        delta = temperature - self.reference_temperature
        moved: dict[str, Any] = {
            name: spec.at(getattr(self, name), delta)
            for name, spec in self.specs.items()
            if spec.tempco is not None
        }
        return dataclasses.replace(self, **moved) if moved and delta else self

    def device(self, world: World) -> Device:
        """The family's behaviour in the simulated world."""
        raise NotImplementedError


def _check_keys(model: Mapping[str, Any], names: tuple[str, ...], kind: str) -> None:
    for key in model:
        if key not in names and key not in MODEL_KEYS:
            raise SimulatorError(
                f"model.{key}: the {kind} model has no parameter {key!r}; "
                f"parameters: {', '.join(names)}"
            )


def _firmware_id(model: Mapping[str, Any]) -> str:
    firmware_id = model.get("firmware_id")
    if not isinstance(firmware_id, str) or not firmware_id:
        raise SimulatorError("model.firmware_id: expected a non-empty string")
    return firmware_id


def unit_of(world: World, kind: type[M]) -> M:
    """The world's unit at the present temperature, as the family's model class."""
    unit = world.unit()
    if not isinstance(unit, kind):
        raise TypeError(f"the world simulates a {unit.kind} part, not a {kind.kind} part")
    return unit
