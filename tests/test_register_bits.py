"""A register's numbers may be written as whole numbers with a point (`3.0`), as JSON Schema
counts them integers: a field's `bits: 3.0` is bit 3, a named value `2.0` is 2, and a number
that does not fit still gets a message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from benchtest.config.registers import RegisterMap
from benchtest.values.errors import ConfigError


def section(bits: Any, values: dict[str, Any] | None = None) -> dict[str, Any]:
    field = {"bits": bits} if values is None else {"bits": bits, "values": values}
    return {
        "registers": {"CTRL": {"address": 1.0, "width": 8.0, "reset": 4.0, "access": "rw",
                               "fields": {"EN": field}}},
        "commands": {"read_register": "rd {address}", "write_register": "wr {address} {value}"},
        "register_reply": "(?P<value>\\d+)",
    }  # fmt: skip


@pytest.mark.parametrize("bits", [3, 3.0, [3, 3], [3.0, 3]])
def test_a_single_bit_field_written_any_way_is_that_bit(bits: Any) -> None:
    field = RegisterMap.from_section(section(bits)).get("CTRL").fields["EN"]
    assert (field.lsb, field.width) == (3, 1)


def test_a_field_beyond_the_register_is_named_not_a_crash() -> None:
    where = r"registers\.CTRL\.fields\.EN\.bits: bits 9\.\.9 do not fit"
    with pytest.raises(ConfigError, match=where):
        RegisterMap.from_section(section(9.0), "p.yaml")


def test_named_values_and_register_numbers_written_with_a_point_are_whole_numbers() -> None:
    register = RegisterMap.from_section(section([2, 1], {"off": 0.0, "fast": 3.0})).get("CTRL")
    assert (register.address, register.width, register.reset) == (1, 8, 4)
    field = register.fields["EN"]
    assert field.values == {"off": 0, "fast": 3}
    assert all(type(v) is int for v in field.values.values())
    assert field.encode("fast") == 3 and field.name_of(3) == "fast"


def test_a_named_value_too_wide_for_its_field_is_named() -> None:
    where = r"registers\.CTRL\.fields\.EN\.values\.fast: 0x4 does not fit"
    with pytest.raises(ConfigError, match=where):
        RegisterMap.from_section(section([2, 1], {"fast": 4.0}), "p.yaml")
