"""The simulated DUT's registers, answering the read and write commands of its console.

`RegisterConsole` parses command lines by reading the profile's command templates backwards
(`reg write {address:#04x} {value:#04x}`) and keeps a `RegisterFile` built from the register
map: reset values, access rules, and fields whose `state` ties them to the World (the power
mode, power-good, the last reset's cause), so a write to CTRL.MODE changes the current the SMU
measures.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from benchtest.config.registers import Field, Register, RegisterMap
from benchtest.sim.models.world import World
from benchtest.values.errors import SimulatorError

DIGITS = {16: "[0-9A-Fa-f]", 10: "[0-9]", 8: "[0-7]", 2: "[01]"}
PREFIX = {16: "0x", 10: "", 8: "0o", 2: "0b"}
BITS_PER_DIGIT = {16: 4, 8: 3, 2: 1}
RADIX_OF_SPEC = {"x": 16, "X": 16, "o": 8, "b": 2}
Getter = Callable[[World, Field], int]
Setter = Callable[[World, Field, int], str | None]


@dataclass(frozen=True)
class CommandTemplate:
    """A console command template read backwards: line -> placeholder values."""

    pattern: re.Pattern[str]
    radixes: Mapping[str, int]

    @classmethod
    def compile(cls, template: str) -> CommandTemplate:
        regex, radixes = "", {}
        for literal, name, spec, _ in string.Formatter().parse(" ".join(template.split())):
            regex += re.escape(literal)
            if name == "name":
                regex += r"(?P<name>\w+)"
            elif name:
                radixes[name] = RADIX_OF_SPEC.get((spec or "d")[-1], 10)
                regex += f"(?P<{name}>{_number_pattern(radixes[name])})"
        return cls(re.compile(regex), radixes)

    def parse(self, line: str) -> dict[str, int | str] | None:
        """The placeholders' values in `line` (whitespace-normalised), or None if no match."""
        match = self.pattern.fullmatch(line)
        if match is None:
            return None
        values: dict[str, int | str] = dict(match.groupdict())
        for name, radix in self.radixes.items():
            digits = str(values[name]).lower().removeprefix(PREFIX[radix])
            values[name] = int(digits, radix)
        return values


def _mode(world: World, field: Field) -> int:
    return field.values[world.mode]


def _set_mode(world: World, field: Field, number: int) -> str | None:
    mode = field.name_of(number)
    if mode not in world.modes:
        named = ", ".join(f"{name}={value}" for name, value in field.values.items())
        return f"{number} names no power mode ({named})"
    world.set_mode(mode)
    return None


def _power_good(world: World, field: Field) -> int:
    return int(world.powered)


def _reset_cause(world: World, field: Field) -> int:
    return field.values.get(world.reset_cause, 0)


STATES: dict[str, tuple[Getter, Setter | None]] = {
    "mode": (_mode, _set_mode),
    "power_good": (_power_good, None),
    "reset_cause": (_reset_cause, None),
}


class RegisterFile:
    """Register contents by name; fields with a `state` read and write the World instead."""

    def __init__(self, register_map: RegisterMap, world: World) -> None:
        self.map = register_map
        self.world = world
        for register in register_map.registers.values():
            for field in register.fields.values():
                _check_state(register, field, world.modes)
        self._values: dict[str, int] = {}
        self._booted_at: float | None = None
        self._reset_on_power_up()

    def read(self, register: Register) -> int:
        self._reset_on_power_up()
        value = self._values[register.name]
        for field in _live(register):
            value = field.insert(value, STATES[field.state][0](self.world, field))
        return value

    def write(self, register: Register, value: int) -> str | None:
        """Store `value`, passing live fields to the World; or words saying why not."""
        self._reset_on_power_up()
        for field in _live(register):
            setter = STATES[field.state][1]
            problem = setter(self.world, field, field.extract(value)) if setter else None
            if problem:
                return f"{register.name}.{field.name}: {problem}"
        self._values[register.name] = value
        return None

    def _reset_on_power_up(self) -> None:
        """A power cycle of the DUT restores every register's reset value."""
        booted_at = self.world.power_on_time
        if not self._values or booted_at != self._booted_at:
            self._booted_at = booted_at
            self._values = {name: r.reset for name, r in self.map.registers.items()}


class RegisterConsole:
    """Answers the register read and write command lines of the DUT's console."""

    def __init__(self, register_map: RegisterMap, world: World) -> None:
        protocol = register_map.protocol
        self.file = RegisterFile(register_map, world)
        self._radix = protocol.radix
        self._commands = [
            (CommandTemplate.compile(template), handler)
            for template, handler in (
                (protocol.read_command, self._read),
                (protocol.write_command, self._write),
            )
            if template
        ]

    def answer(self, line: str) -> str | None:
        """The reply line to a register command, or None when `line` is not one."""
        for template, handler in self._commands:
            values = template.parse(line)
            if values is not None:
                return handler(values)
        return None

    def _read(self, values: Mapping[str, int | str]) -> str:
        register = self._find(values, "read")
        if isinstance(register, str):
            return register
        return self._format(self.file.read(register), register.width)

    def _write(self, values: Mapping[str, int | str]) -> str:
        register = self._find(values, "write")
        if isinstance(register, str):
            return register
        value = int(values["value"])
        problem = register.value_problem(value) or self.file.write(register, value)
        return f"ERR {problem}" if problem else "OK"

    def _find(self, values: Mapping[str, int | str], action: str) -> Register | str:
        """The register a command names by address or name, or the error line refusing it."""
        key = values.get("address", values.get("name"))
        found = self.file.map.at(key) if isinstance(key, int) else self.file.map.get(str(key))
        if found is None:
            shown = f"{key:#04x}" if isinstance(key, int) else key
            return f"ERR no register at {shown}"
        if action == "read" and not found.readable:
            return f"ERR register {found.name} is write-only"
        if action == "write" and not found.writable:
            return f"ERR register {found.name} is read-only"
        return found

    def _format(self, value: int, width: int) -> str:
        """A value as the console prints it: zero-padded to the register width in its radix."""
        if self._radix == 10:
            return str(value)
        digits = -(-width // BITS_PER_DIGIT[self._radix])
        return PREFIX[self._radix] + format(value, f"0{digits}{PREFIX[self._radix][1]}")


def _number_pattern(radix: int) -> str:
    prefix = PREFIX[radix]
    optional = f"(?:{prefix[0]}[{prefix[1]}{prefix[1].upper()}])?" if prefix else ""
    return f"{optional}{DIGITS[radix]}+"


def _live(register: Register) -> list[Field]:
    return [field for field in register.fields.values() if field.state]


def _check_state(register: Register, field: Field, modes: tuple[str, ...]) -> None:
    where = f"debug_port.registers.{register.name}.fields.{field.name}.state"
    if field.state and field.state not in STATES:
        known = ", ".join(STATES)
        raise SimulatorError(f"{where}: the simulated DUT has no state {field.state!r} ({known})")
    if field.state == "mode" and not set(modes) <= set(field.values):
        raise SimulatorError(f"{where}: a mode field needs values for {', '.join(modes)}")
