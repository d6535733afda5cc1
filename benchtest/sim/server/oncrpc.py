"""ONC RPC version 2 over TCP for the simulated VXI-11 servers (RFC 5531, XDR per RFC 4506).

`RecordReader` reassembles record-marked fragments from a byte stream; `Call` decodes a call
header and `XdrReader` its arguments; `accepted` and `denied` build the replies. Anything that
does not decode raises `RpcFormatError` with what was wrong and where, so the server can answer
GARBAGE_ARGS (or drop a stream it can no longer follow) and go on serving its other clients.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

RPC_VERSION = 2
CALL, REPLY = 0, 1
MSG_ACCEPTED, MSG_DENIED = 0, 1
SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS = 0, 1, 2, 3, 4
RPC_MISMATCH = 0
MAX_AUTH_BODY = 400  # bytes (RFC 5531)
LAST_FRAGMENT = 0x8000_0000
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")


class RpcFormatError(ValueError):
    """Bytes that are not a well-formed RPC record or call."""


class RecordReader:
    """Whole records out of a TCP stream; a fragment or record over `max_record` bytes is an
    RpcFormatError (the stream cannot be followed past it)."""

    def __init__(self, max_record: int) -> None:
        self._max = max_record
        self._pending = bytearray()
        self._record = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The records completed by `data`, in order."""
        self._pending += data
        while len(self._pending) >= 4:
            (mark,) = _U32.unpack_from(self._pending)
            size = mark & ~LAST_FRAGMENT
            if len(self._record) + size > self._max:
                raise RpcFormatError(
                    f"record fragment of {size} bytes: a record holds at most {self._max}"
                )
            if len(self._pending) < 4 + size:
                return
            self._record += self._pending[4 : 4 + size]
            del self._pending[: 4 + size]
            if mark & LAST_FRAGMENT:
                record, self._record = bytes(self._record), bytearray()
                yield record


def record(payload: bytes) -> bytes:
    """`payload` as one last fragment."""
    return _U32.pack(LAST_FRAGMENT | len(payload)) + payload


@dataclass(frozen=True)
class Opaque:
    """A reply body whose last field is a variable-length opaque: `head` (the fields before
    it) and `data`, kept apart so that a large one is sent without being copied."""

    head: bytes
    data: bytes

    def parts(self) -> list[bytes]:
        """The record of a reply whose body this is: its fragment mark and the reply, `data`
        as a part of its own."""
        head = self.head + _U32.pack(len(self.data))
        padding = bytes(-len(self.data) % 4)
        mark = _U32.pack(LAST_FRAGMENT | (len(head) + len(self.data) + len(padding)))
        return [mark + head, self.data, padding]


class XdrReader:
    """XDR decoding of `data` with bounds checks."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self._data = memoryview(data)
        self.offset = offset

    def _take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if end > len(self._data):
            raise RpcFormatError(
                f"{what}: needs {size} bytes at offset {self.offset}, "
                f"the call has {len(self._data)}"
            )
        view = self._data[self.offset : end]
        self.offset = end
        return view

    def uint(self, what: str = "unsigned int") -> int:
        return int(_U32.unpack(self._take(4, what))[0])

    def sint(self, what: str = "int") -> int:
        return int(_I32.unpack(self._take(4, what))[0])

    def flag(self, what: str = "bool") -> bool:
        value = self.uint(what)
        if value > 1:
            raise RpcFormatError(f"{what}: {value} is not an XDR bool (0 or 1)")
        return value == 1

    def opaque(self, what: str = "opaque", limit: int | None = None) -> bytes:
        size = self.uint(f"length of {what}")
        if limit is not None and size > limit:
            raise RpcFormatError(f"{what}: {size} bytes, at most {limit} allowed")
        data = bytes(self._take(size, what))
        self._take(-size % 4, f"padding of {what}")
        return data

    def done(self, what: str) -> None:
        if self.offset != len(self._data):
            raise RpcFormatError(
                f"{what}: {len(self._data) - self.offset} bytes left over after the arguments"
            )


def pack(*fields: int | bool | bytes) -> bytes:
    """XDR of unsigned ints, bools and variable-length opaques, in order (negative: int)."""
    parts: list[bytes] = []
    for field in fields:
        if isinstance(field, bytes):
            parts += [_U32.pack(len(field)), field, bytes(-len(field) % 4)]
        elif field < 0:
            parts.append(_I32.pack(field))
        else:
            parts.append(_U32.pack(int(field)))
    return b"".join(parts)


@dataclass(frozen=True)
class Call:
    """An RPC call header; `args` reads the procedure's arguments."""

    xid: int
    program: int
    version: int
    procedure: int
    args: XdrReader

    @classmethod
    def decode(cls, data: bytes) -> Call | int:
        """The call in `data`, or its xid when its RPC version is not 2 (answer RPC_MISMATCH).

        Raises RpcFormatError for anything that is not a decodable call."""
        reader = XdrReader(data)
        xid = reader.uint("xid")
        kind = reader.uint("message type")
        if kind != CALL:
            raise RpcFormatError(f"message type {kind}: a server takes calls ({CALL}) only")
        if reader.uint("RPC version") != RPC_VERSION:
            return xid
        program, version, procedure = (reader.uint(w) for w in ("program", "version", "proc"))
        for what in ("credential", "verifier"):
            reader.uint(f"{what} flavor")
            reader.opaque(f"{what} body", MAX_AUTH_BODY)
        return cls(xid, program, version, procedure, reader)


def accepted(xid: int, status: int = SUCCESS, body: bytes = b"") -> bytes:
    """An accepted reply (AUTH_NONE verifier) with `status` and `body` after it."""
    return pack(xid, REPLY, MSG_ACCEPTED, 0, b"", status) + body


def denied_version(xid: int) -> bytes:
    """A denied reply: RPC_MISMATCH, version 2 only."""
    return pack(xid, REPLY, MSG_DENIED, RPC_MISMATCH, RPC_VERSION, RPC_VERSION)
