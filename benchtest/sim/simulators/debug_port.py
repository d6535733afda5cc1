"""The simulated DUT firmware console, on a pseudo-terminal or a `socket://` TCP endpoint.

`Firmware` answers the commands named in the DUT profile's `debug_port` section (identify, one
per power mode, mode, reset, reset_cause, the family's own such as a sensor's read, and register
reads and writes through its register map) and changes the World's state. At every boot it
prints the profile's `boot_banner` unasked; a `reboot_during` fault cuts a reply off with one.
With real timing a port delivers every command and reply at the profile's baud rate (10 bits a
byte); unasked output (a boot banner) goes out at once.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from benchtest.config.registers import RegisterMap
from benchtest.sim.models.register_file import RegisterConsole
from benchtest.sim.models.world import World
from benchtest.sim.server.service import Service
from benchtest.sim.server.tcp import Connection, TcpServer
from benchtest.sim.server.timing import DEFAULT_BAUDRATE, Delays, Timing, wire_time
from benchtest.values.errors import ConfigError, SimulatorError

DEFAULT_COMMANDS = {
    "identify": "id",
    "sleep": "mode sleep",
    "active": "mode active",
    "mode": "mode",
}
REGISTER_ACTIONS = ("read_register", "write_register")  # templates, answered by RegisterConsole
WRITE_POLL = 0.1  # s


@dataclass(frozen=True)
class PortConfig:
    """Baud rate, line ending, prompt, command words and register map of the DUT's debug port."""

    baudrate: int = DEFAULT_BAUDRATE
    line_ending: str = "\r\n"
    prompt: str = "> "
    commands: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_COMMANDS))
    registers: RegisterMap = field(default_factory=RegisterMap)
    boot_banner: str = ""  # printed at every boot: {firmware_id}, {reset_cause}

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any] | None) -> PortConfig:
        section = section or {}
        commands = section.get("commands", DEFAULT_COMMANDS)
        if not isinstance(commands, Mapping) or not all(
            isinstance(v, str) for v in commands.values()
        ):
            raise SimulatorError("debug_port.commands: expected a mapping of action to command")
        try:
            registers = RegisterMap.from_section(section, "debug_port section")
        except ConfigError as exc:
            raise SimulatorError(str(exc)) from exc
        return cls(
            baudrate=int(section.get("baudrate", DEFAULT_BAUDRATE)),
            line_ending=str(section.get("line_ending", "\r\n")),
            prompt=str(section.get("prompt", "> ")),
            commands=dict(commands),
            registers=registers,
            boot_banner=str(section.get("boot_banner", "")),
        )


class Firmware:
    """The DUT's console: one command line in, its reply lines and the next prompt out."""

    def __init__(self, world: World, config: PortConfig) -> None:
        self.world = world
        self.config = config
        actions = self._actions()
        self._by_text = {
            _normal(text): actions.get(action, _not_simulated(action))
            for action, text in config.commands.items()
            if action not in REGISTER_ACTIONS
        }
        self.registers = RegisterConsole(config.registers, world)
        reboot = world.model.faults.reboot_during
        self._reboot_on = reboot.command if reboot else None
        self._reboots_left = reboot.times if reboot else None
        self._output: Callable[[bytes], None] | None = None
        self._responding = False
        self._held: list[str] = []  # banners of boots during a reply, sent with it
        world.on_boot(self._booted)

    def attach(self, output: Callable[[bytes], None]) -> None:
        """Where text the DUT sends unasked (a boot banner) goes: the port's writer."""
        self._output = output

    def prompt(self) -> bytes:
        return self.config.prompt.encode()

    def respond(self, line: str) -> bytes:
        """The reply to one received line and the prompt (to an empty line: just the prompt)."""
        command = _normal(line)
        if not command:
            return self.prompt()
        self._responding = True
        try:
            reply = self._answer(command)
            if self._reboots_during(command):
                reply = reply[: len(reply) // 2]  # cut off mid-reply
                self.world.reboot("watchdog")
        finally:
            self._responding = False
        lines = [reply, *self._held]
        self._held.clear()
        ending = self.config.line_ending
        return "".join(text + ending for text in lines).encode() + self.prompt()

    def _answer(self, command: str) -> str:
        action = self._by_text.get(command)
        reply = action() if action else self.registers.answer(command)
        return f"ERR unknown command: {command}" if reply is None else reply

    def _actions(self) -> dict[str, Callable[[], str]]:
        world = self.world
        actions: dict[str, Callable[[], str]] = {
            "identify": lambda: world.model.firmware_id,
            "mode": lambda: world.mode,
            "reset_cause": lambda: world.reset_cause,
            "reset": self._reset,
        }
        actions.update({mode: partial(self._set_mode, mode) for mode in world.modes})
        actions.update(world.device.actions())
        return actions

    def _set_mode(self, mode: str) -> str:
        self.world.set_mode(mode)
        return "OK"

    def _reset(self) -> str:
        self.world.reboot("software")
        return "OK"

    def _reboots_during(self, command: str) -> bool:
        if command != self._reboot_on or self._reboots_left == 0:
            return False
        if self._reboots_left is not None:
            self._reboots_left -= 1
        return True

    def _booted(self, cause: str) -> None:
        """A boot: print the banner (held back while a reply is being made)."""
        if not self.config.boot_banner:
            return
        banner = self.config.boot_banner.format(
            firmware_id=self.world.model.firmware_id, reset_cause=cause
        )
        if self._responding:
            self._held.append(banner)
        elif self._output is not None:
            ending = self.config.line_ending
            self._output((ending + banner + ending).encode() + self.prompt())


class Wire:
    """The UART between host and DUT: with real timing a line takes its bytes' time to arrive
    and its reply the reply's bytes' time to come back (10 bits a byte at the baud rate)."""

    def __init__(self, baudrate: int) -> None:
        self.baudrate = baudrate
        self.delays = Delays()

    def exchange(self, firmware: Firmware, line: str) -> bytes:
        """The firmware's reply to `line` (and its ending), once both crossed the wire."""
        self.delays.wait(wire_time(len(line.encode()) + 1, self.baudrate))
        reply = firmware.respond(line)
        self.delays.wait(wire_time(len(reply), self.baudrate))
        return reply


def _not_simulated(action: str) -> Callable[[], str]:
    return lambda: f"ERR not simulated: {action}"


def _normal(line: str) -> str:
    return " ".join(line.split())


class LineSplitter:
    """Bytes to lines, accepting CR, LF or CR LF as the end of a line."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._after_cr = False

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        for byte in data:
            if byte == 0x0A and self._after_cr:
                self._after_cr = False
                continue
            self._after_cr = byte == 0x0D
            if byte in (0x0A, 0x0D):
                lines.append(self._pending.decode("utf-8", errors="replace"))
                self._pending.clear()
            else:
                self._pending.append(byte)
        return lines


class PtyDebugPort(Service):
    """The firmware on a pseudo-terminal; pyserial opens `address` (the slave's path)."""

    def __init__(self, firmware: Firmware) -> None:
        self.firmware = firmware
        self.wire = Wire(firmware.config.baudrate)
        self._fds: list[int] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.address = ""

    def start(self) -> None:
        import tty  # POSIX only

        master, slave = os.openpty()
        wake_r, wake_w = os.pipe()
        self._fds = [master, slave, wake_r, wake_w]
        tty.setraw(slave)  # no echo, no line editing, no CR/LF translation
        os.set_blocking(master, False)
        self.address = os.ttyname(slave)  # the slave stays open so the master never sees EIO
        self._write(self.firmware.prompt())  # before a client can open the port
        self.firmware.attach(self.push)
        self._thread = threading.Thread(target=self._run, name="debug-port-pty", daemon=True)
        self._thread.start()

    def use_timing(self, timing: Timing) -> None:
        """Answer at once (instant) or at the baud rate (real); before `start`."""
        self.wire.delays = Delays(timing)

    def stop(self) -> None:
        self._stopping.set()
        self.wire.delays.cancel()
        if self._thread is not None:
            os.write(self._fds[3], b"x")
            self._thread.join()
            self._thread = None
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    def push(self, data: bytes) -> None:
        """Send `data` unasked, as the DUT does with a log line or a boot banner; what does not
        fit while nobody reads the port is lost, as on a real UART."""
        with contextlib.suppress(OSError):
            if self._fds:
                os.write(self._fds[0], data)

    def _run(self) -> None:
        master, _, wake, _ = self._fds
        splitter = LineSplitter()
        while not self._stopping.is_set():
            readable, _, _ = select.select([master, wake], [], [])
            if wake in readable:
                return
            try:
                data = os.read(master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            for line in splitter.feed(data):
                self._write(self.wire.exchange(self.firmware, line))

    def _write(self, data: bytes) -> None:
        master = self._fds[0]
        while data and not self._stopping.is_set():
            try:
                data = data[os.write(master, data) :]
            except BlockingIOError:  # nobody reads the slave: wait, but never past stop()
                select.select([], [master], [], WRITE_POLL)


class SocketDebugPort(Service):
    """The firmware on a TCP endpoint; pyserial opens `socket://127.0.0.1:<port>`."""

    def __init__(self, firmware: Firmware, *, port: int = 0) -> None:
        self.firmware = firmware
        self.wire = Wire(firmware.config.baudrate)
        self._tcp = TcpServer(self._serve, port=port, name="debug-port-socket")
        self._clients: set[Connection] = set()
        self._clients_lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"socket://127.0.0.1:{self._tcp.port}"

    def start(self) -> None:
        self._tcp.start()
        self.firmware.attach(self.push)

    def use_timing(self, timing: Timing) -> None:
        """Answer at once (instant) or at the baud rate (real); before `start`."""
        self.wire.delays = Delays(timing)

    def stop(self) -> None:
        self.wire.delays.cancel()
        self._tcp.stop()

    def push(self, data: bytes) -> None:
        """Send `data` unasked to every connected client (a boot banner)."""
        with self._clients_lock:
            clients = list(self._clients)
        for connection in clients:
            connection.send(data)

    def _serve(self, connection: Connection) -> None:
        splitter = LineSplitter()
        with self._clients_lock:
            self._clients.add(connection)
        try:
            connection.send(self.firmware.prompt())
            for chunk in connection.chunks():
                for line in splitter.feed(chunk):
                    connection.send(self.wire.exchange(self.firmware, line))
        finally:
            with self._clients_lock:
                self._clients.discard(connection)
