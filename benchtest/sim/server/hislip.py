"""A HiSLIP server for a simulated instrument (IVI-6.1, protocol version 1.0, synchronized mode).

A client opens a session with Initialize on its synchronous channel and AsyncInitialize on a
second connection, its asynchronous channel. Program messages arrive as Data/DataEND on the
synchronous channel and go to the instrument's raw socket (`Upstream`); its replies go back as
Data messages, the last piece of each response message as DataEND, each carrying the MessageID
of the client's most recent Data, DataEND or Trigger when the response began. The asynchronous
channel serves AsyncMaximumMessageSize, AsyncLock (exclusive and shared) and AsyncLockInfo,
AsyncRemoteLocalControl, AsyncStatusQuery (MAV while reply bytes wait) and the device clear
sequence (AsyncDeviceClear, then DeviceClearComplete on the synchronous channel). A message it
does not know gets Error; a header that is not HiSLIP, or a session used before both channels
are up, gets FatalError and the session is closed; other sessions go on.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from benchtest.sim.server.service import Service
from benchtest.sim.server.tcp import Connection, TcpServer
from benchtest.sim.server.upstream import POLL, InstrumentGone, Upstream

HEADER = struct.Struct("!2sBBIQ")
PROLOGUE = b"HS"
VERSION = 0x0100  # 1.0
VENDOR_ID = b"BT"
SUB_ADDRESS = "hislip0"
MAX_MESSAGE = 1 << 20  # bytes of one message (header included) this server accepts
DEFAULT_CLIENT_MAX = 1 << 20  # bytes the client takes per message until it says otherwise
NO_MESSAGE_ID = 0xFFFF_FFFF

# Message types (IVI-6.1 table 4)
INITIALIZE, INITIALIZE_RESPONSE, FATAL_ERROR, ERROR = 0, 1, 2, 3
ASYNC_LOCK, ASYNC_LOCK_RESPONSE, DATA, DATA_END = 4, 5, 6, 7
DEVICE_CLEAR_COMPLETE, DEVICE_CLEAR_ACKNOWLEDGE = 8, 9
ASYNC_REMOTE_LOCAL_CONTROL, ASYNC_REMOTE_LOCAL_RESPONSE, TRIGGER = 10, 11, 12
ASYNC_MAX_MSG_SIZE, ASYNC_MAX_MSG_SIZE_RESPONSE = 15, 16
ASYNC_INITIALIZE, ASYNC_INITIALIZE_RESPONSE, ASYNC_DEVICE_CLEAR = 17, 18, 19
ASYNC_STATUS_QUERY, ASYNC_STATUS_RESPONSE, ASYNC_DEVICE_CLEAR_ACKNOWLEDGE = 21, 22, 23
ASYNC_LOCK_INFO, ASYNC_LOCK_INFO_RESPONSE = 24, 25
VENDOR_SPECIFIC = 128

# FatalError and Error codes
FATAL_UNIDENTIFIED, FATAL_BAD_HEADER, FATAL_CHANNELS, FATAL_BAD_INIT = 0, 1, 2, 3
ERROR_UNIDENTIFIED, ERROR_MESSAGE_TYPE, ERROR_CONTROL_CODE = 0, 1, 2
ERROR_VENDOR_MESSAGE, ERROR_TOO_LARGE = 3, 4

LOCK_RELEASE, LOCK_REQUEST = 0, 1
LOCK_FAILURE, LOCK_SUCCESS, LOCK_SHARED_RELEASED, LOCK_ERROR = 0, 1, 2, 3
REMOTE_LOCAL_CODES = range(7)
MAV = 0x10


class FatalProtocolError(Exception):
    """The client broke the protocol beyond recovery: FatalError `code`, then close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Message:
    """One HiSLIP message; `payload` None when it was longer than the server takes."""

    kind: int
    control: int
    parameter: int
    payload: bytes | None
    length: int


def encode(kind: int, control: int = 0, parameter: int = 0, payload: bytes = b"") -> bytes:
    return HEADER.pack(PROLOGUE, kind, control, parameter, len(payload)) + payload


def header(kind: int, control: int, parameter: int, length: int) -> bytes:
    return HEADER.pack(PROLOGUE, kind, control, parameter, length)


class MessageReader:
    """Messages out of a byte stream; a payload over `max_payload` bytes is skipped as it
    arrives and reported with `payload` None."""

    def __init__(self, max_payload: int) -> None:
        self._max = max_payload
        self._buffer = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> Iterator[Message]:
        self._buffer += data
        while True:
            if self._skip:
                step = min(self._skip, len(self._buffer))
                del self._buffer[:step]
                self._skip -= step
                if self._skip:
                    return
            if len(self._buffer) < HEADER.size:
                return
            prologue, kind, control, parameter, length = HEADER.unpack_from(self._buffer)
            if prologue != PROLOGUE:
                raise FatalProtocolError(
                    FATAL_BAD_HEADER,
                    f"poorly formed message header: prologue {bytes(prologue)!r}, expected 'HS'",
                )
            if length > self._max:
                del self._buffer[: HEADER.size]
                self._skip = length
                yield Message(kind, control, parameter, None, length)
                continue
            if len(self._buffer) < HEADER.size + length:
                return
            payload = bytes(self._buffer[HEADER.size : HEADER.size + length])
            del self._buffer[: HEADER.size + length]
            yield Message(kind, control, parameter, payload, length)


@dataclass(eq=False)
class Session:
    """One client: its two channels, its line to the instrument and its protocol state."""

    session_id: int
    sync: Connection
    upstream: Upstream
    asynchronous: Connection | None = None
    client_max: int = DEFAULT_CLIENT_MAX
    last_id: int = NO_MESSAGE_ID  # MessageID of the client's latest Data, DataEND, Trigger
    clearing: bool = False  # between AsyncDeviceClear and DeviceClearComplete
    reply_id: int | None = None  # MessageID of the response being sent (None: between two)
    closed: threading.Event = field(default_factory=threading.Event)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    pump_lock: threading.Lock = field(default_factory=threading.Lock)
    shared_key: str | None = None  # the shared lock this session holds

    def send_sync(self, data: bytes, payload: bytes = b"") -> None:
        """Send a message (its header, and its payload apart: no copy of a large one)."""
        with self.send_lock:
            self.sync.send(data)
            if payload:
                self.sync.send(payload)

    def close(self) -> None:
        self.closed.set()
        self.sync.close()
        if self.asynchronous is not None:
            self.asynchronous.close()


class HislipServer(Service):
    """Serve the instrument whose raw socket `endpoint()` returns, over HiSLIP on
    `127.0.0.1:<port>` (`address`: `TCPIP::127.0.0.1::hislip0,<port>::INSTR`)."""

    def __init__(
        self, endpoint: Callable[[], tuple[str, int]], *, host: str = "127.0.0.1", name: str = ""
    ) -> None:
        self._endpoint = endpoint
        self._host = host
        self._stopping = threading.Event()
        self._tcp = TcpServer(self._serve, host=host, name=name or "hislip")
        self._lock = threading.Condition()
        self._sessions: dict[int, Session] = {}
        self._next_id = 0
        self._exclusive: Session | None = None

    @property
    def port(self) -> int:
        return self._tcp.port

    @property
    def address(self) -> str:
        return f"TCPIP::{self._host}::{SUB_ADDRESS},{self.port}::INSTR"

    def start(self) -> None:
        self._stopping.clear()
        self._tcp.start()

    def stop(self) -> None:
        """Close every session and join every thread."""
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        self._tcp.stop()

    # -- connections -------------------------------------------------------------------------

    def _serve(self, connection: Connection) -> None:
        reader = MessageReader(MAX_MESSAGE - HEADER.size)
        messages = self._messages(connection, reader)
        session: Session | None = None
        try:
            first = next(messages, None)
            if first is None:
                return
            if first.kind == INITIALIZE:
                session = self._initialize(connection, first)
                self._serve_sync(session, messages)
            elif first.kind == ASYNC_INITIALIZE:
                session = self._async_initialize(connection, first)
                self._serve_async(session, messages)
            else:
                raise FatalProtocolError(
                    FATAL_BAD_INIT,
                    f"message type {first.kind} before Initialize or AsyncInitialize",
                )
        except FatalProtocolError as error:
            connection.send(encode(FATAL_ERROR, error.code, 0, str(error).encode()))
        finally:
            if session is not None:
                self._end(session)

    def _messages(self, connection: Connection, reader: MessageReader) -> Iterator[Message]:
        for chunk in connection.chunks():
            yield from reader.feed(chunk)

    def _initialize(self, connection: Connection, message: Message) -> Session:
        sub_address = (message.payload or b"").decode("ascii", "replace")
        if sub_address.lower() != SUB_ADDRESS:
            raise FatalProtocolError(
                FATAL_BAD_INIT, f"unknown sub-address {sub_address!r}; this server has hislip0"
            )
        host, port = self._endpoint()
        with self._lock:
            self._next_id = self._next_id % 0xFFFF + 1
            session = Session(self._next_id, connection, Upstream(host, port, self._stopping))
            self._sessions[session.session_id] = session
        connection.send(encode(INITIALIZE_RESPONSE, 0, VERSION << 16 | session.session_id))
        return session

    def _async_initialize(self, connection: Connection, message: Message) -> Session:
        with self._lock:
            session = self._sessions.get(message.parameter & 0xFFFF)
            if session is None or session.asynchronous is not None:
                raise FatalProtocolError(
                    FATAL_BAD_INIT,
                    f"AsyncInitialize for session {message.parameter}, which has no "
                    "synchronous channel waiting",
                )
            session.asynchronous = connection
        vendor = int.from_bytes(VENDOR_ID)
        connection.send(encode(ASYNC_INITIALIZE_RESPONSE, 0, vendor))
        return session

    def _end(self, session: Session) -> None:
        """A channel closed: the session is over (both channels, its line, its locks)."""
        session.close()
        with self._lock:
            self._sessions.pop(session.session_id, None)
            if self._exclusive is session:
                self._exclusive = None
            session.shared_key = None
            self._lock.notify_all()

    # -- synchronous channel -----------------------------------------------------------------

    def _serve_sync(self, session: Session, messages: Iterator[Message]) -> None:
        pump = threading.Thread(target=self._pump, args=(session,), name="hislip-pump")
        pump.start()
        try:
            for message in messages:
                if session.closed.is_set():
                    return
                self._sync_message(session, message)
        finally:
            session.closed.set()
            pump.join()
            session.upstream.close()

    def _sync_message(self, session: Session, message: Message) -> None:
        if message.kind in (DATA, DATA_END, TRIGGER):
            if session.asynchronous is None:
                raise FatalProtocolError(
                    FATAL_CHANNELS, "Data before the asynchronous channel was initialized"
                )
            if message.payload is None:
                self._error(session, ERROR_TOO_LARGE, f"{message.length}-byte message")
                return
            if session.clearing:
                return  # a device clear is under way: the client's messages are dropped
            self._wait_for_lock(session)
            session.last_id = message.parameter
            data = b"*TRG\n" if message.kind == TRIGGER else message.payload
            try:
                session.upstream.write(data, message.kind != DATA)
            except InstrumentGone:
                session.close()  # the instrument dropped the connection: so does the server
        elif message.kind == DEVICE_CLEAR_COMPLETE:
            with session.pump_lock, session.send_lock:
                session.upstream.clear()
                session.clearing, session.last_id = False, NO_MESSAGE_ID
                session.reply_id = None
                session.sync.send(encode(DEVICE_CLEAR_ACKNOWLEDGE, 0))
        elif message.kind == FATAL_ERROR:
            session.close()
        elif message.kind != ERROR:
            self._unrecognized(session, message, session.send_sync)

    def _pump(self, session: Session) -> None:
        """Send the instrument's replies to the client as they arrive."""
        while not session.closed.is_set():
            with session.pump_lock:
                if not session.clearing:
                    try:
                        session.upstream.receive(POLL)
                    except InstrumentGone:
                        if not self._stopping.is_set() and not session.closed.is_set():
                            session.close()  # the instrument dropped the connection
                        return
                    framer = session.upstream.framer
                    while len(framer) and not session.clearing:
                        if session.reply_id is None:
                            session.reply_id = session.last_id
                        reply_id = session.reply_id
                        data, ended, _ = framer.take(session.client_max - HEADER.size)
                        kind = DATA_END if ended else DATA
                        session.send_sync(header(kind, 0, reply_id, len(data)), data)
                        if ended:
                            session.reply_id = None
                    continue
            session.closed.wait(POLL)

    def _wait_for_lock(self, session: Session) -> None:
        """Hold the client's messages while another session holds the exclusive lock."""
        with self._lock:
            self._lock.wait_for(
                lambda: (
                    self._exclusive in (None, session)
                    or self._stopping.is_set()
                    or session.closed.is_set()
                )
            )

    # -- asynchronous channel ----------------------------------------------------------------

    def _serve_async(self, session: Session, messages: Iterator[Message]) -> None:
        for message in messages:
            if session.closed.is_set():
                return
            assert session.asynchronous is not None
            send = session.asynchronous.send
            if message.payload is None:
                self._error_on(send, ERROR_TOO_LARGE, f"{message.length}-byte message")
            elif message.kind == ASYNC_MAX_MSG_SIZE:
                self._max_message_size(session, message, send)
            elif message.kind == ASYNC_LOCK:
                send(encode(ASYNC_LOCK_RESPONSE, self._async_lock(session, message)))
            elif message.kind == ASYNC_LOCK_INFO:
                with self._lock:
                    holders = sum(
                        1 for s in self._sessions.values() if s is self._exclusive or s.shared_key
                    )
                    exclusive = int(self._exclusive is not None)
                send(encode(ASYNC_LOCK_INFO_RESPONSE, exclusive, holders))
            elif message.kind == ASYNC_REMOTE_LOCAL_CONTROL:
                if message.control in REMOTE_LOCAL_CODES:
                    send(encode(ASYNC_REMOTE_LOCAL_RESPONSE))
                else:
                    self._error_on(
                        send, ERROR_CONTROL_CODE, f"remote/local control code {message.control}"
                    )
            elif message.kind == ASYNC_STATUS_QUERY:
                waiting = len(session.upstream.framer) > 0
                send(encode(ASYNC_STATUS_RESPONSE, MAV if waiting else 0))
            elif message.kind == ASYNC_DEVICE_CLEAR:
                session.clearing = True
                send(encode(ASYNC_DEVICE_CLEAR_ACKNOWLEDGE, 0))
            elif message.kind == FATAL_ERROR:
                return
            elif message.kind != ERROR:
                self._unrecognized(session, message, send)

    def _max_message_size(
        self, session: Session, message: Message, send: Callable[[bytes], None]
    ) -> None:
        payload = message.payload or b""
        size = int.from_bytes(payload) if len(payload) == 8 else 0
        if size <= HEADER.size:
            self._error_on(
                send,
                ERROR_UNIDENTIFIED,
                f"AsyncMaximumMessageSize {payload!r}: expected 8 bytes"
                f" holding a size over {HEADER.size}",
            )
            return
        session.client_max = min(size, 1 << 40)
        send(encode(ASYNC_MAX_MSG_SIZE_RESPONSE, 0, 0, MAX_MESSAGE.to_bytes(8)))

    def _async_lock(self, session: Session, message: Message) -> int:
        """Grant or release a lock; the AsyncLockResponse control code."""
        key = (message.payload or b"").decode("ascii", "replace")
        with self._lock:
            if message.control == LOCK_RELEASE:
                if self._exclusive is session:
                    self._exclusive = None
                    self._lock.notify_all()
                    return LOCK_SUCCESS
                if session.shared_key is not None:
                    session.shared_key = None
                    self._lock.notify_all()
                    return LOCK_SHARED_RELEASED
                return LOCK_ERROR
            if message.control != LOCK_REQUEST:
                return LOCK_ERROR
            if self._exclusive is session or (key and session.shared_key is not None):
                return LOCK_ERROR  # it holds that kind of lock already
            granted = self._lock.wait_for(
                lambda: self._may_lock(session, key) or self._stopping.is_set(),
                message.parameter / 1000.0,
            )
            if not granted or not self._may_lock(session, key):
                return LOCK_FAILURE
            if key:
                session.shared_key = key
            else:
                self._exclusive = session
            return LOCK_SUCCESS

    def _may_lock(self, session: Session, key: str) -> bool:
        """Whether `session` may take the exclusive lock (`key` empty) or the shared lock `key`."""
        others = [s for s in self._sessions.values() if s is not session]
        if self._exclusive not in (None, session):
            return False
        if not key:
            return not any(s.shared_key for s in others)
        return all(s.shared_key in (None, key) for s in others)

    # -- errors ------------------------------------------------------------------------------

    def _unrecognized(
        self, session: Session, message: Message, send: Callable[[bytes], None]
    ) -> None:
        if message.kind >= VENDOR_SPECIFIC:
            self._error_on(send, ERROR_VENDOR_MESSAGE, f"vendor message type {message.kind}")
        else:
            self._error_on(
                send, ERROR_MESSAGE_TYPE, f"message type {message.kind} is not served here"
            )

    def _error(self, session: Session, code: int, text: str) -> None:
        self._error_on(session.send_sync, code, text)

    @staticmethod
    def _error_on(send: Callable[[bytes], None], code: int, text: str) -> None:
        send(encode(ERROR, code, 0, text.encode()))
