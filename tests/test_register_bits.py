"""A register field's `bits` may be written as a whole number with a point (`3.0`), as JSON
Schema counts it an integer: the field is bit 3, and a field that does not fit still gets a
message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from benchtest.config.registers import RegisterMap
from benchtest.values.errors import ConfigError


def section(bits: Any) -> dict[str, Any]:
    return {
        "registers": {"CTRL": {"address": 1, "width": 8, "access": "rw",
                               "fields": {"EN": {"bits": bits}}}},
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
