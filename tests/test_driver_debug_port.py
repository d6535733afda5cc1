"""SerialDebugPort against pyserial's loop://, a pseudo-terminal and a socket:// endpoint."""

from __future__ import annotations

import os
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
import yaml

from benchtest.values.errors import ConnectionLostError, InstrumentError, InstrumentTimeoutError
from instruments.capabilities import DebugPort
from instruments.serial.debug_port import SerialDebugPort

FIRMWARE_ID = "BT-LDO33 rev B fw 1.2.0"
REPLIES = {"id": FIRMWARE_ID, "mode": "active", "regs": "R0=0x01\r\nR1=0x80"}
PROFILE = Path(__file__).resolve().parents[1] / "dut_profiles" / "bt_ldo33.yaml"

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")


class FakeFirmware:
    """A DUT console on a file descriptor: answers each line from REPLIES, then the prompt."""

    def __init__(self, fd: int, *, echo: bool, greeting_after: float | None = None) -> None:
        self.fd, self.echo = fd, echo
        self.lines: list[str] = []
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, args=(greeting_after,), name="fake-dut")
        self._thread.start()

    def push(self, text: str) -> None:
        """Send unsolicited text (a log line) from the DUT."""
        os.write(self.fd, text.encode())

    def stop(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self, greeting_after: float | None) -> None:
        if greeting_after is not None:
            time.sleep(greeting_after)
            os.write(self.fd, b"BT-LDO33 boot\r\n> ")
        pending = b""
        while self._wake_r not in select.select([self.fd, self._wake_r], [], [])[0]:
            try:
                data = os.read(self.fd, 1024)
            except OSError:
                return
            if not data:
                return
            pending += data
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                self._answer(line.decode())

    def _answer(self, line: str) -> None:
        self.lines.append(line)
        echo = line + "\r\n" if self.echo else ""
        reply = REPLIES.get(line, f"ERR unknown command: {line}")
        os.write(self.fd, f"{echo}{reply}\r\n> ".encode())


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture(params=[True, False], ids=["echo", "no-echo"])
def dut(request: pytest.FixtureRequest, pty_pair: tuple[int, str]) -> Iterator[SerialDebugPort]:
    master, path = pty_pair
    firmware = FakeFirmware(master, echo=request.param)
    port = SerialDebugPort.open(path, role="uart", timeout=2.0)
    yield port
    port.close()
    firmware.stop()


@pytest.fixture
def loop() -> Iterator[SerialDebugPort]:
    port = SerialDebugPort.open("loop://", role="uart", timeout=0.2)
    yield port
    port.close()


def test_provides_the_debug_port_capability(loop: SerialDebugPort) -> None:
    assert isinstance(loop, DebugPort)
    assert SerialDebugPort.driver_name == "serial.debug_port"


def test_send_appends_the_line_ending_and_expect_consumes_the_match(
    loop: SerialDebugPort,
) -> None:
    loop.send("hello 42")
    match = loop.expect(r"hello (\d+)", timeout=1.0)
    assert match.group(1) == "42"
    assert loop.expect(re.compile(r"\r\n"), timeout=1.0).start() == 0  # only the ending is left
    assert loop.traffic[0][1:] == ("tx", "hello 42\r\n")
    assert "".join(t for _, d, t in loop.traffic if d == "rx") == "hello 42\r\n"
    stamps = [stamp for stamp, _, _ in loop.traffic]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time()) < 60


def test_expect_timeout_quotes_the_tail_of_what_arrived(loop: SerialDebugPort) -> None:
    loop.send("x" * 300 + " boot done")
    started = time.monotonic()
    with pytest.raises(InstrumentTimeoutError, match="'READY' did not arrive") as info:
        loop.expect("READY", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 5.0  # the timeout, and room for a busy machine
    assert info.value.role == "uart"
    assert isinstance(info.value.received, str) and info.value.received.endswith("boot done\r\n")


@posix_only
def test_command_returns_the_reply_without_echo_or_prompt(dut: SerialDebugPort) -> None:
    assert dut.command("mode") == "active"
    assert dut.command("regs") == "R0=0x01\nR1=0x80"
    assert dut.command("bogus") == "ERR unknown command: bogus"


@posix_only
def test_identify_uses_the_identify_command(dut: SerialDebugPort) -> None:
    identity = dut.identify()
    assert (identity.manufacturer, identity.model) == ("DUT", FIRMWARE_ID)


@posix_only
def test_unsolicited_text_before_a_command_is_not_taken_as_its_reply(
    pty_pair: tuple[int, str],
) -> None:
    master, path = pty_pair
    firmware = FakeFirmware(master, echo=False)
    port = SerialDebugPort.open(path, role="uart")
    try:
        firmware.push("log: brown-out\r\n> ")
        time.sleep(0.1)
        assert port.command("id") == FIRMWARE_ID
        assert any("brown-out" in text for _, d, text in port.traffic if d == "rx")
        assert firmware.lines == ["id"]
    finally:
        port.close()
        firmware.stop()


@posix_only
def test_vanished_port_is_a_lost_connection(tmp_path: Path) -> None:
    master, slave = os.openpty()
    path = tmp_path / "usb-adapter"  # as /dev/serial/by-id/...: gone with the adapter, so the
    path.symlink_to(os.ttyname(slave))  # reconnect cannot reach a pty another test gets next
    port = SerialDebugPort.open(str(path), role="uart", timeout=1.0, reconnect_timeout=0.2)
    try:
        path.unlink()
        os.close(slave)
        os.close(master)  # the USB adapter is unplugged
        with pytest.raises(ConnectionLostError, match=r"\[uart\] port .* vanished") as info:
            port.command("id")
        assert str(path) in str(info.value)
    finally:
        port.close()


def test_greeting_prompt_of_a_socket_endpoint_is_not_taken_as_a_reply() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        accepted: list[tuple[socket.socket, FakeFirmware]] = []

        def accept() -> None:  # the DUT greets with a banner and a prompt just after connecting
            connection = listener.accept()[0]
            accepted.append(
                (connection, FakeFirmware(connection.fileno(), echo=True, greeting_after=0.03))
            )

        acceptor = threading.Thread(target=accept)
        acceptor.start()
        port = SerialDebugPort.open(f"socket://127.0.0.1:{listener.getsockname()[1]}", role="uart")
        acceptor.join(timeout=5)
        connection, firmware = accepted[0]
        try:
            assert port.command("id") == FIRMWARE_ID
            assert any("boot" in text for _, d, text in port.traffic if d == "rx")
        finally:
            port.close()
            firmware.stop()
            connection.close()


def test_safe_state_sends_nothing(loop: SerialDebugPort) -> None:
    loop.safe_state()
    loop.safe_state()
    assert loop.traffic == []


def test_profile_options_come_from_the_dut_profile() -> None:
    profile = yaml.safe_load(PROFILE.read_text())
    options = SerialDebugPort.profile_options(profile)
    assert options.pop("register_map").get("CTRL").address == 0x01
    assert options == {
        "baudrate": 115200,
        "prompt": "> ",
        "line_ending": "\r\n",
        "identify_command": "id",
    }


def test_unknown_option_is_refused() -> None:
    with pytest.raises(InstrumentError, match="unknown option"):
        SerialDebugPort.open("loop://", role="uart", parity="E")


def test_missing_device_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(ConnectionLostError, match="cannot open"):
        SerialDebugPort.open(str(tmp_path / "ttyUSB9"), role="uart")


def test_traffic_is_bounded_counts_what_it_dropped_and_is_handed_out_as_a_copy() -> None:
    with SerialDebugPort.open("loop://", role="uart", traffic_limit=3) as port:
        for n in range(5):
            port.send(f"line {n}")
        traffic = port.traffic
        assert [(d, t) for _, d, t in traffic] == [("tx", f"line {n}\r\n") for n in (2, 3, 4)]
        assert port.traffic_dropped == 2
        traffic.clear()
        assert len(port.traffic) == 3


def test_a_closed_port_is_reported_as_closed_not_reopened() -> None:
    port = SerialDebugPort.open("loop://", role="uart")
    port.close()
    with pytest.raises(ConnectionLostError, match=r"\[uart\] port loop:// is closed"):
        port.send("id")


@posix_only
def test_a_port_held_by_a_closing_process_is_waited_for_then_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    monkeypatch.setattr("instruments.serial.debug_port.LOCK_WAIT", 0.3)
    holder = serial.Serial(path, exclusive=True)  # another session has it open
    try:
        started = time.monotonic()
        with pytest.raises(ConnectionLostError, match=r"another process holds it") as info:
            SerialDebugPort.open(path, role="uart", timeout=1.0)
        assert time.monotonic() - started >= 0.3 and path in str(info.value)
        # Waited for long enough that a busy machine's late Timer thread still falls within.
        monkeypatch.setattr("instruments.serial.debug_port.LOCK_WAIT", 10.0)
        release = threading.Timer(0.1, holder.close)  # it closes while we wait
        release.start()
        port = SerialDebugPort.open(path, role="uart", timeout=1.0)
        release.join()
        port.close()
    finally:
        holder.close()
        os.close(slave)
        os.close(master)
