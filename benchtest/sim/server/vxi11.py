"""A VXI-11 server for a simulated instrument: portmapper, core channel and abort channel.

VISA finds a VXI-11 instrument through the portmapper on port 111 of its host, so each served
instrument gets a loopback address of its own (Linux routes all of 127/8 to the loopback
interface) with its portmapper on port 111 and its core and abort channels on free ports: many
instruments and parallel test sessions never meet. Port 111 needs root (or
CAP_NET_BIND_SERVICE); where it cannot be bound the server raises a SimulatorError saying why.

The instrument behind it is a raw SCPI socket (`Upstream`): device_write forwards program
messages, device_read returns its replies with END where each response message ends (see
`upstream.py`), device_clear drops the reply under way. Implemented: create_link, device_write,
device_read (requestSize, termChar, END, io_timeout), device_readstb (MAV only: the socket
carries no status byte), device_trigger (sends `*TRG`), device_clear, device_remote/local,
device_lock/unlock, destroy_link and device_abort on the abort channel; the interrupt channel
and device_docmd are refused with "operation not supported".
"""

from __future__ import annotations

import errno
import itertools
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchtest.sim.server import oncrpc
from benchtest.sim.server.oncrpc import Call, RpcFormatError, XdrReader, pack
from benchtest.sim.server.service import Service
from benchtest.sim.server.tcp import Connection, TcpServer
from benchtest.sim.server.upstream import InstrumentGone, Upstream
from benchtest.values.errors import SimulatorError

PORTMAPPER_PORT = 111
PORTMAPPER, PORTMAPPER_VERSION = 100_000, 2
PMAP_NULL, PMAP_SET, PMAP_UNSET, PMAP_GETPORT, PMAP_DUMP = 0, 1, 2, 3, 4
IPPROTO_TCP = 6
DEVICE_CORE, DEVICE_ASYNC, VXI11_VERSION = 0x0607AF, 0x0607B0, 1
DEVICE_NAME = "inst0"
MAX_RECV_SIZE = 1 << 20  # bytes of one device_write this server accepts (create_link reply)
MAX_READ = 64 << 20  # bytes one device_read returns at most, whatever it asks for
ADDRESS_TRIES = 64

# Error codes (VXI-11 B.5.2)
NO_ERROR = 0
SYNTAX_ERROR = 1
DEVICE_NOT_ACCESSIBLE = 3
INVALID_LINK = 4
PARAMETER_ERROR = 5
CHANNEL_NOT_ESTABLISHED = 6
OPERATION_NOT_SUPPORTED = 8
DEVICE_LOCKED = 11
NO_LOCK_HELD = 12
IO_TIMEOUT = 15
IO_ERROR = 17
ABORT = 23

# Flags and read reasons
WAITLOCK, END, TERMCHRSET = 0x01, 0x08, 0x80
REASON_REQCNT, REASON_CHR, REASON_END = 0x01, 0x02, 0x04
MAV = 0x10  # message available, bit 4 of the status byte

Body = bytes | oncrpc.Opaque
Procedure = Callable[[XdrReader, "Session"], Body]
Dispatch = Callable[[int, XdrReader, "Session | None"], Body | None]


def unavailable_reason() -> str | None:
    """Why VXI-11 cannot be served here (None: it can): port 111 on a loopback address."""
    try:
        _, portmapper = _claim_portmapper(lambda connection: None, "vxi11-probe")
    except SimulatorError as error:
        return str(error)
    portmapper.stop()
    return None


def _claim_portmapper(handler: Callable[[Connection], None], name: str) -> tuple[str, TcpServer]:
    """A started portmapper listener on port 111 of a loopback address of its own."""
    if not sys.platform.startswith("linux"):
        raise SimulatorError(
            "VXI-11 needs a loopback address of its own per instrument, with its portmapper on "
            f"port 111; only Linux routes all of 127/8 to the loopback ({sys.platform} does "
            "not): use visa=hislip or visa=socket"
        )
    chooser = random.SystemRandom()
    for _ in range(ADDRESS_TRIES):
        host = f"127.{chooser.randint(1, 254)}.{chooser.randint(0, 255)}.{chooser.randint(2, 254)}"
        server = TcpServer(handler, host=host, port=PORTMAPPER_PORT, name=name)
        try:
            server.start()
        except PermissionError:
            raise SimulatorError(
                "VXI-11 needs the portmapper port 111, which only root (or a process with "
                "CAP_NET_BIND_SERVICE) may bind: run as root, or use visa=hislip or visa=socket"
            ) from None
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                continue
            raise SimulatorError(f"VXI-11: cannot bind {host}:111: {error}") from error
        return host, server
    raise SimulatorError(
        f"VXI-11: port 111 was taken on {ADDRESS_TRIES} loopback addresses tried; a system "
        "portmapper (rpcbind) listening on all addresses holds it"
    )


@dataclass
class Link:
    """One device link: its id, the client's id and its own line to the instrument."""

    lid: int
    client_id: int
    upstream: Upstream


@dataclass
class Session:
    """What one core-channel connection created: the links that end with it."""

    links: set[int] = field(default_factory=set)


class Vxi11Server(Service):
    """Serve the instrument whose raw socket `endpoint()` returns, over VXI-11.

    `address` is `TCPIP::<its loopback address>::inst0::INSTR` once started.
    """

    def __init__(self, endpoint: Callable[[], tuple[str, int]], *, name: str = "vxi11") -> None:
        self._endpoint = endpoint
        self._name = name
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._links: dict[int, Link] = {}
        self._lids = itertools.count(1)
        self._holder: int | None = None  # the link holding the device lock
        self._servers: list[TcpServer] = []
        self.host = ""
        self._core: TcpServer | None = None
        self._abort: TcpServer | None = None
        self._core_procedures: dict[int, Procedure] = {
            10: self._create_link,
            11: self._device_write,
            12: self._device_read,
            13: self._device_readstb,
            14: self._device_trigger,
            15: self._device_clear,
            16: self._device_remote_local,
            17: self._device_remote_local,
            18: self._device_lock,
            19: self._device_unlock,
            20: self._device_enable_srq,
            22: self._device_docmd,
            23: self._destroy_link,
            25: self._create_intr_chan,
            26: self._destroy_intr_chan,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"TCPIP::{self.host}::{DEVICE_NAME}::INSTR"

    @property
    def core_port(self) -> int:
        return self._core.port if self._core else 0

    @property
    def abort_port(self) -> int:
        return self._abort.port if self._abort else 0

    def start(self) -> None:
        self._stopping.clear()
        self.host, portmapper = _claim_portmapper(self._serve_portmapper, f"{self._name}-pmap")
        self._servers.append(portmapper)
        try:
            self._core = TcpServer(self._serve_core, host=self.host, name=f"{self._name}-core")
            self._core.start()
            self._servers.append(self._core)
            self._abort = TcpServer(self._serve_abort, host=self.host, name=f"{self._name}-abort")
            self._abort.start()
            self._servers.append(self._abort)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop serving: close every channel and link and join every thread."""
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        while self._servers:
            self._servers.pop().stop()
        with self._lock:
            links, self._links = list(self._links.values()), {}
            self._holder = None
        for link in links:
            link.upstream.close()

    # -- RPC plumbing ------------------------------------------------------------------------

    def _serve_portmapper(self, connection: Connection) -> None:
        self._serve_rpc(connection, PORTMAPPER, PORTMAPPER_VERSION, self._portmapper, None)

    def _serve_core(self, connection: Connection) -> None:
        session = Session()
        try:
            self._serve_rpc(connection, DEVICE_CORE, VXI11_VERSION, self._core_call, session)
        finally:
            for lid in list(session.links):
                self._forget(lid)

    def _serve_abort(self, connection: Connection) -> None:
        self._serve_rpc(connection, DEVICE_ASYNC, VXI11_VERSION, self._abort_call, None)

    def _serve_rpc(
        self,
        connection: Connection,
        program: int,
        version: int,
        dispatch: Dispatch,
        session: Session | None,
    ) -> None:
        """Answer the calls of one client until it leaves; a stream whose record marking
        cannot be followed is dropped."""
        reader = oncrpc.RecordReader(MAX_RECV_SIZE + 4096)
        try:
            for chunk in connection.chunks():
                for data in reader.feed(chunk):
                    reply = self._answer(data, program, version, dispatch, session)
                    if isinstance(reply, oncrpc.Opaque):
                        for part in reply.parts():
                            connection.send(part)
                    elif reply is not None:
                        connection.send(oncrpc.record(reply))
        except RpcFormatError:
            return

    def _answer(
        self,
        data: bytes,
        program: int,
        version: int,
        dispatch: Dispatch,
        session: Session | None,
    ) -> Body | None:
        try:
            call = Call.decode(data)
        except RpcFormatError:
            is_call = len(data) >= 8 and data[4:8] == pack(oncrpc.CALL)
            return (
                oncrpc.accepted(int.from_bytes(data[:4]), oncrpc.GARBAGE_ARGS) if is_call else None
            )
        if isinstance(call, int):
            return oncrpc.denied_version(call)
        if call.program != program:
            return oncrpc.accepted(call.xid, oncrpc.PROG_UNAVAIL)
        if call.version != version:
            return oncrpc.accepted(call.xid, oncrpc.PROG_MISMATCH, pack(version, version))
        try:
            body = dispatch(call.procedure, call.args, session)
        except RpcFormatError:
            return oncrpc.accepted(call.xid, oncrpc.GARBAGE_ARGS)
        if body is None:
            return oncrpc.accepted(call.xid, oncrpc.PROC_UNAVAIL)
        if isinstance(body, oncrpc.Opaque):  # the reply header goes before the body's head
            return oncrpc.Opaque(oncrpc.accepted(call.xid, oncrpc.SUCCESS, body.head), body.data)
        return oncrpc.accepted(call.xid, oncrpc.SUCCESS, body)

    # -- portmapper --------------------------------------------------------------------------

    def _portmapper(self, procedure: int, args: XdrReader, session: Session | None) -> bytes | None:
        ports = {DEVICE_CORE: self.core_port, DEVICE_ASYNC: self.abort_port}
        if procedure == PMAP_NULL:
            args.done("portmapper NULL")
            return b""
        if procedure == PMAP_GETPORT:
            prog, vers, prot = (args.uint(w) for w in ("program", "version", "protocol"))
            args.uint("port")
            args.done("portmapper GETPORT")
            served = vers == VXI11_VERSION and prot == IPPROTO_TCP
            return pack(ports.get(prog, 0) if served else 0)
        if procedure in (PMAP_SET, PMAP_UNSET):
            for what in ("program", "version", "protocol", "port"):
                args.uint(what)
            args.done("portmapper SET/UNSET")
            return pack(False)  # this portmapper serves its instrument only
        if procedure == PMAP_DUMP:
            args.done("portmapper DUMP")
            entries = b"".join(
                pack(True, prog, VXI11_VERSION, IPPROTO_TCP, port) for prog, port in ports.items()
            )
            return entries + pack(False)
        return None

    # -- abort channel -----------------------------------------------------------------------

    def _abort_call(self, procedure: int, args: XdrReader, session: Session | None) -> bytes | None:
        if procedure == 0:
            args.done("NULL")
            return b""
        if procedure != 1:
            return None
        lid = args.sint("link id")
        args.done("device_abort")
        link = self._links.get(lid)
        if link is None:
            return pack(INVALID_LINK)
        link.upstream.aborted.set()
        return pack(NO_ERROR)

    # -- core channel ------------------------------------------------------------------------

    def _core_call(self, procedure: int, args: XdrReader, session: Session | None) -> Body | None:
        if procedure == 0:
            args.done("NULL")
            return b""
        handler = self._core_procedures.get(procedure)
        if handler is None or session is None:
            return None
        return handler(args, session)

    def _link(self, lid: int, session: Session) -> Link | None:
        """The link `lid` if this connection created it."""
        return self._links.get(lid) if lid in session.links else None

    def _create_link(self, args: XdrReader, session: Session) -> bytes:
        client_id = args.sint("clientId")
        lock_device = args.flag("lockDevice")
        lock_timeout = args.uint("lock_timeout")
        device = args.opaque("device", 256).decode("ascii", "replace")
        args.done("create_link")
        if device.lower() != DEVICE_NAME:
            return pack(DEVICE_NOT_ACCESSIBLE, 0, 0, 0)
        host, port = self._endpoint()
        link = Link(next(self._lids), client_id, Upstream(host, port, self._stopping))
        with self._lock:
            self._links[link.lid] = link
        session.links.add(link.lid)
        if lock_device and self._acquire(link.lid, lock_timeout) != NO_ERROR:
            self._forget(link.lid)
            session.links.discard(link.lid)
            return pack(DEVICE_LOCKED, 0, 0, 0)
        return pack(NO_ERROR, link.lid, self.abort_port, MAX_RECV_SIZE)

    def _device_write(self, args: XdrReader, session: Session) -> bytes:
        lid = args.sint("lid")
        args.uint("io_timeout")  # a write to the instrument's socket does not wait
        lock_timeout, flags = args.uint("lock_timeout"), args.sint("flags")
        data = args.opaque("data", MAX_RECV_SIZE)
        args.done("device_write")
        link = self._link(lid, session)
        if link is None:
            return pack(INVALID_LINK, 0)
        if self._locked_out(lid, flags, lock_timeout):
            return pack(DEVICE_LOCKED, 0)
        try:
            link.upstream.write(data, bool(flags & END))
        except InstrumentGone:
            return pack(IO_ERROR, 0)
        return pack(NO_ERROR, len(data))

    def _device_read(self, args: XdrReader, session: Session) -> Body:
        lid, request_size, io_timeout, lock_timeout, flags, term_char = (
            args.sint("lid"),
            args.uint("requestSize"),
            args.uint("io_timeout"),
            args.uint("lock_timeout"),
            args.sint("flags"),
            args.sint("termChar"),
        )
        args.done("device_read")
        link = self._link(lid, session)
        if link is None:
            return pack(INVALID_LINK, 0, b"")
        if self._locked_out(lid, flags, lock_timeout):
            return pack(DEVICE_LOCKED, 0, b"")
        if request_size == 0:
            return pack(NO_ERROR, REASON_REQCNT, b"")
        term = term_char & 0xFF if flags & TERMCHRSET else None
        error = self._wait_for_reply(link.upstream, min(request_size, MAX_READ), term, io_timeout)
        if error != NO_ERROR:
            return pack(error, 0, b"")
        data, ended, found_term = link.upstream.framer.take(min(request_size, MAX_READ), term)
        reason = REASON_END if ended else 0
        reason |= REASON_CHR if found_term else 0
        reason |= REASON_REQCNT if len(data) == request_size else 0
        return oncrpc.Opaque(pack(NO_ERROR, reason), data)

    def _wait_for_reply(self, upstream: Upstream, limit: int, term: int | None, ms: int) -> int:
        """Wait until a read of `limit` bytes can end (NO_ERROR), or io_timeout `ms`, an abort
        or a lost instrument end the wait (reply bytes that arrived stay for the next read)."""
        upstream.aborted.clear()
        deadline = time.monotonic() + ms / 1000.0
        while not upstream.framer.ready(limit, term):
            if upstream.aborted.is_set():
                upstream.aborted.clear()
                return ABORT
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return IO_TIMEOUT
            try:
                upstream.receive(remaining)
            except InstrumentGone:
                return IO_ERROR
        return NO_ERROR

    def _generic(self, args: XdrReader, what: str) -> tuple[int, int, int]:
        """Device_GenericParms: (lid, flags, lock_timeout)."""
        lid, flags, lock_timeout = args.sint("lid"), args.sint("flags"), args.uint("lock_timeout")
        args.uint("io_timeout")
        args.done(what)
        return lid, flags, lock_timeout

    def _device_readstb(self, args: XdrReader, session: Session) -> bytes:
        lid, flags, lock_timeout = self._generic(args, "device_readstb")
        link = self._link(lid, session)
        if link is None:
            return pack(INVALID_LINK, 0)
        if self._locked_out(lid, flags, lock_timeout):
            return pack(DEVICE_LOCKED, 0)
        return pack(NO_ERROR, MAV if link.upstream.has_output() else 0)

    def _device_trigger(self, args: XdrReader, session: Session) -> bytes:
        return self._generic_action(args, session, "device_trigger", self._trigger)

    def _device_clear(self, args: XdrReader, session: Session) -> bytes:
        return self._generic_action(
            args, session, "device_clear", lambda link: link.upstream.clear()
        )

    def _device_remote_local(self, args: XdrReader, session: Session) -> bytes:
        return self._generic_action(args, session, "device_remote/local", lambda link: None)

    def _clear(self, link: Link) -> None:
        link.upstream.clear()

    def _trigger(self, link: Link) -> None:
        link.upstream.write(b"*TRG\n", True)

    def _generic_action(
        self, args: XdrReader, session: Session, what: str, action: Callable[[Link], None]
    ) -> bytes:
        lid, flags, lock_timeout = self._generic(args, what)
        link = self._link(lid, session)
        if link is None:
            return pack(INVALID_LINK)
        if self._locked_out(lid, flags, lock_timeout):
            return pack(DEVICE_LOCKED)
        try:
            action(link)
        except InstrumentGone:
            return pack(IO_ERROR)
        return pack(NO_ERROR)

    def _device_lock(self, args: XdrReader, session: Session) -> bytes:
        lid, flags, lock_timeout = args.sint("lid"), args.sint("flags"), args.uint("lock_timeout")
        args.done("device_lock")
        if self._link(lid, session) is None:
            return pack(INVALID_LINK)
        return pack(self._acquire(lid, lock_timeout if flags & WAITLOCK else 0))

    def _device_unlock(self, args: XdrReader, session: Session) -> bytes:
        lid = args.sint("lid")
        args.done("device_unlock")
        if self._link(lid, session) is None:
            return pack(INVALID_LINK)
        with self._lock:
            if self._holder != lid:
                return pack(NO_LOCK_HELD)
            self._holder = None
            self._lock.notify_all()
        return pack(NO_ERROR)

    def _device_enable_srq(self, args: XdrReader, session: Session) -> bytes:
        lid, enable = args.sint("lid"), args.flag("enable")
        args.opaque("handle", 40)
        args.done("device_enable_srq")
        if self._link(lid, session) is None:
            return pack(INVALID_LINK)
        return pack(CHANNEL_NOT_ESTABLISHED if enable else NO_ERROR)

    def _device_docmd(self, args: XdrReader, session: Session) -> bytes:
        return pack(OPERATION_NOT_SUPPORTED, b"")

    def _destroy_link(self, args: XdrReader, session: Session) -> bytes:
        lid = args.sint("lid")
        args.done("destroy_link")
        if self._link(lid, session) is None:
            return pack(INVALID_LINK)
        session.links.discard(lid)
        self._forget(lid)
        return pack(NO_ERROR)

    def _create_intr_chan(self, args: XdrReader, session: Session) -> bytes:
        return pack(OPERATION_NOT_SUPPORTED)  # no interrupt channel: no service requests

    def _destroy_intr_chan(self, args: XdrReader, session: Session) -> bytes:
        return pack(CHANNEL_NOT_ESTABLISHED)

    # -- links and the device lock -----------------------------------------------------------

    def _forget(self, lid: int) -> None:
        with self._lock:
            link = self._links.pop(lid, None)
            if self._holder == lid:
                self._holder = None
                self._lock.notify_all()
        if link is not None:
            link.upstream.close()

    def _acquire(self, lid: int, timeout_ms: int) -> int:
        """Take the device lock for `lid`, waiting up to `timeout_ms` for another link's."""
        with self._lock:
            self._lock.wait_for(
                lambda: self._holder in (None, lid) or self._stopping.is_set(), timeout_ms / 1e3
            )
            if self._holder not in (None, lid):
                return DEVICE_LOCKED
            self._holder = lid
        return NO_ERROR

    def _locked_out(self, lid: int, flags: int, lock_timeout: int) -> bool:
        """Whether another link holds the lock (after waiting `lock_timeout` ms with WAITLOCK)."""
        with self._lock:
            wait = lock_timeout / 1e3 if flags & WAITLOCK else 0.0
            self._lock.wait_for(
                lambda: self._holder in (None, lid) or self._stopping.is_set(), wait
            )
            return self._holder not in (None, lid)
