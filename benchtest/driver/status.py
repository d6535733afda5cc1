"""Errors reported through a status register instead of an error queue.

Some instruments keep no SCPI error queue: the legacy Siglent scopes latch the last command error
in a register (`CMR?`), others only set the error bits of the standard event status register
(`*ESR?`). `check_register` reads such a register after a configuration write and raises
`InstrumentReportedError` naming the role, the command that caused it and the reply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from benchtest.driver.scpi import ScpiInstrument
from benchtest.values.errors import InstrumentReportedError, ProtocolError

ESR_ERRORS = {0x20: "command error", 0x10: "execution error", 0x08: "device-dependent error",
              0x04: "query error"}  # fmt: skip


def check_register(
    instrument: ScpiInstrument,
    query: str,
    parse: Callable[[str], int],
    describe: Callable[[int], str | None],
    *,
    after: str = "",
) -> None:
    """Query `query`; when `describe(value)` names a problem, raise InstrumentReportedError."""
    reply = instrument.query(query)
    try:
        value = parse(reply)
    except (ValueError, IndexError) as exc:
        raise ProtocolError(
            f"unexpected reply: {exc}", role=instrument.role, command=query, received=reply
        ) from None
    problem = describe(value)
    if problem is not None:
        raise InstrumentReportedError(
            f"instrument reported {problem} ({query} {value})",
            code=value,
            role=instrument.role,
            command=after or query,
            received=reply,
        )


def describe_esr(value: int) -> str | None:
    """The error bits set in a `*ESR?` value, in words; None when there are none."""
    names = [name for bit, name in ESR_ERRORS.items() if value & bit]
    return " and ".join(names) or None


def describe_code(table: Mapping[int, str]) -> Callable[[int], str | None]:
    """For an error-code register: 0 is no error, any other code is looked up in `table`."""

    def describe(code: int) -> str | None:
        if code == 0:
            return None
        return f"error {code} {table.get(code, 'unknown error')!r}"

    return describe
