"""GPIB instruments behind a Prologix GPIB-ETHERNET adapter: `prologix://HOST[:PORT]/PAD[/SAD]`.

The adapter takes `++` commands and data lines on TCP port 1234 (Prologix GPIB-ETHERNET
manual): data goes to the instrument at `++addr`, with CR, LF, ESC and `+` escaped by ESC, and
its reply comes back only when `++read eoi` addresses it to talk. The adapter waits at most
`++read_tmo_ms` (1 to 3000 ms) for each character, so a reply that takes longer (a 10-PLC
reading, a sweep) is asked for again until the transport's own timeout; a timeout names the
GPIB address and the adapter. Every instrument on one adapter shares its one connection, one
exchange at a time.

pyvisa-py 0.8 has a Prologix session (`PRLGX-TCPIP::host::port::INTFC`, then `GPIB0::n::INSTR`),
but it cannot be used here: its GPIB session refuses a read or write termination
(VI_ERROR_NSUP_ATTR), it sets `++read_tmo_ms 50` and never asks again, so a Keithley 2400
`:READ?` at 10 PLC times out, and it waits the adapter connection's timeout rather than the
instrument's (no longer wait for a sweep).
"""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Self

from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentError,
    InstrumentTimeoutError,
    ProtocolError,
)

SCHEME = "prologix://"
DEFAULT_PORT = 1234
MAX_READ_TMO = 3.0  # s: the longest `++read_tmo_ms` the adapter takes
MARGIN = 0.25  # s past the adapter's read timeout before it is taken to have given up
EOS = {"\r\n": 0, "\r": 1, "\n": 2, "": 3}  # write termination -> `++eos`
_SPECIAL = re.compile(rb"([\r\n\x1b+])")
_URL = re.compile(r"(?i)prologix://(?P<host>[^/:\s]+|\[[^\]]+\])(?::(?P<port>\d+))?/(?P<path>.*)")


@dataclass(frozen=True)
class PrologixAddress:
    """An instrument on the GPIB bus of a Prologix adapter: host, TCP port, primary and
    (optional, 0-30) secondary GPIB address."""

    host: str
    port: int
    pad: int
    sad: int | None = None

    @classmethod
    def parse(cls, text: str) -> Self:
        """`prologix://192.168.1.50/24`, `prologix://gpib-lab:1234/24/3`; ValueError otherwise."""
        match = _URL.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"expected prologix://HOST[:PORT]/GPIB-ADDRESS, got {text!r}")
        port = int(match["port"] or DEFAULT_PORT)
        if not 0 < port < 65536:
            raise ValueError(f"{text!r}: TCP port {port} is not within 1 to 65535")
        parts = match["path"].split("/")
        if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
            raise ValueError(
                f"{text!r}: after the host comes the GPIB primary address (0-30), optionally "
                "/secondary address (0-30), e.g. prologix://192.168.1.50/24"
            )
        pad, sad = int(parts[0]), (int(parts[1]) if len(parts) == 2 else None)
        if not 0 <= pad <= 30 or not (sad is None or 0 <= sad <= 30):
            raise ValueError(f"{text!r}: GPIB addresses are 0 to 30")
        return cls(match["host"].strip("[]"), port, pad, sad)

    @property
    def adapter(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def gpib(self) -> str:
        return f"{self.pad}" if self.sad is None else f"{self.pad}/{self.sad}"

    def __str__(self) -> str:
        return f"prologix://{self.adapter}/{self.gpib}"


def is_prologix(resource: str) -> bool:
    return resource.strip().lower().startswith(SCHEME)


class _Adapter:
    """One connection to one adapter, shared by the instruments on its bus; `lock` is held
    for a whole exchange, so two instruments never interleave."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.name = f"{host}:{port}"
        self.lock = threading.RLock()
        self.users = 0
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self.addressed: tuple[int, int | None] | None = None
        self.version = ""  # what `++ver` answered when the connection was set up
        self.broken = False  # the connection was lost: the next instrument opened gets a new one
        self._settings: dict[str, int] = {}

    def setting(self, name: str, value: int) -> None:
        """`++<name> <value>`, sent only when it changes."""
        if self._settings.get(name) != value:
            self.send(f"++{name} {value}\n".encode())
            self._settings[name] = value

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def receive(self, until: Callable[[bytearray], int | None], wait: float) -> bytes | None:
        """The bytes up to the end `until` finds in what has arrived, waiting at most `wait` s
        for more; None when it has not come (what did stays buffered)."""
        deadline = time.monotonic() + wait
        while (end := until(self._buffer)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionResetError("the adapter closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def discard(self) -> None:
        self._buffer.clear()

    def close(self) -> None:
        with suppress(OSError):
            self._sock.close()


_ADAPTERS: dict[tuple[str, int], _Adapter] = {}
_ADAPTERS_LOCK = threading.Lock()


class PrologixTransport:
    """A `Transport` to one GPIB instrument behind a Prologix adapter. `timeout` (s) bounds a
    reply from its `++read` to its last byte; after an exchange that did not end cleanly the
    next one first brings the session back in step (`resync`: a Selected Device Clear, and
    everything the adapter still sends is read and dropped)."""

    def __init__(
        self,
        address: PrologixAddress,
        adapter: _Adapter,
        *,
        role: str,
        timeout: float,
        read_termination: str,
        write_termination: str,
        version: str,
    ) -> None:
        self.address = address
        self.role = role
        self.timeout = timeout
        self.version = version
        self.in_step = True
        self._adapter: _Adapter | None = adapter
        self._ending = read_termination.encode("latin-1")
        self._eos = EOS[write_termination]

    @classmethod
    def open(
        cls,
        resource: str,
        *,
        role: str = "",
        timeout: float = 5.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
        block_terminators: int = 1,
        visa_library: object = None,
    ) -> Self:
        """Connect to the adapter (or share its connection), set it up as controller, and
        check that it answers `++ver`.

        The options are a VISA transport's, so a driver opens either alike; `block_terminators`
        is not needed here (a block is read to its declared length and its line end). The
        adapter is reached over benchtest's own TCP socket, not through a VISA library: a
        `visa_library` is refused, as it could not be honoured."""
        name = role or resource
        try:
            address = PrologixAddress.parse(resource)
        except ValueError as exc:
            raise InstrumentError(str(exc), role=name) from None
        if visa_library is not None:
            raise InstrumentError(
                f"visa_library {str(visa_library)!r} does not apply to {resource}: a GPIB "
                "instrument behind a Prologix adapter is reached over benchtest's own TCP "
                "connection to the adapter, not through a VISA library; leave visa_library out",
                role=name,
            )
        if write_termination not in EOS:
            raise InstrumentError(
                f"write_termination {write_termination!r}: a Prologix adapter ends a command "
                "with CR LF, CR, LF or nothing (++eos)",
                role=name,
            )
        if not read_termination:
            raise InstrumentError("a Prologix reply needs a read_termination", role=name)
        adapter, version = _claim(address, name, timeout)
        return cls(
            address,
            adapter,
            role=name,
            timeout=timeout,
            read_termination=read_termination,
            write_termination=write_termination,
            version=version,
        )

    # -- Transport -------------------------------------------------------------------------

    def write(self, command: str) -> None:
        with self._exchange(command) as adapter:
            self._send(adapter, command)

    def query(self, command: str) -> str:
        with self._exchange(command) as adapter:
            self._send(adapter, command)
            reply = self._read(adapter, command, self._line_end)
        return reply.decode("latin-1").strip()

    def read_block(self, command: str) -> bytes:
        """Send `command` and return the payload of the definite-length block it answers with
        (the adapter forwards binary data as it is)."""
        with self._exchange(command) as adapter:
            self._send(adapter, command)
            data = self._read(adapter, command, self._block_end)
        size = 2 + int(data[1:2])
        return data[size : size + int(data[2:size])]

    def resync(self) -> None:
        """Selected Device Clear (`++clr`), then `++ver`, dropping everything before its answer:
        a late reply, or the end of a read the adapter was still doing."""
        self.in_step = False
        adapter = self._open_adapter()
        marker = self.version.encode("latin-1")
        with adapter.lock:
            try:
                self._address(adapter)
                adapter.send(b"++clr\n++ver\n")
                synced = adapter.receive(lambda b: _after_line(b, marker), self.timeout + MARGIN)
            except OSError as exc:
                raise self._lost(adapter, exc, "++clr") from exc
            if synced is None:
                raise ConnectionLostError(
                    f"the Prologix adapter at {self.address.adapter} did not answer ++ver "
                    f"within {self.timeout + MARGIN:g} s",
                    role=self.role,
                    command="++ver",
                )
        self.in_step = True

    def close(self) -> None:
        adapter, self._adapter = self._adapter, None
        if adapter is not None:
            _release(self.address, adapter)

    # -- exchanges ---------------------------------------------------------------------------

    @contextmanager
    def _exchange(self, command: str) -> Iterator[_Adapter]:
        if not self.in_step:
            self.resync()
        adapter = self._open_adapter()
        with adapter.lock:
            self.in_step = False
            try:
                self._address(adapter)
                yield adapter
            except OSError as exc:
                raise self._lost(adapter, exc, command) from exc
            self.in_step = True

    def _open_adapter(self) -> _Adapter:
        if self._adapter is None:
            raise ConnectionLostError("connection is closed", role=self.role)
        return self._adapter

    def _address(self, adapter: _Adapter) -> None:
        """Make this instrument the adapter's addressed one, with this role's `++eos`."""
        address = (self.address.pad, self.address.sad)
        if adapter.addressed != address:
            sad = "" if self.address.sad is None else f" {96 + self.address.sad}"
            adapter.send(f"++addr {self.address.pad}{sad}\n".encode())
            adapter.addressed = address
        adapter.setting("eos", self._eos)

    def _send(self, adapter: _Adapter, command: str) -> None:
        adapter.discard()  # nothing read now belongs to an earlier exchange
        adapter.send(_SPECIAL.sub(b"\x1b\\1", command.encode("latin-1")) + b"\n")

    def _read(
        self, adapter: _Adapter, command: str, end: Callable[[bytearray], int | None]
    ) -> bytes:
        """`++read eoi` until `end` finds the reply's end: asked again whenever the adapter
        has given up (its read timeout passed with nothing new), until `timeout`."""
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._no_reply(adapter, command)
            window = min(remaining, MAX_READ_TMO)
            adapter.setting("read_tmo_ms", max(1, math.ceil(window * 1000)))
            adapter.send(b"++read eoi\n")
            while True:
                before = adapter.pending
                data = adapter.receive(end, min(window + MARGIN, deadline - time.monotonic()))
                if data is not None:
                    return data
                if adapter.pending == before or time.monotonic() >= deadline:
                    break  # nothing new: the adapter has given up, ask again

    def _no_reply(self, adapter: _Adapter, command: str) -> InstrumentError:
        if adapter.pending:
            return ProtocolError(
                f"reply from GPIB address {self.address.gpib} did not end within "
                f"{self.timeout:g} s: {adapter.pending} bytes arrived without its termination",
                role=self.role,
                command=command,
            )
        return InstrumentTimeoutError(
            f"no reply within {self.timeout:g} s from GPIB address {self.address.gpib} behind "
            f"the Prologix adapter at {self.address.adapter}: is an instrument at that "
            "address, switched on and set to GPIB?",
            role=self.role,
            command=command,
        )

    def _line_end(self, buffer: bytearray) -> int | None:
        index = buffer.find(self._ending)
        return None if index < 0 else index + len(self._ending)

    def _block_end(self, buffer: bytearray) -> int | None:
        if len(buffer) < 2:
            return None
        if buffer[:1] != b"#" or not buffer[1:2].isdigit() or buffer[1:2] == b"0":
            raise ProtocolError(
                "expected a '#' definite-length block header",
                role=self.role,
                received=bytes(buffer[:40]),
            )
        size = 2 + int(buffer[1:2])
        if len(buffer) < size:
            return None
        if not buffer[2:size].isdigit():
            raise ProtocolError(
                "block header: byte count is not a number",
                role=self.role,
                received=bytes(buffer[:size]),
            )
        end = size + int(buffer[2:size]) + len(self._ending)
        return end if len(buffer) >= end else None

    def _lost(self, adapter: _Adapter, exc: OSError, command: str) -> ConnectionLostError:
        adapter.broken = True
        return ConnectionLostError(
            f"connection to the Prologix adapter at {self.address.adapter} lost: {exc}",
            role=self.role,
            command=command,
        )


def _after_line(buffer: bytearray, marker: bytes) -> int | None:
    """The end of the line holding `marker`, once it has arrived."""
    index = buffer.find(marker)
    if index < 0:
        return None
    end = buffer.find(b"\n", index)
    return None if end < 0 else end + 1


def _claim(address: PrologixAddress, role: str, timeout: float) -> tuple[_Adapter, str]:
    """The shared connection to `address`'s adapter, opened and set up on first use."""
    key = (address.host.lower(), address.port)
    with _ADAPTERS_LOCK:
        adapter = _ADAPTERS.get(key)
        if adapter is None or adapter.broken:  # its other users fail until they reopen
            adapter = _connect(address, role, timeout)
            _ADAPTERS[key] = adapter
        adapter.users += 1
    return adapter, adapter.version


def _connect(address: PrologixAddress, role: str, timeout: float) -> _Adapter:
    try:
        adapter = _Adapter(address.host, address.port, timeout)
    except OSError as exc:
        raise ConnectionLostError(
            f"cannot reach the Prologix adapter at {address.adapter}: {exc}", role=role
        ) from exc
    try:
        # No EEPROM write per ++addr (savecfg 0 first); controller; no read-after-write (a
        # command without a reply would be "query unterminated"); EOI with the last byte;
        # nothing appended to replies.
        adapter.send(b"++savecfg 0\n++mode 1\n++auto 0\n++eoi 1\n++eot_enable 0\n++ver\n")
        line = adapter.receive(lambda b: None if b.find(b"\n") < 0 else b.find(b"\n") + 1, timeout)
    except OSError as exc:
        adapter.close()
        raise ConnectionLostError(
            f"connection to the Prologix adapter at {address.adapter} lost: {exc}", role=role
        ) from exc
    if not line:
        adapter.close()
        raise ConnectionLostError(
            f"{address.adapter} does not answer ++ver within {timeout:g} s: is it a Prologix "
            "GPIB-ETHERNET adapter (TCP port 1234)?",
            role=role,
        )
    adapter.version = line.decode("latin-1").strip()
    return adapter


def _release(address: PrologixAddress, adapter: _Adapter) -> None:
    with _ADAPTERS_LOCK:
        adapter.users -= 1
        if adapter.users <= 0:
            adapter.close()
            key = (address.host.lower(), address.port)
            if _ADAPTERS.get(key) is adapter:
                del _ADAPTERS[key]
