"""Loading a YAML configuration file and validating it against a JSON Schema.

Bench files and DUT profiles both go through `load_validated`. A file is read within bounds
(`MAX_FILE_BYTES`; `MAX_VALUES` values once aliases are expanded; `MAX_DEPTH` levels), must be
JSON data written in YAML (keys are text, each given once, as written: `on:` is "on"; finite
numbers; no language tags) and must
match its schema. Anything else raises one `ConfigError` naming the file, the field path (and
the line) and what was expected, before anything else happens.

jsonschema costs a run ~50 ms of CPU to import and a few ms to validate a DUT profile, so its
verdicts on valid files are remembered (`ValidFiles`): a file whose exact bytes passed the same
schema with the same jsonschema before is not validated again. A file that fails is never
remembered, and its error always comes from jsonschema.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from benchtest.config.valid_files import ValidFiles
from benchtest.values.errors import ConfigError

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

#: The largest configuration file read (a DUT profile with a large register map is ~100 KiB).
MAX_FILE_BYTES = 1 << 20
#: The most values (scalars, lists and mappings) a file may hold once its aliases are expanded.
#: The example profiles hold under 1 000; a register map of 800 registers about 95 000, which
#: takes seconds to validate.
MAX_VALUES = 100_000
#: The deepest nesting of lists and mappings (the schemas need fewer than 10 levels).
MAX_DEPTH = 32
#: A field path in a message shows at most this many parts.
MAX_FIELD_PARTS = 10


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
    parts = list(parts)
    out = ""
    for part in parts[:MAX_FIELD_PARTS]:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    if len(parts) > MAX_FIELD_PARTS:
        out += "..."
    return out or "(top level)"


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """The validator of schema `name`, checking formats (a `date` is a real calendar date)."""
    from jsonschema import Draft202012Validator

    cls = Draft202012Validator
    return cls(schema(name), format_checker=cls.FORMAT_CHECKER)


@cache
def schema_bytes(name: str) -> bytes:
    """The text of schema `name` as shipped, for `ValidFiles`' keys."""
    return files("benchtest.config.schemas").joinpath(f"{name}.schema.json").read_bytes()


def schema_error(name: str, data: Any) -> ValidationError | None:
    """What is most wrong with `data` by schema `name` (jsonschema's best match), or None
    when it is valid."""
    from jsonschema.exceptions import best_match

    error: ValidationError | None = best_match(validator(name).iter_errors(data))
    return error


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


def load_validated(path: str | os.PathLike[str], schema_name: str, kind: str) -> LoadedFile:
    """Read `path` as YAML, validate it against `schema_name`, return it; or raise ConfigError."""
    path = Path(path)
    raw = read_bounded(path, kind)
    text = _decode(raw, str(path))
    data = parse_yaml(text, str(path), kind)
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), field_path(()), f"a {kind} must be a YAML mapping, got {_kind_of(data)}"
        )
    digest = hashlib.sha256(raw).hexdigest()
    valid = ValidFiles.default()
    key = valid.key(schema_bytes(schema_name), digest)
    if not valid.known(key):
        error = schema_error(schema_name, data)
        if error is not None:
            raise ConfigError(str(path), field_path(error.absolute_path), _explain(error))
        valid.remember(key)
    return LoadedFile(path, text, digest, data)


def read_bounded(path: Path, kind: str) -> bytes:
    """The bytes of the regular file `path`, at most MAX_FILE_BYTES of them; or ConfigError.

    A folder, pipe or device is refused before it is opened (a pipe would block, /dev/zero
    never end).
    """
    where = str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(where, "", f"is a folder, not a {kind}")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(where, "", "is not a regular file (a device, pipe or socket)")
        raw = b""
        if info.st_size <= MAX_FILE_BYTES:
            with path.open("rb") as file:
                raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(where, "", f"{kind} not found") from None
    except (OSError, ValueError) as exc:  # no permission, a symlink loop, a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(where, "", f"cannot read {kind}: {reason}") from None
    size = max(info.st_size, len(raw))
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            where, "", f"is {size} bytes; a {kind} may be at most {MAX_FILE_BYTES >> 20} MiB"
        )
    return raw


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start)
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        text = raw.decode("utf-8", errors="replace")
        raise ConfigError(
            where,
            _field_at(text, line),
            f"byte 0x{raw[exc.start]:02x} on line {line + 1} (byte {column + 1}) is not "
            "UTF-8 text; save the file as UTF-8",
        ) from None


#: libyaml's parser where PyYAML was built with it (about 10x faster), else the Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_TAG_NAMES = {"int": "a whole number", "float": "a number", "bool": "true/false"}


def _plain_loader(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`base`, leaving a date as the text it is written as: the schemas check dates (a YAML
    timestamp that is no calendar date raised a bare ValueError)."""

    class Loader(base):  # type: ignore[valid-type,misc]
        pass

    Loader.add_constructor(f"{_TAG}timestamp", Loader.construct_yaml_str)
    return Loader


_Loader = _plain_loader(_SafeLoader)


def parse_yaml(text: str, where: str, kind: str = "file") -> Any:
    """The data of the YAML document `text`, checked to be bounded JSON data; or ConfigError."""
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, where, exc) from None
    try:
        _check_bounds(text, where)
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(where, "", f"the {kind} is empty")
        _check_nodes(root, loader, where)
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(text, where, exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, where, exc) from None
    except RecursionError:  # the pure-Python composer, on nesting libyaml would refuse
        field = _field_at(text, len(text), depth=MAX_DEPTH)
        raise ConfigError(where, field, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _reader_error(text: str, where: str, exc: yaml.reader.ReaderError) -> ConfigError:
    position = exc.position
    if _SafeLoader is getattr(yaml, "CSafeLoader", None):  # libyaml counts bytes
        position = len(text.encode("utf-8")[:position].decode("utf-8", errors="ignore"))
    line = text.count("\n", 0, position)
    blanked = text[:position] + " " + text[position + 1 :]
    return ConfigError(
        where,
        _field_at(blanked, line),
        f"not valid YAML: character U+{exc.character:04X} on line {line + 1}: {exc.reason}",
    )


def _syntax_error(text: str, where: str, exc: yaml.MarkedYAMLError) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    words = ", ".join(str(part) for part in (exc.context, exc.problem) if part)
    if mark is None:
        return ConfigError(where, "", f"not valid YAML: {words}")
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if line[mark.column : mark.column + 1] == "\t":
        words += "; YAML indents with spaces, not tabs"
    return ConfigError(
        where,
        _field_at(text, mark.line),
        f"not valid YAML: {words} (line {mark.line + 1}, column {mark.column + 1})",
    )


@dataclass
class _Open:
    """A list or mapping being read from the event stream: its last key or its item count,
    its anchor, and how many values it holds so far with aliases expanded."""

    mapping: bool
    anchor: str | None = None
    key: str | None = None
    index: int = -1
    wants_key: bool = True
    size: int = 1

    @property
    def part(self) -> str | int | None:
        return self.key if self.mapping else (self.index if self.index >= 0 else None)


def _check_bounds(text: str, where: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH, holding more than MAX_VALUES values
    once its aliases are expanded (billion laughs), or with an alias inside its own anchor.

    Reads the event stream, before any node is built: every alias adds the size of what its
    anchor holds, counted once when the anchor's value ended.
    """
    stack: list[_Open] = []
    anchors: dict[str, int] = {}
    total = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            anchors.update({done.anchor: done.size} if done.anchor else {})
            if stack:
                stack[-1].size += done.size
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        if isinstance(event, yaml.AliasEvent) and any(o.anchor == event.anchor for o in stack):
            _bounds_error(where, stack, event, "an alias refers to a value that contains it")
        size = anchors.get(event.anchor or "", 1) if isinstance(event, yaml.AliasEvent) else 1
        _read_node(stack, event)
        if isinstance(event, yaml.ScalarEvent) and event.anchor:
            anchors[event.anchor] = 1
        if not isinstance(event, yaml.CollectionStartEvent) and stack:
            stack[-1].size += size
        total += size
        if len(stack) > MAX_DEPTH:
            _bounds_error(where, stack, event, f"nested deeper than {MAX_DEPTH} levels")
        if total > MAX_VALUES:
            expanded = " once its aliases are expanded" if anchors else ""
            problem = f"the file holds more than {MAX_VALUES} values{expanded}"
            _bounds_error(where, stack, event, problem)


def _bounds_error(where: str, stack: list[_Open], event: yaml.Event, problem: str) -> None:
    path = field_path(part for frame in stack if (part := frame.part) is not None)
    line = f" (line {event.start_mark.line + 1})" if event.start_mark else ""
    raise ConfigError(where, path, f"{problem}{line}")


def _field_at(text: str, line: int, depth: int | None = None) -> str:
    """The field that reading `text` reached by the end of `line` (0-based), or where it first
    nests deeper than `depth`: where a problem found there is. Reads the YAML event stream, so
    it works on a broken document."""
    stack: list[_Open] = []
    try:
        for event in yaml.parse(text, Loader=_SafeLoader):
            past = event.start_mark is not None and event.start_mark.line > line
            if past or (depth is not None and len(stack) > depth):
                break
            if isinstance(event, yaml.DocumentStartEvent):
                stack.clear()
            elif isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
            elif isinstance(event, yaml.NodeEvent):
                _read_node(stack, event)
    except yaml.YAMLError:
        pass  # the problem itself: the path read so far is the answer
    return field_path(part for frame in stack if (part := frame.part) is not None)


def _read_node(stack: list[_Open], event: yaml.NodeEvent) -> None:
    if stack and stack[-1].mapping:
        parent = stack[-1]
        if parent.wants_key:
            parent.key = str(event.value) if isinstance(event, yaml.ScalarEvent) else "?"
        parent.wants_key = not parent.wants_key
    elif stack:
        stack[-1].index += 1
    if isinstance(event, yaml.CollectionStartEvent):
        stack.append(_Open(isinstance(event, yaml.MappingStartEvent), anchor=event.anchor))


def _check_nodes(root: yaml.Node, loader: Any, where: str) -> None:
    """Refuse what is not JSON data, naming the field and line: keys are scalars, read as the
    text written and given once; scalars are plain values, numbers finite. Visits each node
    once, however many aliases refer to it (`_check_bounds` has refused cycles and depth)."""
    seen: set[int] = set()
    pending: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    while pending:
        node, path = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, path, loader, where)
            continue
        _check_collection_tag(node, path, where)
        children = [(child, (*path, part)) for part, child in _children(node, path, where)]
        pending.extend(reversed(children))  # first child first: the first problem is named


def _children(
    node: yaml.Node, path: tuple[str | int, ...], where: str
) -> Iterator[tuple[str | int, yaml.Node]]:
    if isinstance(node, yaml.SequenceNode):
        yield from enumerate(node.value)
        return
    seen: dict[str, int] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            kind = "list" if isinstance(key, yaml.SequenceNode) else "mapping"
            raise _node_error(where, path, key, f"a key must be text, not a {kind}")
        if key.tag in _SCALAR_TAGS:
            key.tag = f"{_TAG}str"  # `on:`, `1:`: a key is the name written, as in JSON
        elif key.tag != f"{_TAG}merge":
            raise _node_error(where, path, key, f"tag {_short(key.tag)} is not allowed here")
        line = key.start_mark.line + 1
        if key.value in seen and key.tag != f"{_TAG}merge":
            raise ConfigError(
                where,
                field_path((*path, key.value)),
                f"{key.value!r} is given twice in one mapping (lines {seen[key.value]} and {line})",
            )
        seen[key.value] = line
        yield str(key.value), value


def _check_collection_tag(node: yaml.Node, path: tuple[str | int, ...], where: str) -> None:
    expected = f"{_TAG}seq" if isinstance(node, yaml.SequenceNode) else f"{_TAG}map"
    if node.tag != expected:
        raise _node_error(where, path, node, f"tag {_short(node.tag)} is not allowed here")


def _check_scalar(
    node: yaml.ScalarNode, path: tuple[str | int, ...], loader: Any, where: str
) -> None:
    if node.tag not in _SCALAR_TAGS:
        raise _node_error(where, path, node, f"tag {_short(node.tag)} is not allowed here")
    try:
        value = loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        kind = _TAG_NAMES.get(node.tag[len(_TAG) :], node.tag)
        raise _node_error(where, path, node, f"{node.value!r} is not {kind}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _node_error(where, path, node, f"{node.value} is not a finite number")
    if isinstance(value, int) and not math.isfinite(_as_float(value)):
        shown = node.value if len(node.value) <= 24 else f"{node.value[:20]}..."
        raise _node_error(where, path, node, f"{shown} is too large for a number")


def _as_float(value: int) -> float:
    """`value` as a float; inf when it is beyond the largest float."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _short(tag: str) -> str:
    return f"!!{tag[len(_TAG) :]}" if tag.startswith(_TAG) else tag


def _node_error(
    where: str, path: tuple[str | int, ...], node: yaml.Node, problem: str
) -> ConfigError:
    return ConfigError(where, field_path(path), f"{problem} (line {node.start_mark.line + 1})")


def _kind_of(data: Any) -> str:
    names = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}
    return names.get(type(data), type(data).__name__)
