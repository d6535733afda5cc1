"""Bench files: which driver at which address fills each role of the bench.

`Bench.load(path)` validates the file against its schema and checks that every driver is
registered and every resource is well formed (a VISA resource, a port in range), so a bad
bench stops the run before any instrument is touched. A `sim://` resource names an
instrument of the simulated bench; `with_resources` swaps in real addresses. `visa_library`
(top level, or a VISA role's own option) chooses the VISA library its VISA roles are opened
through; it reaches each driver as its `visa_library` option, naming where it was set. A GPIB
instrument behind a Prologix adapter is reached without VISA: the bench's library passes it
by, and a `visa_library` of its own is refused.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from benchtest.config.files import LoadedFile, load_validated
from benchtest.driver.ownership import resource_key
from benchtest.driver.prologix import is_prologix
from benchtest.driver.registry import driver_class, driver_names
from benchtest.driver.scpi import ScpiInstrument
from benchtest.driver.visa_library import VisaLibrary, parse_visa_library
from benchtest.values.errors import ConfigError

SIM_SCHEME = "sim://"
LIBRARY_OPTION = "visa_library"


@dataclass(frozen=True)
class RoleConfig:
    """One role of the bench: the driver, its resource and its options."""

    role: str
    driver: str
    resource: str
    options: Mapping[str, Any] = field(default_factory=dict)
    calibration_due: str | None = None
    # The bench file's resource when `resource` was replaced (a simulator's address): what a
    # claim on the instrument is named after, so every site claims the same shared instrument.
    original_resource: str = ""

    @property
    def simulated(self) -> bool:
        return (self.original_resource or self.resource).startswith(SIM_SCHEME)

    @property
    def claim(self) -> str:
        return self.original_resource or self.resource


@dataclass(frozen=True)
class Bench:
    """A validated bench file.

    `roles` are the instruments a test can use. A multi-site bench lists each site's own
    instruments under `sites` and shares the top-level `instruments`; `for_site(name)` gives
    the bench as one site sees it (its own roles plus the shared ones, named in `shared`).
    A `strict` bench (for qualification and nightly runs) turns a role a test requires but the
    bench lacks into an error instead of a skip, and uses no instrument past its calibration.
    """

    path: Path
    text: str
    sha256: str
    name: str
    station: str
    roles: Mapping[str, RoleConfig]
    sites: Mapping[str, Mapping[str, RoleConfig]] = field(default_factory=dict)
    site: str = ""
    shared: frozenset[str] = frozenset()
    strict: bool = False
    catalog: str = ""  # the lab catalog's postgresql:// URL, "" when the bench names none
    # The VISA library of every VISA role without one of its own; None: pyvisa-py, the default
    visa_library: VisaLibrary | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Bench:
        return cls.from_file(load_validated(path, "bench", "bench file"))

    @classmethod
    def from_file(cls, loaded: LoadedFile) -> Bench:
        data = loaded.data
        known = set(driver_names())
        where = str(loaded.path)
        library = None
        if LIBRARY_OPTION in data:
            library = parse_visa_library(
                data[LIBRARY_OPTION], folder=loaded.path.parent, path=where
            )
        roles = _roles(where, "instruments", data.get("instruments", {}), known, library)
        sites = {
            site: _roles(where, f"sites.{site}.instruments", spec["instruments"], known, library)
            for site, spec in data.get("sites", {}).items()
        }
        for site, site_roles in sites.items():
            for role in site_roles:
                if role in roles:
                    raise ConfigError(
                        where,
                        f"sites.{site}.instruments.{role}",
                        f"role {role!r} is also a shared instrument (top-level instruments); "
                        "a role is either shared or a site's own",
                    )
        _check_one_role_per_instrument(
            where,
            {
                **{f"instruments.{name}": cfg for name, cfg in roles.items()},
                **{
                    f"sites.{site}.instruments.{name}": cfg
                    for site, site_roles in sites.items()
                    for name, cfg in site_roles.items()
                },
            },
        )
        return cls(
            path=loaded.path,
            text=loaded.text,
            sha256=loaded.sha256,
            name=data.get("name", loaded.path.stem),
            station=data.get("station", ""),
            roles=roles,
            sites=sites,
            strict=bool(data.get("strict", False)),
            catalog=_catalog(where, data.get("catalog", "")),
            visa_library=library,
        )

    def with_visa_library(self, setting: str, *, field: str = "--visa-library") -> Bench:
        """A copy whose VISA roles without a library of their own use `setting` (a path
        relative to the working folder), as if the bench file's top-level `visa_library`
        said so; a failure names `field` (the command-line option) instead of the file."""
        library = parse_visa_library(setting, field=field)
        where = str(self.path)
        return replace(
            self,
            roles=_with_library(where, "instruments", self.roles, library),
            sites={
                site: _with_library(where, f"sites.{site}.instruments", roles, library)
                for site, roles in self.sites.items()
            },
            visa_library=library,
        )

    def for_site(self, site: str) -> Bench:
        """The bench as `site` sees it: its own roles and the shared ones."""
        if site not in self.sites:
            known = ", ".join(self.sites) or "none (not a multi-site bench)"
            raise ConfigError(str(self.path), "sites", f"no site {site!r}; sites: {known}")
        return replace(
            self,
            roles={**self.roles, **self.sites[site]},
            sites={},
            site=site,
            shared=frozenset(self.roles),
        )

    @property
    def simulated_roles(self) -> list[str]:
        return [r.role for r in self.roles.values() if r.simulated]

    def with_resources(self, resources: Mapping[str, str]) -> Bench:
        """A copy in which the named roles use the given resources (e.g. a simulator's)."""
        roles = {
            name: replace(cfg, resource=resources[name], original_resource=cfg.claim)
            if name in resources
            else cfg
            for name, cfg in self.roles.items()
        }
        return replace(self, roles=roles)

    def to_mapping(self) -> dict[str, Any]:
        """The bench as a bench-file mapping (what `to_yaml` writes)."""
        mapping: dict[str, Any] = {"schema_version": 1, "name": self.name, "station": self.station}
        if self.strict:
            mapping["strict"] = True
        if self.visa_library is not None:  # resolved: the mapping may be written elsewhere
            mapping[LIBRARY_OPTION] = self.visa_library.setting
        if self.roles:
            mapping["instruments"] = _roles_mapping(self.roles)
        if self.sites:
            mapping["sites"] = {
                site: {"instruments": _roles_mapping(roles)} for site, roles in self.sites.items()
            }
        return mapping

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_mapping(), sort_keys=False)


def _roles(
    where: str,
    field_path: str,
    specs: Mapping[str, Any],
    known: set[str],
    library: VisaLibrary | None,
) -> dict[str, RoleConfig]:
    roles: dict[str, RoleConfig] = {}
    for role, spec in specs.items():
        if spec["driver"] not in known:
            raise ConfigError(
                where,
                f"{field_path}.{role}.driver",
                f"unknown driver {spec['driver']!r}; "
                f"registered drivers: {', '.join(sorted(known))}",
            )
        try:
            resource_key(spec["resource"], resolve=False)
        except ValueError as exc:
            raise ConfigError(
                where, f"{field_path}.{role}.resource", f"{spec['resource']!r}: {exc}"
            ) from None
        options = dict(spec.get("options", {}))
        if LIBRARY_OPTION in options and behind_prologix(spec["resource"]):
            raise ConfigError(
                where,
                f"{field_path}.{role}.options.{LIBRARY_OPTION}",
                f"role {role!r} is a GPIB instrument behind a Prologix adapter "
                f"({spec['resource']}), which benchtest reaches over its own TCP connection to "
                "the adapter, not through a VISA library; remove visa_library from this role",
            )
        if LIBRARY_OPTION in options:
            options[LIBRARY_OPTION] = parse_visa_library(
                options[LIBRARY_OPTION],
                folder=Path(where).parent,
                path=where,
                field=f"{field_path}.{role}.options.{LIBRARY_OPTION}",
            )
        cfg = RoleConfig(
            role=role,
            driver=spec["driver"],
            resource=spec["resource"],
            options=options,
            calibration_due=spec.get("calibration_due"),
        )
        roles[role] = _role_with_library(where, field_path, cfg, library)
    return roles


def _check_one_role_per_instrument(where: str, roles: Mapping[str, RoleConfig]) -> None:
    """Refuse two roles (`roles` by field path) on one instrument: one role drives it, and one
    process owns it. The channels of one multi-channel instrument (a driver with a `channel`
    option, e.g. both of a B2902A) are the exception: one role each, each on its own channel.
    `sim://` resources are not checked here: each role gets its own simulated instrument,
    but channel roles of one `sim://` resource share one (`benchtest.sim.bench`)."""
    instruments: dict[str, list[tuple[str, RoleConfig]]] = {}
    for field_path, cfg in roles.items():
        if not cfg.simulated:
            key = resource_key(cfg.resource, resolve=False)
            instruments.setdefault(key, []).append((field_path, cfg))
    for sharing in instruments.values():
        for number, (field_path, cfg) in enumerate(sharing):
            for first_path, first in sharing[:number]:
                if not _other_channels(first, cfg):
                    raise ConfigError(
                        where,
                        f"{field_path}.resource",
                        f"roles {first.role!r} ({first_path}) and {cfg.role!r} ({field_path}) "
                        f"both use the instrument at {cfg.resource}: one role drives an "
                        "instrument, and one process owns it; give each role its own "
                        f"resource{_channel_hint(first, cfg)}",
                    )


def _channel_default(driver: str) -> object:
    """The channel a role of `driver` drives without a `channel` option (the driver's default);
    None when the driver has no channels."""
    cls = driver_class(driver)
    if "channel" not in getattr(cls, "driver_options", ()):
        return None
    parameter = inspect.signature(cls.__init__).parameters.get("channel")
    return None if parameter is None else parameter.default


def _other_channels(first: RoleConfig, other: RoleConfig) -> bool:
    """Whether two roles drive different channels of one multi-channel instrument."""
    if first.driver != other.driver:
        return False
    default = _channel_default(first.driver)
    if default is None:
        return False
    return bool(first.options.get("channel", default) != other.options.get("channel", default))


def _channel_hint(first: RoleConfig, other: RoleConfig) -> str:
    if first.driver == other.driver and _channel_default(first.driver) is not None:
        return f", or each its own channel of the {first.driver} (options: {{channel: N}})"
    return ""


def _with_library(
    where: str, field_path: str, roles: Mapping[str, RoleConfig], library: VisaLibrary
) -> dict[str, RoleConfig]:
    return {
        name: _role_with_library(where, field_path, cfg, library) for name, cfg in roles.items()
    }


def _own_library(cfg: RoleConfig) -> VisaLibrary | str | None:
    """The VISA library the role's own options name (not the bench's, given to every role): as
    its bench file said, or a setting given in Python."""
    own = cfg.options.get(LIBRARY_OPTION)
    if isinstance(own, VisaLibrary) and own.field.endswith(f".options.{LIBRARY_OPTION}"):
        return own
    return own if isinstance(own, str) else None


def _role_with_library(
    where: str, field_path: str, cfg: RoleConfig, library: VisaLibrary | None
) -> RoleConfig:
    """`cfg` with its VISA library in its options: its own, else `library` (the bench's) for a
    VISA driver; each knows where the role's resource is named, for its messages."""
    own = _own_library(cfg)
    if isinstance(own, str) or behind_prologix(cfg.claim):
        return cfg  # given in Python: the driver takes it as it is; Prologix: no VISA library
    if own is not None:
        library = own
    elif library is None or not issubclass(driver_class(cfg.driver), ScpiInstrument):
        return cfg
    resource_field = f"{field_path}.{cfg.role}.resource"
    if library.backend == "sim" and cfg.simulated:
        raise ConfigError(
            where,
            resource_field,
            f"{cfg.claim} is served by benchtest's simulated bench over TCP, which "
            f"{library.describe()} cannot reach; name a resource the pyvisa-sim file defines, "
            "or give this role visa_library: '@py' in its options",
        )
    located = replace(library, resource_field=f"{where}: {resource_field}")
    return replace(cfg, options={**cfg.options, LIBRARY_OPTION: located})


def behind_prologix(resource: str) -> bool:
    """Whether `resource` is a GPIB instrument behind a Prologix adapter: `prologix://...`,
    or a simulated one on the simulated adapter's bus (`sim://ROLE?gpib=N`)."""
    if is_prologix(resource):
        return True
    return resource.startswith(SIM_SCHEME) and "gpib" in parse_qs(urlsplit(resource).query)


def _roles_mapping(roles: Mapping[str, RoleConfig]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cfg in roles.values():
        entry: dict[str, Any] = {"driver": cfg.driver, "resource": cfg.resource}
        options = {name: value for name, value in cfg.options.items() if name != LIBRARY_OPTION}
        own = _own_library(cfg)
        if own is not None:  # the bench's library is written at the top
            options[LIBRARY_OPTION] = str(own)
        if options:
            entry["options"] = options
        if cfg.calibration_due:
            entry["calibration_due"] = cfg.calibration_due
        out[cfg.role] = entry
    return out


def _catalog(where: str, url: str) -> str:
    """The bench's lab catalog URL, refused when it holds a password: a bench file is kept in
    every run file it runs, and a password must never be."""
    try:
        password = urlsplit(url).password if url else None
    except ValueError as exc:
        raise ConfigError(where, "catalog", f"not a URL: {exc}") from None
    if password is not None:
        raise ConfigError(
            where,
            "catalog",
            "holds a password; a bench file is copied into every run file, so keep the "
            "password in PGPASSWORD or ~/.pgpass and write the URL without it",
        )
    return url
