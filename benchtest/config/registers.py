"""A DUT's register map: registers, their bit fields, and the console commands that reach them.

`RegisterMap.from_section` reads the `debug_port` section of a DUT profile and makes the checks
a schema cannot (fields inside the register and not overlapping, reset and enum values that fit,
unique addresses, usable command templates), raising a `ConfigError` that names the field path.
The debug-port driver and the simulated firmware both work from the resulting map.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from benchtest.values.errors import ConfigError

Access = Literal["rw", "ro", "wo"]
RADIXES = (2, 8, 10, 16)


@dataclass(frozen=True)
class Field:
    """Bits `lsb .. lsb+width-1` of a register, with optional named values."""

    name: str
    lsb: int
    width: int
    values: Mapping[str, int] = field(default_factory=dict)
    state: str = ""
    description: str = ""

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits in register position."""
        return ((1 << self.width) - 1) << self.lsb

    def extract(self, register_value: int) -> int:
        return (register_value & self.mask) >> self.lsb

    def insert(self, register_value: int, value: int) -> int:
        return (register_value & ~self.mask) | (value << self.lsb)

    def encode(self, value: int | str) -> int | str:
        """The number for `value` (a number or a name from `values`), or words saying why not."""
        if isinstance(value, str):
            if value in self.values:
                return self.values[value]
            known = ", ".join(self.values) or "none"
            return f"{value!r} is not a named value of field {self.name} (named values: {known})"
        return value if fits(value, self.width) else _too_wide(value, self.width)

    def name_of(self, value: int) -> str | None:
        """The name `values` gives `value`, if any."""
        return next((name for name, number in self.values.items() if number == value), None)


@dataclass(frozen=True)
class Register:
    """One register: where it is, how wide, who may read and write it, what it resets to."""

    name: str
    address: int
    width: int
    access: Access
    reset: int = 0
    description: str = ""
    fields: Mapping[str, Field] = field(default_factory=dict)

    @property
    def readable(self) -> bool:
        return self.access != "wo"

    @property
    def writable(self) -> bool:
        return self.access != "ro"

    def value_problem(self, value: int) -> str | None:
        """Words explaining why `value` cannot be this register's content, or None."""
        return None if fits(value, self.width) else _too_wide(value, self.width)


@dataclass(frozen=True)
class RegisterProtocol:
    """How the console reads and writes a register: command templates and reply patterns.

    The templates are `str.format` strings over `address`, `name` and (to write) `value`;
    the read reply's `value` group is a number in `radix`.
    """

    read_command: str = ""
    write_command: str = ""
    read_reply: re.Pattern[str] | None = None
    write_reply: re.Pattern[str] | None = None
    radix: int = 16

    def read(self, register: Register) -> str:
        return self.read_command.format(address=register.address, name=register.name)

    def write(self, register: Register, value: int) -> str:
        return self.write_command.format(address=register.address, name=register.name, value=value)

    def parse_value(self, reply: str) -> int | None:
        """The number in a read reply, or None when the reply does not match."""
        match = self.read_reply.search(reply) if self.read_reply else None
        if match is None:
            return None
        try:
            return int(match.group("value"), self.radix)
        except ValueError:
            return None


@dataclass(frozen=True)
class RegisterMap:
    """The registers of a DUT by name, and the protocol that reaches them."""

    registers: Mapping[str, Register] = field(default_factory=dict)
    protocol: RegisterProtocol = field(default_factory=RegisterProtocol)

    def __bool__(self) -> bool:
        return bool(self.registers)

    def get(self, name: str) -> Register | None:
        return self.registers.get(name)

    def at(self, address: int) -> Register | None:
        """The register at `address`, if any."""
        return next((r for r in self.registers.values() if r.address == address), None)

    @classmethod
    def from_section(cls, section: Mapping[str, Any], where: str = "DUT profile") -> RegisterMap:
        """Build from a profile's schema-valid `debug_port` section; ConfigError when unusable."""
        registers = {
            name: _register(where, name, spec)
            for name, spec in (section.get("registers") or {}).items()
        }
        _check_unique_addresses(where, registers)
        protocol = _protocol(where, section, registers) if registers else RegisterProtocol()
        return cls(registers, protocol)


def fits(value: int, width: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << width)


def _too_wide(value: object, width: int) -> str:
    shown = f"{value:#x}" if isinstance(value, int) else repr(value)
    return f"{shown} does not fit {width} bit(s) (0..{(1 << width) - 1:#x})"


# -- building and checking ---------------------------------------------------------------------


def _register(where: str, name: str, spec: Mapping[str, Any]) -> Register:
    path = f"debug_port.registers.{name}"
    width = int(spec["width"])
    reset = int(spec.get("reset", 0))
    if not fits(reset, width):
        raise ConfigError(where, f"{path}.reset", f"reset value {_too_wide(reset, width)}")
    specs = spec.get("fields") or {}
    fields = {
        fname: _field(where, f"{path}.fields.{fname}", fname, fspec, width)
        for fname, fspec in specs.items()
    }
    _check_no_overlap(where, path, fields, specs)
    return Register(
        name=name,
        address=int(spec["address"]),
        width=width,
        access=spec["access"],
        reset=reset,
        description=spec.get("description", ""),
        fields=fields,
    )


def _field(where: str, path: str, name: str, spec: Mapping[str, Any], width: int) -> Field:
    lsb, size, key = _bit_range(where, path, spec)
    if lsb + size > width:
        raise ConfigError(
            where,
            f"{path}.{key}",
            f"bits {lsb + size - 1}..{lsb} do not fit the {width}-bit register",
        )
    # JSON Schema counts 2.0 an integer: a value so written is that whole number.
    values = {key: int(number) for key, number in (spec.get("values") or {}).items()}
    for value_name, number in values.items():
        if not fits(number, size):
            raise ConfigError(where, f"{path}.values.{value_name}", _too_wide(number, size))
    return Field(
        name=name,
        lsb=lsb,
        width=size,
        values=values,
        state=spec.get("state", ""),
        description=spec.get("description", ""),
    )


def _bit_range(where: str, path: str, spec: Mapping[str, Any]) -> tuple[int, int, str]:
    """(lsb, width, the key that gave them) from `bits: [msb, lsb]`, `bits: n` or lsb/width."""
    if "bits" in spec and ("lsb" in spec or "width" in spec):
        raise ConfigError(where, path, "give either bits or lsb (and width), not both")
    if "bits" not in spec:
        return int(spec["lsb"]), int(spec.get("width", 1)), "lsb"
    bits = spec["bits"]  # a whole number (`3` or `3.0`) or [msb, lsb]
    msb, lsb = (int(bits), int(bits)) if not isinstance(bits, list) else map(int, bits)
    if msb < lsb:
        raise ConfigError(where, f"{path}.bits", f"expected [msb, lsb] with msb >= lsb, got {bits}")
    return lsb, msb - lsb + 1, "bits"


def _check_no_overlap(
    where: str, path: str, fields: Mapping[str, Field], specs: Mapping[str, Any]
) -> None:
    taken: dict[int, str] = {}
    for name, f in fields.items():
        for bit in range(f.lsb, f.msb + 1):
            if bit in taken:
                key = "bits" if "bits" in specs[name] else "lsb"
                raise ConfigError(
                    where,
                    f"{path}.fields.{name}.{key}",
                    f"bits {f.msb}..{f.lsb} overlap field {taken[bit]} (bit {bit})",
                )
            taken[bit] = name


def _check_unique_addresses(where: str, registers: Mapping[str, Register]) -> None:
    seen: dict[int, str] = {}
    for name, register in registers.items():
        other = seen.setdefault(register.address, name)
        if other != name:
            raise ConfigError(
                where,
                f"debug_port.registers.{name}.address",
                f"address {register.address:#x} is already register {other}'s",
            )


def _protocol(
    where: str, section: Mapping[str, Any], registers: Mapping[str, Register]
) -> RegisterProtocol:
    commands = section.get("commands") or {}
    readable = any(r.readable for r in registers.values())
    writable = any(r.writable for r in registers.values())
    return RegisterProtocol(
        read_command=_template(where, commands, "read_register", readable, ()),
        write_command=_template(where, commands, "write_register", writable, ("value",)),
        read_reply=_pattern(where, section, "register_reply", readable, group="value"),
        write_reply=_pattern(where, section, "register_write_reply", False),
        radix=int(section.get("register_radix", 16)),
    )


def _template(
    where: str, commands: Mapping[str, str], action: str, needed: bool, extra: tuple[str, ...]
) -> str:
    path = f"debug_port.commands.{action}"
    template = commands.get(action, "")
    if not template:
        if needed:
            raise ConfigError(where, path, "is required when the register map has such registers")
        return ""
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(where, path, f"not a usable command template: {exc}") from None
    if used - {"address", "name", *extra} or not used & {"address", "name"} or set(extra) - used:
        wanted = "{address} or {name}" + "".join(f" and {{{name}}}" for name in extra)
        raise ConfigError(where, path, f"expected a template with {wanted}, got {template!r}")
    try:
        template.format(address=0, name="R", value=0)
    except (ValueError, IndexError) as exc:
        raise ConfigError(where, path, f"not a usable command template: {exc}") from None
    return template


def _pattern(
    where: str, section: Mapping[str, Any], key: str, needed: bool, group: str = ""
) -> re.Pattern[str] | None:
    path = f"debug_port.{key}"
    text = section.get(key)
    if text is None:
        if needed:
            raise ConfigError(where, path, "is required when the register map has such registers")
        return None
    try:
        pattern = re.compile(text, re.MULTILINE)
    except re.error as exc:
        raise ConfigError(where, path, f"not a valid regular expression: {exc}") from None
    if group and group not in pattern.groupindex:
        raise ConfigError(where, path, f"expected a (?P<{group}>...) group, got {text!r}")
    return pattern
