"""The source and limit commands of an instrument's dialect, and the guard on raw commands.

A driver lists, in its programming manual's notation, each command that sets a source level or
a limit and the quantity each of its arguments carries (`SourceCommand(":APPLy", ("voltage",
"current"), channel_first=True)`); the commands of its declared guarded properties are added
by themselves. `guard_raw` parses a raw command as the instrument would (any case, long or
short keywords, numeric suffixes, optional nodes, several commands joined by `;`) and checks
every such argument with the guard, as the declared properties do. An argument the guard cannot
check (`MAX`, `7V`, `DEF`) and a recalled set-up (`*RCL`) are refused on a guarded instrument.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from benchtest.values.ratings import SourceGuard

#: A plain SCPI decimal number (NR1, NR2, NR3): the only argument the guard can check.
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
CHANNEL_ARGUMENT = re.compile(r"CH\d+|[PN]\d+V", re.IGNORECASE)  # CH1; P6V, P25V, N25V
#: Commands that load a stored set-up, whose levels no guard can see.
RECALL = re.compile(r"\*RCL|:(?:MMEMORY|MMEM|MEMORY|MEM)\d*(?::[A-Z]+\d*)*:LOAD(?::[A-Z]+\d*)*")
NODE = re.compile(r"(\[)?:?([A-Za-z]+)(#)?(\])?")


class CheckedCommand(str):
    """A command built by a declared property after its value passed the guard and validator
    (or an unchecked safe-state command): `guard_raw` lets it through without parsing it."""

    __slots__ = ()


@dataclass(frozen=True)
class SourceCommand:
    """One source or limit command, in manual notation: `[...]` an optional node, `[<n>]` or
    `<n>` a numeric suffix (`[:SOURce[<n>]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]`).

    `quantities` is the quantity of every argument (one name: all of them, as in a list of
    levels) or of each argument by position (None: not a level). With `channel_first`, a
    leading `CH<n>` argument is skipped before counting.
    """

    header: str
    quantities: str | tuple[str | None, ...]
    channel_first: bool = False

    def matches(self, path: str) -> bool:
        """Whether the upper-case, colon-rooted header `path` is this command."""
        return _header_pattern(self.header).fullmatch(path) is not None

    def levels(self, arguments: list[str]) -> Iterator[tuple[str, str]]:
        """(quantity, argument text) of every argument that carries a level."""
        if self.channel_first and arguments and CHANNEL_ARGUMENT.fullmatch(arguments[0]):
            arguments = arguments[1:]
        for position, text in enumerate(arguments):
            if isinstance(self.quantities, str):
                yield self.quantities, text
            elif position < len(self.quantities) and self.quantities[position] is not None:
                yield str(self.quantities[position]), text


def guard_raw(command: str, commands: Iterable[SourceCommand], guard: SourceGuard) -> None:
    """Refuse (SafetyError) a raw `command` that sets a level or limit beyond the guard's
    ratings, or one the guard cannot check; send nothing. Commands built by declared
    properties (`CheckedCommand`) and any command on an unenforced guard pass."""
    known = tuple(commands)
    if isinstance(command, CheckedCommand) or not guard.enforced or not known:
        return
    for header, arguments in message_units(command):
        if header.endswith("?"):
            continue
        if RECALL.fullmatch(header):
            guard.refuse(
                f"send {command!r}",
                f"{header} loads a stored set-up whose levels cannot be checked",
            )
        for source in known:
            if source.matches(header):
                _check_levels(guard, source.levels(arguments), f"send {command!r}")


def message_units(command: str) -> Iterator[tuple[str, list[str]]]:
    """(header, arguments) of each command in a program message, the header upper-case and
    rooted at `:`; a header after `;` without a leading `:` continues the previous one's path
    (SCPI's compound-command rule), a common command (`*RCL`) keeps it, and a line break
    starts a new message at the root."""
    for line in command.splitlines():
        yield from _units(line)


def _units(message: str) -> Iterator[tuple[str, list[str]]]:
    path: list[str] = []
    for unit in _split(message, ";"):
        text = unit.strip()
        if not text:
            continue
        header, _, rest = re.sub(r"\s+", " ", text, count=1).partition(" ")
        header = header.upper()
        arguments = [a.strip() for a in _split(rest, ",")] if rest.strip() else []
        if header.startswith("*"):
            yield header, arguments
            continue
        nodes = header.lstrip(":").split(":")
        full = nodes if header.startswith(":") else [*path, *nodes]
        path = full[:-1]
        yield ":" + ":".join(full), arguments


def declared_source_commands(cls: type[Any]) -> tuple[SourceCommand, ...]:
    """The commands of the guarded properties declared on `cls` and on its channel classes
    (`channel_class`, `sense_class`), as `SourceCommand`s."""
    found: list[SourceCommand] = []
    for owner in _classes(cls):
        for item in vars(owner).values():
            guard = getattr(item, "guard", None)
            set_cmd = getattr(item, "set_cmd", None)
            if isinstance(guard, str) and isinstance(set_cmd, str):
                found.append(_from_template(set_cmd, guard))
    return tuple(dict.fromkeys(found))


# -- internals ------------------------------------------------------------------------------


def _check_levels(guard: SourceGuard, levels: Iterable[tuple[str, str]], action: str) -> None:
    """Check (quantity, text) levels: each must be a plain number, and the lowest and highest
    of each quantity within its ratings (a rating is an interval, so they stand for all)."""
    numbers: dict[str, list[float]] = {}
    for quantity, text in levels:
        if not PLAIN_NUMBER.fullmatch(text):
            guard.refuse(
                action,
                f"{text!r} is not a plain number, so the {quantity} it sets cannot be checked "
                "against the ratings (send the number itself)",
            )
        numbers.setdefault(quantity, []).append(float(text))
    for quantity, values in numbers.items():
        for extreme in dict.fromkeys((max(values), min(values))):
            guard.check(quantity, extreme, what=action)


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside quotes and parentheses."""
    if not any(mark in text for mark in "\"'("):
        return text.split(separator)
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


@cache
def _header_pattern(notation: str) -> re.Pattern[str]:
    """A regular expression for the upper-case headers that spell `notation`."""
    text = notation.replace("[<n>]", "#").replace("<n>", "#")
    pieces = []
    for optional, keyword, _suffix, _ in NODE.findall(text):
        short = "".join(c for c in keyword if c.isupper()) or keyword.upper()
        forms = "|".join(sorted({keyword.upper(), short.upper()}, key=len, reverse=True))
        piece = f":(?:{forms})\\d*"
        pieces.append(f"(?:{piece})?" if optional else piece)
    return re.compile("".join(pieces))


def _from_template(set_cmd: str, quantity: str) -> SourceCommand:
    """`:SOURce{ch}:VOLTage {value}` as a SourceCommand; `{value}`'s argument is the level."""
    template = set_cmd if "{value}" in set_cmd else set_cmd + " {value}"
    header, _, rest = template.partition(" ")
    header = re.sub(r"\{\w+\}", "#", header)
    arguments = _split(rest, ",")
    quantities = tuple(quantity if "{value}" in a else None for a in arguments)
    return SourceCommand(header, quantities)


def _classes(cls: type[Any]) -> Iterator[type[Any]]:
    for attribute in ("", "channel_class", "sense_class"):
        owner = getattr(cls, attribute, None) if attribute else cls
        if isinstance(owner, type):
            yield from owner.__mro__
