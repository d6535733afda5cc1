"""Drift tolerances: how far a parameter may move from its baseline before `compare` calls the
move a regression.

A tolerance has up to four bounds: `absolute` (in the parameter's unit), `relative` (a fraction
of the baseline value), `window` (a fraction of the limit window max - min) and `sigma`
(multiples of the baseline's standard deviation, where the baseline has several readings). The
shift allowed is the largest bound that applies. A parameter's tolerance is, first found: its
entry in a tolerance file, its `drift` in the DUT profile recorded in the run (then in the
baseline), the tolerance file's `default`, and the built-in default (`default_tolerance`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from jsonschema.exceptions import best_match

from benchtest.config.files import field_path, load_validated, parse_yaml, validator
from benchtest.values.errors import ConfigError

#: The bounds a tolerance may have, in the order they are shown.
KINDS = ("absolute", "relative", "window", "sigma")


class Allowance(NamedTuple):
    """The shift allowed for one parameter, and the bound that gave it ("" when none applied)."""

    shift: float
    by: str


@dataclass(frozen=True)
class Tolerance:
    """The drift tolerance of a parameter; `source` says where it was found."""

    absolute: float | None = None
    relative: float | None = None
    window: float | None = None
    sigma: float | None = None
    source: str = "default"

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any], source: str) -> Tolerance:
        """From a validated `drift` mapping (numbers of any numeric kind, numpy's included)."""
        return cls(**{kind: float(spec[kind]) for kind in KINDS if kind in spec}, source=source)

    def bounds(self) -> dict[str, float]:
        """The bounds given, by kind."""
        given = {kind: getattr(self, kind) for kind in KINDS}
        return {kind: value for kind, value in given.items() if value is not None}

    def allowed(self, baseline: float, sigma: float | None, low: float, high: float) -> Allowance:
        """The shift allowed from `baseline` (whose readings have standard deviation `sigma`,
        None for a single reading) of a parameter with limits [low, high] (NaN where open).

        Each bound applies only where what it scales exists: `relative` needs a finite
        baseline, `window` two finite limits, `sigma` a baseline with several readings. When no
        bound applies, no shift is allowed.
        """
        candidates: list[Allowance] = []
        if self.absolute is not None:
            candidates.append(Allowance(self.absolute, "absolute"))
        if self.relative is not None and math.isfinite(baseline):
            candidates.append(Allowance(self.relative * abs(baseline), "relative"))
        if self.window is not None and math.isfinite(low) and math.isfinite(high) and high > low:
            candidates.append(Allowance(self.window * (high - low), "window"))
        if self.sigma is not None and sigma is not None and math.isfinite(sigma):
            candidates.append(Allowance(self.sigma * sigma, "sigma"))
        return max(candidates, key=lambda a: a.shift, default=Allowance(0.0, ""))

    def describe(self, absolute: Callable[[float], str] = "{:g}".format) -> str:
        """The bounds in words: "5 % of baseline, 5 % of limit window, 3 σ"; `absolute` writes
        an absolute bound (with its unit)."""
        words: dict[str, Callable[[float], str]] = {
            "absolute": lambda v: f"± {absolute(v)} absolute",
            "relative": lambda v: f"{v * 100:g} % of baseline",
            "window": lambda v: f"{v * 100:g} % of limit window",
            "sigma": lambda v: f"{v:g} σ",
        }
        return ", ".join(words[kind](value) for kind, value in self.bounds().items())


#: The built-in tolerance of a parameter with a low and a high limit: 5 % of its limit window,
#: or 3 standard deviations of the baseline's readings where that is more.
DEFAULT_WINDOWED = Tolerance(window=0.05, sigma=3.0, source="default")
#: The built-in tolerance of any other parameter: 5 % of the baseline value, or 3 standard
#: deviations of the baseline's readings where that is more.
DEFAULT_TOLERANCE = Tolerance(relative=0.05, sigma=3.0, source="default")


def default_tolerance(low: float, high: float) -> Tolerance:
    """The built-in tolerance of a parameter with limits [low, high] (NaN where open): a
    parameter with a limit window is judged against it, one without against its value."""
    windowed = math.isfinite(low) and math.isfinite(high) and high > low
    return DEFAULT_WINDOWED if windowed else DEFAULT_TOLERANCE


@dataclass(frozen=True)
class ToleranceRules:
    """Where each parameter's tolerance comes from (see the module's docstring)."""

    overrides: Mapping[str, Tolerance] = field(default_factory=dict)  # a tolerance file's
    profile: Mapping[str, Tolerance] = field(default_factory=dict)  # the DUT profiles'
    default: Tolerance | None = None  # a tolerance file's; None: `default_tolerance`

    def for_parameter(self, name: str, low: float = math.nan, high: float = math.nan) -> Tolerance:
        """The tolerance of the parameter called `name`, whose limits are [low, high]."""
        found = self.overrides.get(name) or self.profile.get(name) or self.default
        return found or default_tolerance(low, high)

    def with_profile(self, profile: Mapping[str, Tolerance]) -> ToleranceRules:
        """These rules, with the profile tolerances `profile`."""
        return ToleranceRules(self.overrides, profile, self.default)


def load_tolerance_file(path: str | os.PathLike[str]) -> ToleranceRules:
    """The rules of the tolerance file `path` (YAML or JSON: `docs/compare.md`); a ConfigError
    naming the file and the field when it is not one."""
    loaded = load_validated(path, "tolerance", "tolerance file")
    source = f"tolerance file {loaded.path}"
    overrides = {
        name: Tolerance.from_mapping(spec, source)
        for name, spec in loaded.data.get("parameters", {}).items()
    }
    default = loaded.data.get("default")
    return ToleranceRules(
        overrides=overrides,
        default=Tolerance.from_mapping(default, f"{source} (default)") if default else None,
    )


def profile_tolerances(text: str, where: str) -> dict[str, Tolerance]:
    """The `drift` of every parameter of the DUT profile `text` (as a run file recorded it;
    `where` names it in messages). A profile that has no parameters gives none; a `drift`
    that is not a tolerance raises a ConfigError naming the field."""
    data = parse_yaml(text, where, "DUT profile")
    parameters = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(parameters, dict):
        return {}
    drifts = {
        name: spec["drift"]
        for name, spec in parameters.items()
        if isinstance(spec, dict) and "drift" in spec
    }
    error = best_match(
        validator("tolerance").iter_errors({"schema_version": 1, "parameters": drifts})
    )
    if error is not None:
        parts = list(error.absolute_path)[1:]  # [name, bound, ...] under "parameters"
        path = field_path(["parameters", *parts[:1], "drift", *parts[1:]])
        raise ConfigError(where, path, f"not a drift tolerance: {error.message}")
    source = f"DUT profile recorded in {where}"
    return {name: Tolerance.from_mapping(spec, source) for name, spec in drifts.items()}
