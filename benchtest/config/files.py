"""Loading a YAML configuration file and validating it against a JSON Schema.

Bench files and DUT profiles both go through `load_validated`: a file that does not parse or
does not match its schema raises one `ConfigError` naming the file, the field path and what
was expected, before anything else happens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from benchtest.values.errors import ConfigError


@dataclass(frozen=True)
class LoadedFile:
    """A configuration file as read: its path, exact text, hash and parsed content."""

    path: Path
    text: str
    sha256: str
    data: dict[str, Any]


@cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped under `benchtest/config/schemas/<name>.schema.json`."""
    text = files("benchtest.config.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def field_path(parts: Any) -> str:
    """`['instruments', 'smu', 'driver']` -> `instruments.smu.driver`; list indices as `[0]`."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required but missing")
    if error.validator == "additionalProperties":
        return f"{error.message}; allowed: {', '.join(sorted(schema.get('properties', {})))}"
    expected = schema.get("description")
    got = json.dumps(error.instance, default=str)
    if len(got) > 60:
        got = got[:57] + "..."
    detail = f"{error.message}" if not expected else f"expected {expected}, got {got}"
    return detail


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


#: libyaml's parser where PyYAML was built with it (about 10x faster), else the Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                first = seen[key].start_mark.line + 1
                line = key_node.start_mark.line + 1
                raise _DuplicateKeyError(
                    f"line {line}", f"{key!r} is given twice in one mapping (first on line {first})"
                )
            seen[key] = key_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _dates_as_text(value: Any) -> Any:
    """YAML reads an unquoted 2027-03-31 as a date; the files' schemas speak ISO 8601 text."""
    if isinstance(value, dict):
        return {key: _dates_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def load_validated(path: str | os.PathLike[str], schema_name: str, kind: str) -> LoadedFile:
    """Read `path` as YAML, validate it against `schema_name`, return it; or raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "", f"{kind} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read {kind}: {exc}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except _DuplicateKeyError as exc:
        raise ConfigError(str(path), exc.where, exc.problem) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), where, f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), "", f"a {kind} must be a YAML mapping, got {type(data).__name__}"
        )
    data = _dates_as_text(data)
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    error = best_match(validator.iter_errors(data))
    if error is not None:
        raise ConfigError(str(path), field_path(error.absolute_path), _explain(error))
    return LoadedFile(path, text, hashlib.sha256(text.encode("utf-8")).hexdigest(), data)
