"""What is on the bench: `scan` lists reachable instruments and ports, `check` tries a bench file.

`scan` lists the USB and GPIB instruments pyvisa-py finds and asks each for `*IDN?`; LAN
discovery (VXI-11 broadcast, mDNS) only when asked, since it sends to the whole network, and
explicit `host:port` raw sockets. Serial ports are listed without being written to (an
unknown serial device may not like it). It also says which interfaces it could search, and
what would let it search the others (`interfaces`). `check` validates a bench file and talks
to every instrument in it through its driver. Both take each instrument's lock first: an instrument
another process holds is reported with its holder and is not sent a single byte.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchtest.cli.interfaces import InterfaceStatus, pyvisa_py_statuses, vendor_statuses
from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.driver.ownership import ResourceLock
from benchtest.driver.registry import driver_class, open_instrument
from benchtest.driver.visa_library import parse_visa_library, resource_manager
from benchtest.values.errors import BenchtestError
from benchtest.values.ratings import NO_GUARD


class SocketAddressError(BenchtestError, ValueError):
    """A raw socket to scan that is not HOST:PORT."""


@dataclass(frozen=True)
class Found:
    """One resource `scan` found, with what it said it is (or why it said nothing)."""

    kind: str  # "visa" or "serial"
    resource: str
    identity: str = ""
    problem: str = ""


@dataclass(frozen=True)
class ScanReport:
    """What `scan` found, and which interfaces it could search (and why not the others)."""

    found: list[Found]
    interfaces: list[InterfaceStatus]

    def to_dict(self) -> dict[str, object]:
        return {
            "found": [asdict(item) for item in self.found],
            "interfaces": [status.to_dict() for status in self.interfaces],
        }


def scan(
    *,
    identify: bool = True,
    timeout: float = 1.0,
    lan: bool = False,
    sockets: Sequence[str] = (),
    visa_library: str | None = None,
) -> list[Found]:
    """Instruments and serial ports on this machine; `*IDN?` of each unless `identify` is off.

    `lan` adds VXI-11/HiSLIP discovery on the network; `sockets` ("host:port") are raw SCPI
    sockets to try, e.g. an instrument at a known address or a simulator. `visa_library` is
    the VISA library to search with (`--visa-library`; pyvisa-py when None).
    """
    return scan_report(
        identify=identify, timeout=timeout, lan=lan, sockets=sockets, visa_library=visa_library
    ).found


def scan_report(
    *,
    identify: bool = True,
    timeout: float = 1.0,
    lan: bool = False,
    sockets: Sequence[str] = (),
    visa_library: str | None = None,
) -> ScanReport:
    """`scan`, with a status per interface: searched how, or why not and what would enable it
    (for pyvisa-py; another VISA library searched what it supports)."""
    addresses = [_host_port(text) for text in sockets]
    # A library that is missing or will not load: a VisaLibraryError naming --visa-library.
    # The process's ResourceManager of that library, shared with every other user of it: it
    # stays open (closing it would close their resources too); each resource scanned is closed.
    manager = resource_manager(parse_visa_library(visa_library or "@py", field="--visa-library"))
    ports = [*_serial_ports()]
    if _is_pyvisa_py(manager):
        interfaces = pyvisa_py_statuses(lan=lan, ports=len(ports))
        names = _visa_resource_names({"USB", "GPIB", *(["TCPIP"] if lan else [])})
    else:
        interfaces = vendor_statuses(_library_name(manager), lan=lan, ports=len(ports))
        names = _vendor_resource_names(manager, lan)
    names += [f"TCPIP::{host}::{port}::SOCKET" for host, port in addresses]
    found = [
        _identify_visa(manager, name, timeout) if identify else Found("visa", name)
        for name in names
    ]
    return ScanReport([*found, *ports], interfaces)


def _is_pyvisa_py(manager: Any) -> bool:
    return type(manager.visalib).__module__.split(".", 1)[0] == "pyvisa_py"


def _library_name(manager: Any) -> str:
    """The VISA library's file (`/usr/lib/libvisa.so`), or its backend package (`pyvisa_sim`)."""
    path = str(getattr(manager.visalib, "library_path", "") or "")
    return path if path not in ("", "unset") else type(manager.visalib).__module__.split(".")[0]


def _vendor_resource_names(manager: Any, lan: bool) -> list[str]:
    """What a vendor VISA library lists (serial ports aside: pyserial lists those); its TCPIP
    resources only with `lan`, as for pyvisa-py."""
    try:
        names = list(manager.list_resources("?*::INSTR"))
    except Exception:  # nothing found is an error in some VISA libraries
        return []
    return [
        name
        for name in names
        if not name.upper().startswith("ASRL") and (lan or not name.upper().startswith("TCPIP"))
    ]


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SocketAddressError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _visa_resource_names(interfaces: set[str]) -> list[str]:
    """Resources of the chosen pyvisa-py interfaces only.

    pyvisa-py's own `list_resources` always runs every discovery, LAN broadcast included,
    so the session classes are asked one by one.
    """
    from pyvisa_py.sessions import Session

    names: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyvisa-py warns about optional discovery packages
        for (interface, resource_class), session in Session.iter_valid_session_classes():
            if interface.name.upper() in interfaces and resource_class == "INSTR":
                with contextlib.suppress(Exception):  # a bus without a driver is not an error
                    names += session.list_resources()
    return names


def _identify_visa(manager: object, name: str, timeout: float) -> Found:
    try:
        with ResourceLock(name, plan="benchtest scan"):
            return _ask_identity(manager, name, timeout)
    except BenchtestError as exc:  # held by another process: left alone
        return Found("visa", name, problem=str(exc))


def _ask_identity(manager: object, name: str, timeout: float) -> Found:
    try:
        resource = manager.open_resource(name, open_timeout=int(timeout * 1000))  # type: ignore[attr-defined]
    except Exception as exc:  # any backend error means "could not open", and says why
        return Found("visa", name, problem=f"cannot open: {exc}")
    try:
        resource.timeout = int(timeout * 1000)
        resource.read_termination = resource.write_termination = "\n"
        return Found("visa", name, identity=str(resource.query("*IDN?")).strip())
    except Exception as exc:  # a silent or confused instrument is reported, not fatal
        return Found("visa", name, problem=f"no answer to *IDN?: {exc}")
    finally:
        with contextlib.suppress(Exception):
            resource.close()


def _serial_ports() -> Iterator[Found]:
    from serial.tools import list_ports

    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        described = ", ".join(x for x in (port.description, port.hwid) if x and x != "n/a")
        yield Found("serial", port.device, identity=described)


@dataclass(frozen=True)
class RoleCheck:
    """The outcome of talking to one role of a bench."""

    role: str
    driver: str
    resource: str
    identity: str = ""
    problem: str = ""
    warning: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def check_bench(
    bench_path: str | os.PathLike[str],
    dut_path: str | os.PathLike[str] | None = None,
    *,
    today: dt.date | None = None,
    visa_library: str | None = None,
) -> tuple[Bench, list[RoleCheck]]:
    """Validate the bench file, then open each role's driver and ask for its identity.

    Instruments are only identified and closed: no output is switched, nothing is sourced.
    An instrument another process holds (a running plan) is reported with its holder and is
    not opened. Raises ConfigError for an invalid bench file or DUT profile, before any
    instrument is touched.
    """
    bench = Bench.load(bench_path)
    if visa_library:  # --visa-library: instead of the bench file's
        bench = bench.with_visa_library(visa_library)
    dut = DutProfile.load(dut_path) if dut_path else None
    today = today or dt.date.today()
    results = []
    for role, cfg in bench.roles.items():
        warning = ""
        if cfg.calibration_due and dt.date.fromisoformat(cfg.calibration_due) < today:
            warning = f"calibration was due on {cfg.calibration_due}"
            if bench.strict:  # a strict bench would refuse it: not fit for its runs
                problem = f"{warning}; the bench is strict and uses no such instrument"
                results.append(RoleCheck(role, cfg.driver, cfg.resource, problem=problem))
                continue
        if cfg.simulated:
            problem = (
                "served by the simulated bench: check it with --sim (benchtest check BENCH --sim)"
            )
            results.append(RoleCheck(role, cfg.driver, cfg.resource, problem=problem))
            continue
        try:
            cls = driver_class(cfg.driver)
            options = {**(cls.profile_options(dut.data) if dut else {}), **cfg.options}
            guard = dut.guard_for(role) if dut else NO_GUARD
            instrument = open_instrument(
                cfg.driver, cfg.resource, role=role, guard=guard, plan="benchtest check", **options
            )
            try:
                identity = str(instrument.identify())
            finally:
                instrument.close()
        except Exception as exc:  # reported per role: one bad instrument must not hide the rest
            problem = (
                str(exc) if isinstance(exc, BenchtestError) else f"{type(exc).__name__}: {exc}"
            )
            results.append(
                RoleCheck(role, cfg.driver, cfg.resource, problem=problem, warning=warning)
            )
        else:
            results.append(RoleCheck(role, cfg.driver, cfg.resource, identity, warning=warning))
    return bench, results
