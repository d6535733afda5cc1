"""Byte-level driver tests: a scripted conversation stands in for the instrument.

`expected_protocol(driver_cls, conversation)` yields a driver wired to a `ScriptedTransport`
that checks every command against the script, answers with the scripted reply, and fails on
an unexpected command or on replies left unused. Fake the bytes, never the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

from benchtest.driver.scpi import ScpiInstrument

Reply = str | bytes | BaseException | None
Exchange = tuple[str, Reply]
D = TypeVar("D", bound=ScpiInstrument)


class ScriptedTransport:
    """A `Transport` that plays back (command, reply) pairs in order.

    A reply of None means the command is a write; a str answers `query`, bytes answer
    `read_block` (the block payload); an exception instance is raised instead of answering.
    """

    def __init__(self, conversation: Sequence[Exchange], role: str = "scripted") -> None:
        self.role = role
        self.conversation = list(conversation)
        self.position = 0
        self.closed = False
        self.resyncs = 0  # how often the driver asked to bring the session back in step

    def write(self, command: str) -> None:
        self._answer(command, "write", type(None))

    def query(self, command: str) -> str:
        reply: str = self._answer(command, "query", str)
        return reply

    def read_block(self, command: str) -> bytes:
        reply: bytes = self._answer(command, "read_block", bytes)
        return reply

    def resync(self) -> None:
        self.resyncs += 1

    def close(self) -> None:
        self.closed = True

    @property
    def unused(self) -> list[Exchange]:
        return self.conversation[self.position :]

    def _answer(self, command: str, method: str, expected: type) -> Any:
        if self.position >= len(self.conversation):
            self._fail(f"unexpected command {command!r} ({method}): the script has ended")
        wanted, reply = self.conversation[self.position]
        if command != wanted:
            self._fail(
                f"unexpected command at step {self.position + 1}:\n"
                f"  expected: {wanted!r}\n  received: {command!r} ({method})"
            )
        self.position += 1
        if isinstance(reply, BaseException):
            raise reply
        if not isinstance(reply, expected):
            self._fail(
                f"{command!r} was sent with {method}(), but the script answers "
                f"{reply!r} (a {type(reply).__name__} reply)"
            )
        return reply

    def _fail(self, message: str) -> NoReturn:
        done = "\n".join(f"    {c!r} -> {r!r}" for c, r in self.conversation[: self.position])
        raise AssertionError(f"{message}\n  exchanged so far:\n{done or '    (nothing)'}")


@contextmanager
def expected_protocol(
    driver_cls: type[D], conversation: Sequence[Exchange], **kwargs: Any
) -> Iterator[D]:
    """Yield `driver_cls(ScriptedTransport(conversation), **kwargs)`; on a clean exit assert
    that every scripted exchange was used.

    >>> with expected_protocol(Keithley2450, [(":OUTPut:STATe?", "1")]) as smu:
    ...     assert smu.output_enabled
    """
    transport = ScriptedTransport(conversation, role=kwargs.get("role") or "scripted")
    yield driver_cls(transport, **kwargs)
    if transport.unused:
        left = "\n".join(f"    {c!r} -> {r!r}" for c, r in transport.unused)
        raise AssertionError(
            f"{len(transport.unused)} scripted exchange(s) never happened:\n{left}"
        )
