"""Instrument faults of the simulated bench, configured in a role's `sim://` resource.

`sim://smu?fault=slow&delay=0.5` delays every reply, `fault=garbage&after=3` answers garbage
bytes from the fourth command on, `fault=drop&after=3` closes the connection when the fourth
command arrives (unanswered) and every later connection at once. `fault=late&delay=2&after=3`
holds the first reply after three commands for 2 s (once; the replies behind it wait too), and
`fault=endless&after=3` answers the fourth command with bytes that never end in a terminator.
`late` and `endless` may count only the commands that contain `match` (`match=:READ?`), and
journal the moment they strike (event `fault`), so a test can act while the driver waits. A
SCPI simulator gets a `FaultyLink` (a loopback proxy in front of it); a debug port gets the
fault on its firmware's replies (slow, garbage and late). The other query keys configure the
simulator itself (a chamber's `time_constant`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from benchtest.sim.server.journal import Journal
from benchtest.sim.server.service import Service
from benchtest.sim.server.tcp import Connection, TcpServer
from benchtest.sim.server.timing import Timing
from benchtest.values.errors import SimulatorError

if TYPE_CHECKING:
    from benchtest.sim.simulators.debug_port import Firmware

FAULTS = ("slow", "garbage", "drop", "late", "endless")
FAULT_SETTINGS = {
    "slow": ("delay",),
    "garbage": ("after",),
    "drop": ("after",),
    "late": ("delay", "after", "match"),
    "endless": ("after", "match"),
}
SCPI_ONLY = ("drop", "endless")
STRIKES_ONCE = ("late", "endless")
GARBAGE = b"\x15\xfe?#\x00garbled\n"
ENDLESS_CHUNK = b"+1.000000E-06," * 256  # 3.5 KiB of a plausible reply, never terminated
ENDLESS_PAUSE = 0.005  # s between two chunks of an endless reply (~700 KB/s)
DEFAULT_DELAY = 0.5  # s


@dataclass(frozen=True)
class InstrumentFault:
    """`kind` (see FAULTS), the reply `delay` in s, how many commands go `after` before it
    strikes, and `match`: the text a command must contain to count (late, endless)."""

    kind: str
    delay: float = DEFAULT_DELAY
    after: int = 0
    match: str = ""

    def counts(self, command: str) -> bool:
        """Whether `command` counts towards `after`."""
        return self.match.upper() in command.upper()


def resource_options(role: str, resource: str) -> dict[str, str]:
    """The query of a `sim://role?key=value&...` resource, as a mapping."""
    query = urlsplit(resource).query
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise SimulatorError(
            f"instruments.{role}.resource: cannot read the settings {query!r}; "
            "write sim://<role>?key=value&key=value"
        ) from None
    return dict(pairs)


def parse_fault(role: str, options: Mapping[str, str]) -> InstrumentFault | None:
    """The fault the options ask for (None: a well-behaved instrument)."""
    kind = options.get("fault")
    if kind is None:
        return None
    where = f"instruments.{role}.resource"
    if kind not in FAULTS:
        raise SimulatorError(f"{where}: unknown fault {kind!r}; faults: {', '.join(FAULTS)}")
    values: dict[str, Any] = {}
    for key in ("delay", "after", "match"):
        if key in options:
            if key not in FAULT_SETTINGS[kind]:
                raise SimulatorError(f"{where}: fault {kind} takes no {key!r}")
            values[key] = _setting(where, key, options[key])
    return InstrumentFault(kind, **values)


def _setting(where: str, key: str, text: str) -> float | int | str:
    if key == "match":
        if not text.strip():
            raise SimulatorError(f"{where}: match={text!r}: expected the text of a command")
        return text.strip()
    try:
        value = float(text) if key == "delay" else int(text)
    except ValueError:
        value = -1
    if not 0 <= value < float("inf"):
        kind = "a time in s >= 0" if key == "delay" else "a whole number of commands >= 0"
        raise SimulatorError(f"{where}: {key}={text!r}: expected {kind}")
    return value


class FaultyLink(Service):
    """A loopback TCP proxy in front of `simulator` that misbehaves as `fault` says; `journal`
    records when a late or endless reply strikes (role `role`, event `fault`)."""

    def __init__(
        self,
        simulator: Any,
        fault: InstrumentFault,
        *,
        role: str = "",
        journal: Journal | None = None,
    ) -> None:
        self.simulator = simulator
        self.fault = fault
        self.role = role or str(getattr(simulator, "role", ""))
        self.journal = journal or Journal()
        self._tcp = TcpServer(self._serve, name=f"fault-{fault.kind}")
        self._commands = 0
        self._counted = 0  # commands that contain `match`
        self._armed = False  # the next reply is the late or endless one
        self._struck = False  # late and endless strike once
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """The PyVISA resource of the proxy."""
        return f"TCPIP::127.0.0.1::{self._tcp.port}::SOCKET"

    def start(self) -> None:
        self.simulator.start()
        try:
            self._tcp.start()
        except BaseException:
            self.simulator.stop()
            raise

    def stop(self) -> None:
        self._tcp.stop()
        self.simulator.stop()

    def use_timing(self, timing: Timing) -> None:
        """The instrument behind the link takes its time as `timing` says."""
        self.simulator.use_timing(timing)

    def _upstream_port(self) -> int:
        return int(self.simulator.port)

    def _serve(self, client: Connection) -> None:
        if self.fault.kind == "drop" and self._dropped():
            return  # the instrument is gone: every new connection is closed at once
        upstream = socket.create_connection(("127.0.0.1", self._upstream_port()))
        gone = threading.Event()  # the client left (or the bench stops): end any held reply
        replies = threading.Thread(target=self._replies, args=(upstream, client, gone), daemon=True)
        replies.start()
        pending = b""
        try:
            for chunk in client.chunks():
                *lines, pending = (pending + chunk).split(b"\n")
                if self._count([line.decode("latin-1") for line in lines]):
                    break  # dropped: this command is never answered
                upstream.sendall(chunk)
        finally:
            gone.set()
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)
            upstream.close()
            replies.join()

    def _replies(self, upstream: socket.socket, client: Connection, gone: threading.Event) -> None:
        while True:
            try:
                data = upstream.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self._strikes_now():
                self._strike(data, client, gone)
                continue
            client.send(self._spoil(data))

    def _spoil(self, data: bytes) -> bytes:
        if self.fault.kind == "slow":
            time.sleep(self.fault.delay)
        elif self.fault.kind == "garbage" and self._past_after():
            return GARBAGE
        return data

    def _strike(self, reply: bytes, client: Connection, gone: threading.Event) -> None:
        """Hold `reply` for the fault's delay, or replace it by a reply that never ends."""
        if self.fault.kind == "late":
            self.journal.record(self.role, "fault", f"late reply held {self.fault.delay:g} s")
            if not gone.wait(self.fault.delay):
                client.send(reply)
            return
        self.journal.record(self.role, "fault", "endless reply")
        while not gone.wait(ENDLESS_PAUSE):
            client.send(ENDLESS_CHUNK)

    def _count(self, lines: list[str]) -> bool:
        """Count commands; True when the connection is to be dropped now."""
        with self._lock:
            self._commands += len(lines)
            for line in lines if self.fault.kind in STRIKES_ONCE else ():
                if self.fault.counts(line):
                    self._counted += 1
                    if self._counted > self.fault.after and not self._struck:
                        self._armed = True
        return self.fault.kind == "drop" and self._dropped()

    def _strikes_now(self) -> bool:
        """True once, for the first reply after the counted commands (late and endless)."""
        with self._lock:
            if not self._armed or self._struck:
                return False
            self._struck = True
            return True

    def _dropped(self) -> bool:
        with self._lock:
            return self._commands > self.fault.after

    def _past_after(self) -> bool:
        with self._lock:
            return self._commands > self.fault.after


class FaultyFirmware:
    """A debug port's firmware whose replies come late or garbled."""

    def __init__(self, firmware: Firmware, fault: InstrumentFault, role: str) -> None:
        if fault.kind in SCPI_ONLY:
            hint = (
                "; a debug port that vanishes is a USB adapter re-enumerating (see "
                "reconnect_timeout)"
                if fault.kind == "drop"
                else ""
            )
            raise SimulatorError(
                f"instruments.{role}.resource: fault {fault.kind} is for SCPI instruments{hint}"
            )
        self._firmware = firmware
        self._fault = fault
        self._replies = 0
        self._struck = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._firmware, name)

    def respond(self, line: str) -> bytes:
        reply = self._firmware.respond(line)
        if not line.strip():
            return reply
        if self._fault.counts(line):
            self._replies += 1
        if self._fault.kind == "slow":
            time.sleep(self._fault.delay)
        elif self._fault.kind == "late":
            if self._replies > self._fault.after and not self._struck:
                self._struck = True
                time.sleep(self._fault.delay)
        elif self._replies > self._fault.after:
            return GARBAGE
        return reply
