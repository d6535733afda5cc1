"""Register access of SerialDebugPort, byte by byte against a scripted DUT on a pseudo-terminal.

The scripted DUT fails the test on a line it did not expect and on exchanges left unused; a
refused request must leave both the DUT and the traffic log without a single line sent.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.config.registers import RegisterMap
from benchtest.values.errors import InstrumentError, ProtocolError
from instruments.serial.debug_port import SerialDebugPort

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text()
)
Script = Sequence[tuple[str, str]]


class ScriptedDut:
    """The master side of a pty: answers each expected line with its scripted reply and prompt."""

    def __init__(self, master: int, script: Script) -> None:
        self.master = master
        self.script = list(script)
        self.position = 0
        self.problems: list[str] = []
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="scripted-dut")
        self._thread.start()

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert self.position == len(self.script), f"unused: {self.script[self.position :]}"

    def _run(self) -> None:
        pending = b""
        while self._wake_r not in select.select([self.master, self._wake_r], [], [])[0]:
            pending += os.read(self.master, 1024)
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                os.write(self.master, f"{self._answer(line.decode())}\r\n> ".encode())

    def _answer(self, line: str) -> str:
        if self.position >= len(self.script):
            self.problems.append(f"unexpected {line!r}: the script has ended")
            return "ERR unexpected"
        wanted, reply = self.script[self.position]
        if line != wanted:
            self.problems.append(f"step {self.position + 1}: expected {wanted!r}, got {line!r}")
            return "ERR unexpected"
        self.position += 1
        return reply


@contextmanager
def scripted(script: Script, profile: dict[str, Any] = PROFILE) -> Iterator[SerialDebugPort]:
    """A driver opened with the profile's options, talking to `script` over a pty."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    dut = ScriptedDut(master, script)
    options = SerialDebugPort.profile_options(profile)
    port = SerialDebugPort.open(os.ttyname(slave), role="uart", timeout=1.0, **options)
    try:
        yield port
    finally:
        port.close()
        dut.stop()
        os.close(master)
        os.close(slave)
    dut.check()


def sent(port: SerialDebugPort) -> list[str]:
    return [text for _, direction, text in port.traffic if direction == "tx"]


def test_read_register_sends_the_profile_template_and_parses_the_reply() -> None:
    with scripted([("reg read 0x02", "0x03")]) as uart:
        assert uart.read_register("STATUS") == 0x03
        assert sent(uart) == ["reg read 0x02\r\n"]


def test_write_register_sends_the_profile_template_and_checks_the_reply() -> None:
    with scripted([("reg write 0x03 0x90", "OK")]) as uart:
        uart.write_register("VTRIM", 0x90)


def test_read_field_extracts_its_bits() -> None:
    script = [("reg read 0x01", "0x15"), ("reg read 0x01", "0x15"), ("reg read 0x00", "0x32")]
    with scripted(script) as uart:
        assert uart.read_field("CTRL", "MODE") == 1
        assert uart.read_field("CTRL", "DISCHARGE") == 1
        assert uart.read_field("ID", "PART") == 3


@pytest.mark.parametrize(
    ("field", "value", "written"),
    [("MODE", "sleep", "0x15"), ("MODE", 0, "0x14"), ("SOFT_START", "slow", "0x18")],
)
def test_write_field_reads_modifies_and_writes_keeping_the_other_bits(
    field: str, value: int | str, written: str
) -> None:
    script = [("reg read 0x01", "0x14"), (f"reg write 0x01 {written}", "OK")]
    with scripted(script) as uart:
        uart.write_field("CTRL", field, value)


@pytest.fixture(scope="module")
def idle_uart() -> Iterator[SerialDebugPort]:
    """A port whose DUT expects nothing at all."""
    with scripted([]) as uart:
        yield uart


@pytest.mark.parametrize(
    ("method", "args", "words"),
    [
        ("write_register", ("STATUS", 0), "refused to write 0 to register STATUS: it is read-only"),
        (
            "write_field",
            ("STATUS", "PG", 1),
            "to write 1 to field PG of register STATUS: it is read-",
        ),
        ("read_register", ("FAULT_CLEAR",), "refused to read register FAULT_CLEAR: it is write-"),
        ("read_field", ("FAULT_CLEAR", "X"), "to read field X of register FAULT_CLEAR: it is"),
        ("write_field", ("FAULT_CLEAR", "X", 1), "write-only"),
        ("write_register", ("CTRL", 0x100), "256 to register CTRL: 0x100 does not fit 8 bit(s)"),
        ("write_register", ("CTRL", -1), "refused to write -1 to register CTRL"),
        ("write_register", ("CTRL", True), "refused to write True to register CTRL"),
        (
            "write_field",
            ("CTRL", "MODE", 4),
            "4 to field MODE of register CTRL: 0x4 does not fit 2",
        ),
        ("write_field", ("CTRL", "MODE", "deep"), "'deep' is not a named value of field MODE"),
        ("write_field", ("CTRL", "MODE", "deep"), "(named values: active, sleep)"),
        ("write_field", ("CTRL", "DISCHARGE", "on"), "named values: none"),
        ("read_field", ("CTRL", "SPEED"), "register CTRL has no field 'SPEED' (fields: MODE, "),
        ("read_register", ("PWR",), "no register 'PWR' in the register map (registers: ID, "),
    ],
)
def test_refused_requests_send_nothing_and_name_role_register_and_value(
    idle_uart: SerialDebugPort, method: str, args: tuple[Any, ...], words: str
) -> None:
    with pytest.raises(InstrumentError) as info:
        getattr(idle_uart, method)(*args)
    message = str(info.value)
    assert message.startswith("[uart] ") and words in message
    assert sent(idle_uart) == []


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ("0xZZ", "the reply does not match '^0x(?P<value>[0-9A-Fa-f]+)$'"),
        ("ERR bus fault", "the reply does not match"),
        ("", "the reply does not match"),
        ("0x1ff", "0x1ff does not fit 8 bit(s)"),
    ],
)
def test_a_garbled_read_reply_is_a_protocol_error_naming_command_and_reply(
    reply: str, words: str
) -> None:
    with scripted([("reg read 0x02", reply)]) as uart, pytest.raises(ProtocolError) as info:
        uart.read_register("STATUS")
    error = info.value
    assert (error.role, error.command, error.received) == ("uart", "reg read 0x02", reply)
    assert "reading register STATUS" in str(error) and words in str(error)


def test_a_write_reply_that_is_not_ok_is_a_protocol_error() -> None:
    script = [("reg write 0x03 0x90", "ERR locked")]
    with scripted(script) as uart, pytest.raises(ProtocolError) as info:
        uart.write_register("VTRIM", 0x90)
    assert "writing register VTRIM: the reply does not match '^OK$'" in str(info.value)
    assert info.value.received == "ERR locked"


def test_a_port_without_a_register_map_says_so() -> None:
    with (
        SerialDebugPort.open("loop://", role="uart") as uart,
        pytest.raises(InstrumentError) as info,
    ):
        uart.read_register("CTRL")
    assert "registers: none: the profile lists none" in str(info.value)


MCU_PORT: dict[str, Any] = {
    "commands": {"read_register": "peek {name}", "write_register": "poke {name} = {value:d}"},
    "register_reply": r"^(?P<value>\d+)$",
    "register_radix": 10,
    "registers": {
        "PWR_CR": {
            "address": 0x40007000,
            "width": 32,
            "access": "rw",
            "reset": 0x200,
            "fields": {
                "LPMS": {"lsb": 0, "width": 3, "values": {"stop0": 0, "stop1": 1, "standby": 3}},
                "VOS": {"bits": [10, 9]},
            },
        },
    },
}


def test_a_32_bit_register_by_name_with_decimal_replies_serves_an_mcu() -> None:
    profile = {"debug_port": MCU_PORT}
    script = [("peek PWR_CR", "512"), ("poke PWR_CR = 515", "done")]
    with scripted(script, profile) as mcu:
        mcu.write_field("PWR_CR", "LPMS", "standby")
        assert mcu.register_map.get("PWR_CR") == RegisterMap.from_section(MCU_PORT).get("PWR_CR")
