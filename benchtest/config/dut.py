"""DUT profiles: one part's ratings, limits, nets, debug port and simulation model.

`DutProfile.load(path)` validates the YAML against its schema plus the checks a schema cannot
express (min <= typ <= max, ratings on known nets, finite ratings that bound the operating and
test conditions: see `ratings`, a consistent register map). The profile supplies
`measure(...)` with units and limits by parameter name and builds the absolute-maximum guard
of each role.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from benchtest.config.files import LoadedFile, load_validated
from benchtest.config.ratings import as_rating, check_ratings
from benchtest.config.registers import RegisterMap
from benchtest.values.errors import ConfigError, MeasurementError
from benchtest.values.measurement import Limits
from benchtest.values.probe import Probe
from benchtest.values.ratings import SourceGuard


@dataclass(frozen=True)
class Parameter:
    """One row of the datasheet's electrical-characteristics table."""

    name: str
    unit: str
    min: float | None = None
    typ: float | None = None
    max: float | None = None
    description: str = ""
    conditions: Mapping[str, Any] = field(default_factory=dict)
    margin: float = 0.0
    #: How far the value may move from a baseline run (`benchtest compare`): any of
    #: "absolute", "relative", "window", "sigma"; empty for compare's default.
    drift: Mapping[str, float] = field(default_factory=dict)

    @property
    def limits(self) -> Limits:
        return Limits(self.min, self.max, self.unit, self.margin)


@dataclass(frozen=True)
class DutProfile:
    """A validated DUT profile."""

    path: Path
    text: str
    sha256: str
    name: str
    family: str
    parameters: Mapping[str, Parameter]
    ratings: Mapping[str, Mapping[str, Any]]
    nets: Mapping[str, Mapping[str, Any]]
    debug_port: Mapping[str, Any]
    model: Mapping[str, Any]
    data: Mapping[str, Any]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DutProfile:
        return cls.from_file(load_validated(path, "dut", "DUT profile"))

    @classmethod
    def from_file(cls, loaded: LoadedFile) -> DutProfile:
        data = loaded.data
        where = str(loaded.path)
        parameters = {
            name: _parameter(where, name, spec) for name, spec in data["parameters"].items()
        }
        nets = data.get("nets", {})
        ratings = data.get("absolute_maximum", {})
        for name, rating in ratings.items():
            if nets and rating["net"] not in nets:
                raise ConfigError(
                    where,
                    f"absolute_maximum.{name}.net",
                    f"net {rating['net']!r} is not listed under nets "
                    f"(known nets: {', '.join(sorted(nets))})",
                )
        check_ratings(where, data)
        RegisterMap.from_section(data.get("debug_port") or {}, where)  # semantic checks
        for net, spec in nets.items():
            if "probe" in spec:
                Probe.from_spec(spec["probe"], where, f"nets.{net}.probe")
        return cls(
            path=loaded.path,
            text=loaded.text,
            sha256=loaded.sha256,
            name=data["part"]["name"],
            family=data["part"]["family"],
            parameters=parameters,
            ratings=ratings,
            nets=nets,
            debug_port=data.get("debug_port", {}),
            model=data.get("model", {}),
            data=data,
        )

    def parameter(self, name: str) -> Parameter:
        """The parameter called `name`, or a MeasurementError listing the known ones."""
        try:
            return self.parameters[name]
        except KeyError:
            known = ", ".join(sorted(self.parameters))
            raise MeasurementError(
                f"parameter {name!r} is not in DUT profile {self.name} ({self.path}); "
                f"known parameters: {known}"
            ) from None

    def guard_for(self, role: str) -> SourceGuard:
        """The absolute maximum ratings of every net that `role` drives."""
        role_nets = {net for net, spec in self.nets.items() if spec.get("role") == role}
        ratings = tuple(
            as_rating(name, spec, self.name)
            for name, spec in self.ratings.items()
            if spec["net"] in role_nets
        )
        return SourceGuard(ratings=ratings, role=role)


def _parameter(where: str, name: str, spec: Mapping[str, Any]) -> Parameter:
    values = [(key, spec[key]) for key in ("min", "typ", "max") if spec.get(key) is not None]
    for (k1, v1), (k2, v2) in pairwise(values):
        if v1 > v2:
            raise ConfigError(
                where, f"parameters.{name}", f"{k1} ({v1:g}) must not exceed {k2} ({v2:g})"
            )
    return Parameter(
        name=name,
        unit=spec["unit"],
        min=spec.get("min"),
        typ=spec.get("typ"),
        max=spec.get("max"),
        description=spec.get("description", ""),
        conditions=dict(spec.get("conditions", {})),
        margin=float(spec.get("margin", 0.0)),
        drift={kind: float(v) for kind, v in spec.get("drift", {}).items()},
    )
