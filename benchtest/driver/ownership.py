"""One process owns an instrument at a time: an exclusive lock per instrument, naming its holder.

The lock is an OS file lock (`flock` on POSIX, `msvcrt.locking` on Windows) on a file in the
machine's lock folder (`lock_dir()`), so the OS releases it when the holder exits, even after
kill -9. The file is named after the instrument, not after how a bench file spells it
(`resource_key`): `TCPIP::h::INSTR`, `tcpip0::H::inst0::INSTR` and the same host by address
are one lock. The holder writes who it is into the lock file, which every user can read, so
a second process, of any user, gets an `InstrumentBusyError` naming the holder instead of
interleaving its commands with the owner's. The channel roles of one multi-channel instrument
share their process's lock (`ChannelClaim`). docs/configuration.md says what the lock promises.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import ipaddress
import json
import os
import platform
import re
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchtest.values.errors import InstrumentError

LOCK_DIR_ENV = "BENCHTEST_LOCK_DIR"
#: The machine's lock folders, first usable one wins (the same for every user and TMPDIR).
SYSTEM_LOCK_DIRS = (Path("/run/lock/benchtest"), Path("/var/lock/benchtest"))
#: Where locks go when no system lock folder can be used (not $TMPDIR: that differs per user).
FALLBACK_LOCK_DIR = Path("/tmp/benchtest-locks")
#: Seconds to wait for a host name to resolve; unresolved, the name itself is the key.
RESOLVE_TIMEOUT = 1.0
#: Seconds between two tries of a lock that is held, doubling from the first to the most: the
#: sites of a multi-site bench claim a shared instrument for every test, and the instrument
#: stands idle from its release until a waiting site's next try (a try costs a few us of CPU).
FIRST_POLL_PAUSE, MAX_POLL_PAUSE = 0.0005, 0.002
#: Windows locks one byte this far into the file, so the holder record before it stays readable.
_WINDOWS_LOCK_OFFSET = 1 << 20
_VISA = re.compile(r"(?i)^((tcpip|gpib|usb|asrl|vxi|pxi|gpib-vxi)\d*$|asrl/)")
_RESOURCE_CLASSES = {"INSTR", "SOCKET", "RAW", "INTFC", "BACKPLANE", "SERVANT", "MEMACC"}
# The usual forms of the usual VISA resources, read without PyVISA: a bench file is checked
# as it loads, and importing PyVISA would cost every run's start-up tens of ms, though a run
# may never open a VISA session. Each form is strict: it takes only text that PyVISA's parser
# reads into the same parts (tests/test_visa_resource_forms.py holds the two to that). Any
# other text, well formed or not, goes to PyVISA. A host or serial number is never a resource
# class: PyVISA reads a last part like `::INSTR` as the class.
_NOT_A_CLASS = rf"(?!(?:{'|'.join(_RESOURCE_CLASSES)})\Z)"
_HOST = rf"{_NOT_A_CLASS}[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?"
_USUAL_VISA_FORMS = {
    ("TCPIP", "SOCKET"): rf"tcpip(?P<board>\d*)::(?P<host_address>{_HOST})::(?P<port>\w+)::socket",
    ("TCPIP", "INSTR"): rf"tcpip(?P<board>\d*)::(?P<host_address>{_HOST})"
    r"(?:::(?P<lan_device_name>[a-z]+\d+(?:,\d+)?))?(?:::instr)?",
    ("GPIB", "INSTR"): r"gpib(?P<board>\d*)::(?P<primary_address>\d+)"
    r"(?:::(?P<secondary_address>\d+))?(?:::instr)?",
    ("USB", "INSTR"): r"usb(?P<board>\d*)::(?P<manufacturer_id>\w+)::(?P<model_code>\w+)::"
    rf"(?P<serial_number>{_NOT_A_CLASS}[\w.-]+)(?:::(?P<usb_interface_number>\d+))?(?:::instr)?",
    ("ASRL", "INSTR"): r"asrl(?=.)(?P<board>\d*|/[\w./+-]+)(?:::instr)?",
}
_USUAL_VISA = [
    (kind, resource_class, re.compile(form, re.IGNORECASE | re.ASCII))
    for (kind, resource_class), form in _USUAL_VISA_FORMS.items()
]
# The parts PyVISA fills in when a resource leaves them out.
_VISA_DEFAULTS = {"board": "0", "lan_device_name": "inst0", "usb_interface_number": "0"}
# A VISA resource read: its interface type (lower case), resource class and parts (by PyVISA's
# names; None: a part left out that has no default).
_VisaParts = tuple[str, str, dict[str, str | None]]


class InstrumentBusyError(InstrumentError):
    """Another process holds the instrument."""


def lock_dir() -> Path:
    """The folder of this machine's instrument locks.

    `BENCHTEST_LOCK_DIR` when set; else the first of `SYSTEM_LOCK_DIRS` this user can use
    (existing and writable, or creatable); else `FALLBACK_LOCK_DIR`. On Windows,
    `%PROGRAMDATA%\\benchtest\\locks`. Never the temp folder, which differs between users.
    """
    override = os.environ.get(LOCK_DIR_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "benchtest" / "locks"
    return next((folder for folder in SYSTEM_LOCK_DIRS if _usable(folder)), FALLBACK_LOCK_DIR)


def _usable(folder: Path) -> bool:
    target = folder if folder.is_dir() else folder.parent
    return target.is_dir() and os.access(target, os.W_OK | os.X_OK)


def resource_key(resource: str, *, resolve: bool = True) -> str:
    """The instrument `resource` reaches, written one way whatever way the bench file wrote it.

    VISA resources lose their board number where it does not pick the instrument (TCPIP, USB),
    get their default parts (`::INSTR`, `inst0`) and one case; a host name becomes its address
    (within RESOLVE_TIMEOUT; `resolve=False` keeps the name); a raw socket is the same as a
    `socket://` URL to it; a serial port is its device after symlinks (/dev/serial/by-id/...).
    Raises ValueError for a malformed VISA resource or port.
    """
    text = resource.strip()
    if text.lower().startswith("sim://"):
        return text.lower()
    if "::" in text or _VISA.match(text):
        return _visa_key(text, resolve)
    if "://" in text:
        return _url_key(text, resolve)
    return _serial_key(text)


def _visa_key(text: str, resolve: bool) -> str:
    kind, resource_class, fields = _usual_visa_parts(text) or _pyvisa_parts(text)
    if kind == "tcpip" and resource_class == "SOCKET":
        host = _host_key(str(fields["host_address"]), resolve)
        return f"tcp://{host}:{_port(fields['port'])}"
    if kind == "tcpip":
        device = str(fields["lan_device_name"]).lower().replace("hislip", "inst")
        return f"tcpip::{_host_key(str(fields['host_address']), resolve)}::{device}"
    if kind == "usb":
        ids = [_number(name, fields[name]) for name in ("manufacturer_id", "model_code")]
        rest = [str(fields[name]).lower() for name in ("serial_number", "usb_interface_number")]
        return "::".join(["usb", *(f"0x{n:04x}" for n in ids), *rest, resource_class.lower()])
    if kind == "asrl" and not str(fields["board"]).isdigit():
        return _serial_key(str(fields["board"]))
    values = [str(value).lower() for value in fields.values() if value is not None]
    return "::".join([kind + values[0], *values[1:], resource_class.lower()])


def _usual_visa_parts(text: str) -> _VisaParts | None:
    """The parts of a resource in one of the usual forms, as PyVISA reads them (defaults
    filled in); None for any other text."""
    for kind, resource_class, form in _USUAL_VISA:
        found = form.fullmatch(text)
        if found:
            fields = {
                name: value or _VISA_DEFAULTS.get(name) for name, value in found.groupdict().items()
            }
            return kind.lower(), resource_class, fields
    return None


def _pyvisa_parts(text: str) -> _VisaParts:
    """The parts of any VISA resource, as PyVISA's parser reads them; ValueError when it
    cannot."""
    from pyvisa import rname

    parts = text.split("::")
    if parts[-1].upper() in _RESOURCE_CLASSES:
        parts[-1] = parts[-1].upper()  # pyvisa reads the class in upper case only
    try:
        parsed: Any = rname.parse_resource_name("::".join(parts))
    except rname.InvalidResourceName as exc:
        raise ValueError(str(exc)) from None
    fields: dict[str, str | None] = {name: getattr(parsed, name) for name in parsed._fields}
    return f"{parsed.interface_type}".lower(), str(parsed.resource_class), fields


def _url_key(text: str, resolve: bool) -> str:
    url = urlsplit(text)
    scheme = url.scheme.lower()
    if scheme in ("socket", "rfc2217") and url.hostname:
        port = url.netloc.rpartition(":")[2] if ":" in url.netloc else None
        return f"tcp://{_host_key(url.hostname, resolve)}:{_port(port)}"
    if scheme == "spy" and url.path:
        return _serial_key(url.path)
    if scheme == "prologix":  # GPIB behind a Prologix adapter: ValueError when malformed
        from benchtest.driver.prologix import PrologixAddress

        address = PrologixAddress.parse(text)
        return f"prologix://{_host_key(address.host, resolve)}:{address.port}/{address.gpib}"
    return text.lower()


def _serial_key(text: str) -> str:
    windows_port = re.fullmatch(r"(?i)(?:\\\\\.\\)?(com\d+)", text)
    if windows_port:
        return f"serial:{windows_port.group(1).upper()}"
    return f"serial:{os.path.realpath(text) if os.path.isabs(text) else text}"


def _number(what: str, text: object) -> int:
    try:
        return int(str(text), 0)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None


def _port(value: object) -> int:
    if value is None:
        raise ValueError("no port given")
    port = _number("port", value)
    if not 0 < port < 65536:
        raise ValueError(f"port {value} is not between 1 and 65535")
    return port


def _host_key(host: str, resolve: bool) -> str:
    host = host.strip("[]").rstrip(".").lower()
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).compressed
    return _resolve(host) if resolve else host


@functools.cache
def _resolve(host: str) -> str:
    """`host`'s address (IPv4 first), or `host` when it does not resolve within the timeout.

    The resolver has no timeout of its own, so it runs in a daemon thread that is left
    behind if it hangs.
    """
    found: list[str] = []

    def lookup() -> None:
        with contextlib.suppress(OSError, UnicodeError):
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            found.extend(sorted({str(info[4][0]) for info in infos}, key=_ipv4_first))

    thread = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    thread.start()
    thread.join(RESOLVE_TIMEOUT)
    return found[0] if found else host


def _ipv4_first(address: str) -> tuple[int, str]:
    return (0 if ":" not in address else 1, address)


class ResourceLock:
    """The exclusive claim of this process on the instrument `resource` reaches.

    `plan` says what the holder is doing (a plan, `benchtest check`); by default its command
    line. Raises InstrumentError for a malformed resource.
    """

    def __init__(self, resource: str, *, role: str = "", plan: str = "") -> None:
        self.resource = resource
        self.role = role
        self.plan = plan or _command_line()
        try:
            self.key = resource_key(resource)
        except ValueError as exc:
            raise InstrumentError(
                f"{resource} is not a usable resource: {exc}", role=role
            ) from None
        digest = hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:24]
        self.path = lock_dir() / f"{digest}.lock"
        self._fd: int | None = None
        self._writable = True

    def acquire(self, wait: float = 0.0) -> ResourceLock:
        """Take the lock, waiting up to `wait` seconds for its holder to let go.

        Raises InstrumentBusyError naming the process that holds it when it stays taken.
        """
        fd = self._open()
        deadline = time.monotonic() + wait
        pause = FIRST_POLL_PAUSE
        while not _lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                waited = f" after waiting {wait:g} s" if wait else ""
                raise InstrumentBusyError(
                    f"{self.resource} is in use by {self.holder()}{waited}; "
                    "one process owns an instrument at a time",
                    role=self.role,
                )
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(2 * pause, MAX_POLL_PAUSE)
        if not self._writable:
            os.close(fd)
            fix = (  # Windows: files under ProgramData are writable by their creator only
                f'grant every user Modify on its folder: icacls "{self.path.parent}" '
                "/grant *S-1-5-32-545:(OI)(CI)M /T"
                if sys.platform == "win32"
                else "let its owner remove it, or make it mode 666"
            )
            raise InstrumentError(
                f"the lock file {self.path} of {self.resource} is not writable by {_user()}: {fix}",
                role=self.role,
            )
        self._fd = fd
        self._record(fd)
        return self

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)  # closing the file drops the OS lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """Who holds the lock, as its holder recorded it."""
        record: dict[str, Any] = {}
        for _ in range(3):  # the holder may be writing its record this very moment
            with contextlib.suppress(OSError, ValueError):
                record = json.loads(self.path.read_bytes())
                break
            time.sleep(0.05)
        if not isinstance(record, dict) or not record:
            return "another process"
        role = f" as role {record['role']!r}" if record.get("role") else ""
        return (
            f"process {record.get('pid')} of {record.get('user')}@{record.get('host')}{role} "
            f"since {record.get('since')} (running: {record.get('plan')})"
        )

    def _open(self) -> int:
        """The lock file, created readable and writable by every user (whatever the umask)."""
        folder = self.path.parent
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    folder.chmod(0o1777)  # every user may add locks, none remove another's
            try:
                return os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                pass
            except PermissionError:  # made by an older benchtest: enough to name its holder
                self._writable = False
                return os.open(self.path, os.O_RDONLY)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return os.open(self.path, os.O_RDWR)
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o666)
            return fd
        except OSError as exc:
            raise InstrumentError(
                f"cannot use the lock file {self.path} of {self.resource}: "
                f"{exc.strerror or exc}; set {LOCK_DIR_ENV} to a folder every user can write",
                role=self.role,
            ) from None

    def _record(self, fd: int) -> None:
        record = {
            "pid": os.getpid(),
            "host": platform.node(),
            "user": _user(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "plan": self.plan,
            "resource": self.resource,
            "key": self.key,
            "role": self.role,
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(record).encode("utf-8"))

    def __enter__(self) -> ResourceLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class ChannelClaim(ResourceLock):
    """One channel role's share of this process's claim on a multi-channel instrument.

    The roles that drive the channels of one instrument (both channels of a B2902A) share one
    `ResourceLock`: the first share acquired takes it (waiting up to `wait` s, as a
    ResourceLock does), the last released lets it go. Acquiring or releasing a share twice
    changes nothing. Another process still finds the instrument taken, naming the role that
    took it.
    """

    def __init__(self, resource: str, *, role: str = "", plan: str = "") -> None:
        super().__init__(resource, role=role, plan=plan)
        with _SHARED_CLAIMS_LOCK:
            self._shared = _SHARED_CLAIMS.setdefault(self.key, _SharedClaim())
        self._share = False

    def acquire(self, wait: float = 0.0) -> ChannelClaim:
        shared = self._shared
        with shared.mutex:
            if self._share:
                return self
            if shared.lock is None:
                lock = ResourceLock(self.resource, role=self.role, plan=self.plan)
                shared.lock = lock.acquire(wait)
            shared.users += 1
            self._share = True
        return self

    def release(self) -> None:
        shared = self._shared
        with shared.mutex:
            if not self._share:
                return
            self._share = False
            shared.users -= 1
            if shared.users == 0 and shared.lock is not None:
                shared.lock.release()
                shared.lock = None

    @property
    def held(self) -> bool:
        return self._share


class _SharedClaim:
    """The lock this process holds on one instrument for its channel roles, and how many hold
    a share of it."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.lock: ResourceLock | None = None
        self.users = 0


#: This process's claims on multi-channel instruments, by `resource_key`.
_SHARED_CLAIMS: dict[str, _SharedClaim] = {}
_SHARED_CLAIMS_LOCK = threading.Lock()


def _lock(fd: int) -> bool:
    """Try to take the OS lock on `fd` without waiting; True when taken."""
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    """Drop the OS lock before the file is closed. Windows releases the byte-range lock of a
    closed file only "when resources allow" (LockFileEx), so a process that claims the
    instrument right after would find it still taken; flock goes with the close."""
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _command_line() -> str:
    """What this process runs: `pytest test_plans/ldo --bench ...`, `benchtest check ...`; for
    `python -c` (a pytest-xdist worker, one site of a multi-site run) what started it."""
    argv = list(sys.argv)
    if not argv or argv[0] in ("", "-c"):
        with contextlib.suppress(OSError):
            parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
            argv = [part.decode("utf-8", errors="replace") for part in parent if part]
    program = Path(argv[0]) if argv and argv[0] else Path("python")
    name = program.parent.name if program.name == "__main__.py" else program.name
    return " ".join([name, *argv[1:]])[:300]


def _user() -> str:
    """The login name of this process's user (from its uid, not from $USER, which su keeps)."""
    with contextlib.suppress(ImportError, KeyError):
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "?"
