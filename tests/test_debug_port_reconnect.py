"""SerialDebugPort reopens a port that vanishes and comes back (USB re-enumeration), for real.

The simulated firmware is served on a pseudo-terminal reached through a stable symlink, as
`/dev/serial/by-id/...` is; unplugging stops the pty and removes the link, plugging back serves
a new pty (another /dev/pts number) behind the same link.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.sim import LdoModel, World
from benchtest.sim.simulators.debug_port import Firmware, PortConfig, PtyDebugPort, SocketDebugPort
from benchtest.values.errors import ConnectionLostError, InstrumentTimeoutError
from instruments.serial.debug_port import SerialDebugPort

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text()
)
FIRMWARE_ID = PROFILE["model"]["firmware_id"]


class UsbAdapter:
    """The DUT's USB serial adapter: a pty behind a by-id style symlink, unpluggable."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.firmware = Firmware(
            World(LdoModel.from_mapping(PROFILE["model"])),
            PortConfig.from_mapping(PROFILE["debug_port"]),
        )
        self.service: PtyDebugPort | None = None

    def plug(self) -> None:
        self.service = PtyDebugPort(self.firmware)
        self.service.start()
        staging = self.link.with_suffix(".new")
        staging.symlink_to(self.service.address)
        staging.replace(self.link)  # udev swaps the link atomically

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        if self.service is not None:
            self.service.stop()  # closes the master: the open port hangs up
            self.service = None

    def push(self, text: str) -> None:
        """Text the DUT sends unasked (written to the pty master)."""
        assert self.service is not None
        self.service.push(text.encode())


@pytest.fixture
def adapter(tmp_path: Path) -> Iterator[UsbAdapter]:
    usb = UsbAdapter(tmp_path / "usb-benchtest_BT-LDO33_0001-if00")
    usb.plug()
    yield usb
    usb.unplug()


@pytest.fixture
def uart(adapter: UsbAdapter) -> Iterator[SerialDebugPort]:
    port = SerialDebugPort.open(str(adapter.link), role="uart", timeout=2.0, reconnect_timeout=2.0)
    yield port
    port.close()


@contextmanager
def later(delay: float, action: Callable[[], None]) -> Iterator[None]:
    """Run `action` after `delay` seconds in a thread while the block runs; joined at its end."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, name="replug")
    thread.start()
    try:
        yield
    finally:
        thread.join()


def sent(port: SerialDebugPort) -> list[str]:
    return [text for _, direction, text in port.traffic if direction == "tx"]


def events(port: SerialDebugPort) -> list[str]:
    return [text for _, direction, text in port.traffic if direction == "event"]


def test_a_command_during_reenumeration_is_resent_once_the_port_is_back(
    adapter: UsbAdapter, uart: SerialDebugPort
) -> None:
    assert uart.command("id") == FIRMWARE_ID
    adapter.unplug()
    with later(0.3, adapter.plug):
        assert uart.command("mode sleep") == "OK"
    assert adapter.firmware.world.mode == "sleep"
    assert uart.command("mode") == "sleep"
    lost, reopened = events(uart)
    assert lost.startswith(f"port {adapter.link} lost (") and lost.endswith("); reopening")
    assert reopened.startswith(f"port {adapter.link} reopened after ")
    assert sent(uart) == ["id\r\n", "mode sleep\r\n", "mode\r\n"]  # sent once, on the new port


def test_expect_keeps_waiting_across_a_reenumeration_within_its_timeout(
    adapter: UsbAdapter, uart: SerialDebugPort
) -> None:
    heard = threading.Event()

    def reboot() -> None:
        adapter.plug()
        while not heard.wait(0.05):  # the rebooted DUT logs until the host has reopened its port
            adapter.push("boot: BT-LDO33 ready\r\n")

    adapter.unplug()
    started = time.monotonic()
    with later(0.3, reboot):
        try:
            assert uart.expect(r"boot: (\S+) ready", timeout=3.0).group(1) == "BT-LDO33"
        finally:
            heard.set()
    assert time.monotonic() - started >= 0.3  # it waited for the port (within its timeout)
    assert len(events(uart)) == 2


def test_expect_times_out_when_the_reopened_port_stays_silent(
    adapter: UsbAdapter, uart: SerialDebugPort
) -> None:
    adapter.unplug()
    started = time.monotonic()
    with (
        later(0.2, adapter.plug),
        pytest.raises(InstrumentTimeoutError, match="reopened meanwhile") as info,
    ):
        uart.expect("ready", timeout=0.6)
    assert 0.6 <= time.monotonic() - started < 5.0  # the timeout, and room for a busy machine
    assert info.value.role == "uart"


def test_a_port_that_never_comes_back_is_a_lost_connection_naming_role_and_port(
    adapter: UsbAdapter,
) -> None:
    uart = SerialDebugPort.open(str(adapter.link), role="uart", reconnect_timeout=0.3)
    try:
        adapter.unplug()
        started = time.monotonic()
        with pytest.raises(ConnectionLostError) as info:
            uart.command("id")
        assert 0.3 <= time.monotonic() - started < 5.0  # room for a busy machine
        message = str(info.value)
        assert message.startswith(f"[uart] port {adapter.link} vanished and did not come back")
        assert "within 0.3 s" in message
        assert events(uart)[-1] == f"port {adapter.link} did not come back"
        adapter.plug()  # plugged in again later: the next command finds it
        assert uart.command("id") == FIRMWARE_ID
    finally:
        uart.close()


def test_a_socket_endpoint_that_restarts_is_reconnected() -> None:
    world = World(LdoModel.from_mapping(PROFILE["model"]))
    firmware = Firmware(world, PortConfig.from_mapping(PROFILE["debug_port"]))
    server = SocketDebugPort(firmware)
    server.start()
    address = server.address
    port = int(address.rsplit(":", 1)[1])
    uart = SerialDebugPort.open(address, role="uart", reconnect_timeout=2.0)
    try:
        assert uart.command("id") == FIRMWARE_ID
        server.stop()
        server = SocketDebugPort(firmware, port=port)
        with later(0.2, server.start):
            assert uart.command("mode sleep") == "OK"
        assert world.mode == "sleep"
    finally:
        uart.close()
        server.stop()


def test_an_identified_device_is_asked_again_after_its_port_comes_back(
    adapter: UsbAdapter, uart: SerialDebugPort
) -> None:
    assert uart.identify().model == FIRMWARE_ID
    adapter.unplug()
    with later(0.3, adapter.plug):
        assert uart.command("mode sleep") == "OK"
    assert sent(uart) == ["id\r\n", "id\r\n", "mode sleep\r\n"]  # asked who it is, then resent


def test_another_device_behind_the_port_gets_nothing_but_the_question(
    adapter: UsbAdapter, uart: SerialDebugPort
) -> None:
    assert uart.identify().model == FIRMWARE_ID
    adapter.unplug()
    stranger = UsbAdapter(adapter.link)  # re-enumeration gave the name to another board
    stranger.firmware = Firmware(
        World(LdoModel.from_mapping({**PROFILE["model"], "firmware_id": "XYZ-9"})),
        PortConfig.from_mapping(PROFILE["debug_port"]),
    )
    try:
        with later(0.3, stranger.plug):
            with pytest.raises(ConnectionLostError, match=r"answers 'XYZ-9' to 'id', not ") as e:
                uart.command("mode sleep")
            assert "nothing else was sent to it" in str(e.value)
            with pytest.raises(ConnectionLostError, match="answers 'XYZ-9'"):
                uart.command("mode sleep")  # still refused: asked again, never told anything
        assert sent(uart) == ["id\r\n", "id\r\n", "id\r\n"]  # ours, then the question twice
        assert stranger.firmware.world.mode != "sleep"
    finally:
        stranger.unplug()
