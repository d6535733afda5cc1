"""What is on the bench: `scan` lists reachable instruments and ports, `check` tries a bench file.

`scan` lists the USB and GPIB instruments pyvisa-py finds and asks each for `*IDN?`; LAN
discovery (VXI-11 broadcast, mDNS) only when asked, since it sends to the whole network, and
explicit `host:port` raw sockets. Serial ports are listed without being written to (an
unknown serial device may not like it). `check` validates a bench file and talks to every
instrument in it through its driver. Both take each instrument's lock first: an instrument
another process holds is reported with its holder and is not sent a single byte.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.driver.ownership import ResourceLock
from benchtest.driver.registry import driver_class, open_instrument
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


def scan(
    *,
    identify: bool = True,
    timeout: float = 1.0,
    lan: bool = False,
    sockets: Sequence[str] = (),
) -> list[Found]:
    """Instruments and serial ports on this machine; `*IDN?` of each unless `identify` is off.

    `lan` adds VXI-11/HiSLIP discovery on the network; `sockets` ("host:port") are raw SCPI
    sockets to try, e.g. an instrument at a known address or a simulator.
    """
    interfaces = {"USB", "GPIB", *(["TCPIP"] if lan else [])}
    names = [*_visa_resource_names(interfaces)]
    names += [f"TCPIP::{host}::{port}::SOCKET" for host, port in map(_host_port, sockets)]
    found: list[Found] = []
    if names:
        import pyvisa

        manager = pyvisa.ResourceManager("@py")
        try:
            for name in names:
                found.append(
                    _identify_visa(manager, name, timeout) if identify else Found("visa", name)
                )
        finally:
            manager.close()
    return [*found, *_serial_ports()]


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
) -> tuple[Bench, list[RoleCheck]]:
    """Validate the bench file, then open each role's driver and ask for its identity.

    Instruments are only identified and closed: no output is switched, nothing is sourced.
    An instrument another process holds (a running plan) is reported with its holder and is
    not opened. Raises ConfigError for an invalid bench file or DUT profile, before any
    instrument is touched.
    """
    bench = Bench.load(bench_path)
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
