"""Bench files: which driver at which address fills each role of the bench.

`Bench.load(path)` validates the file against its schema and checks that every driver is
registered, so a bad bench stops the run before any instrument is touched. A `sim://`
resource names an instrument of the simulated bench; `with_resources` swaps in real addresses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from benchtest.config_file import LoadedFile, load_validated
from benchtest.errors import ConfigError
from benchtest.registry import driver_names

SIM_SCHEME = "sim://"


@dataclass(frozen=True)
class RoleConfig:
    """One role of the bench: the driver, its resource and its options."""

    role: str
    driver: str
    resource: str
    options: Mapping[str, Any] = field(default_factory=dict)
    calibration_due: str | None = None

    @property
    def simulated(self) -> bool:
        return self.resource.startswith(SIM_SCHEME)


@dataclass(frozen=True)
class Bench:
    """A validated bench file."""

    path: Path
    text: str
    sha256: str
    name: str
    station: str
    roles: Mapping[str, RoleConfig]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Bench:
        return cls.from_file(load_validated(path, "bench", "bench file"))

    @classmethod
    def from_file(cls, loaded: LoadedFile) -> Bench:
        data = loaded.data
        known = set(driver_names())
        roles: dict[str, RoleConfig] = {}
        for role, spec in data["instruments"].items():
            if spec["driver"] not in known:
                raise ConfigError(
                    str(loaded.path),
                    f"instruments.{role}.driver",
                    f"unknown driver {spec['driver']!r}; registered drivers: "
                    f"{', '.join(sorted(known))}",
                )
            roles[role] = RoleConfig(
                role=role,
                driver=spec["driver"],
                resource=spec["resource"],
                options=dict(spec.get("options", {})),
                calibration_due=spec.get("calibration_due"),
            )
        return cls(
            path=loaded.path,
            text=loaded.text,
            sha256=loaded.sha256,
            name=data.get("name", loaded.path.stem),
            station=data.get("station", ""),
            roles=roles,
        )

    @property
    def simulated_roles(self) -> list[str]:
        return [r.role for r in self.roles.values() if r.simulated]

    def with_resources(self, resources: Mapping[str, str]) -> Bench:
        """A copy in which the named roles use the given resources (e.g. a simulator's)."""
        roles = {
            name: replace(cfg, resource=resources.get(name, cfg.resource))
            for name, cfg in self.roles.items()
        }
        return replace(self, roles=roles)

    def to_mapping(self) -> dict[str, Any]:
        """The bench as a bench-file mapping (what `to_yaml` writes)."""
        instruments: dict[str, Any] = {}
        for cfg in self.roles.values():
            entry: dict[str, Any] = {"driver": cfg.driver, "resource": cfg.resource}
            if cfg.options:
                entry["options"] = dict(cfg.options)
            if cfg.calibration_due:
                entry["calibration_due"] = cfg.calibration_due
            instruments[cfg.role] = entry
        return {
            "schema_version": 1,
            "name": self.name,
            "station": self.station,
            "instruments": instruments,
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_mapping(), sort_keys=False)
