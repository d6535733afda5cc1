"""The simulated DUT firmware on a pseudo-terminal and on socket://, through real pyserial."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import serial
import yaml

from benchtest.sim import LdoModel, SupplyState, World
from benchtest.sim.simulators.debug_port import (
    Firmware,
    LineSplitter,
    PortConfig,
    PtyDebugPort,
    SocketDebugPort,
)

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)
FIRMWARE_ID = PROFILE["model"]["firmware_id"]
needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals need POSIX")


@pytest.fixture
def world() -> World:
    world = World(LdoModel.from_mapping(PROFILE["model"]))
    world.apply_supply(SupplyState(output=True, voltage=5.0, current_limit=0.01))
    return world


@pytest.fixture
def firmware(world: World) -> Firmware:
    return Firmware(world, PortConfig.from_mapping(PROFILE["debug_port"]))


def command(port: serial.SerialBase, line: bytes) -> bytes:
    port.write(line)
    return port.read_until(b"> ")


@pytest.mark.parametrize(
    ("data", "lines"),
    [(b"id\r\n", ["id"]), (b"id\r", ["id"]), (b"id\n", ["id"]), (b"a\r\nb\rc\n", ["a", "b", "c"])],
)
def test_line_endings_cr_lf_and_crlf_each_end_one_line(data: bytes, lines: list[str]) -> None:
    assert LineSplitter().feed(data) == lines


def test_crlf_split_across_reads_is_one_line_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"mode\r") == ["mode"]
    assert splitter.feed(b"\nid\r\n") == ["id"]


def test_firmware_replies_with_the_profile_line_ending_and_prompt(
    firmware: Firmware, world: World
) -> None:
    assert firmware.respond("id") == f"{FIRMWARE_ID}\r\n> ".encode()
    assert firmware.respond("  mode   sleep ") == b"OK\r\n> "
    assert world.mode == "sleep"
    assert firmware.respond("mode") == b"sleep\r\n> "
    assert firmware.respond("reboot now") == b"ERR unknown command: reboot now\r\n> "
    assert firmware.respond("") == b"> "


@needs_pty
def test_pty_firmware_answers_id_and_changes_mode(firmware: Firmware, world: World) -> None:
    with PtyDebugPort(firmware) as port:
        assert Path(port.address).exists()
        with serial.Serial(port.address, 115200, timeout=2) as uart:
            assert command(uart, b"id\r\n") == f"{FIRMWARE_ID}\r\n> ".encode()  # no echo
            assert command(uart, b"mode sleep\r\n") == b"OK\r\n> "
            assert world.mode == "sleep"
            assert command(uart, b"mode\r") == b"sleep\r\n> "
            assert command(uart, b"mode active\n") == b"OK\r\n> "
            assert world.mode == "active"
        with serial.Serial(port.address, 115200, timeout=2) as uart:  # reopening works
            assert command(uart, b"frobnicate\r\n") == b"ERR unknown command: frobnicate\r\n> "


@needs_pty
def test_pty_stop_joins_the_reader_and_closes_the_terminal(firmware: Firmware) -> None:
    before = set(threading.enumerate())
    port = PtyDebugPort(firmware)
    port.start()
    path = port.address
    port.stop()
    assert set(threading.enumerate()) == before
    with pytest.raises(OSError):
        os.close(os.open(path, os.O_RDWR | os.O_NOCTTY))  # the pseudo-terminal is gone


def test_socket_endpoint_serves_the_same_firmware(firmware: Firmware, world: World) -> None:
    with SocketDebugPort(firmware) as port:
        assert port.address.startswith("socket://127.0.0.1:")
        uart = serial.serial_for_url(port.address, timeout=2)
        try:
            reply = f"{FIRMWARE_ID}\r\n> ".encode()
            uart.write(b"id\r\n")
            # pyserial discards input on open, so the prompt sent on connect may or may not show.
            assert uart.read_until(reply) in (reply, b"> " + reply)
            assert command(uart, b"mode sleep\r\n") == b"OK\r\n> "
            assert world.mode == "sleep"
        finally:
            uart.close()
