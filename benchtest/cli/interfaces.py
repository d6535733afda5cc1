"""Which interfaces `benchtest scan` could search, and what would let it search the others.

pyvisa-py reports for each interface whether its session class loaded and, if not, why
(`PyVisaLibrary.get_debug_info()`: "Available via PyUSB (1.2.1). Backend: libusb1", or the
import problem). This module turns that into one line per interface and the step that enables
it: the extra to install, the GPIB library to add, the udev rule that lets this user open a
USB-TMC instrument. On Linux the USB-TMC instruments are read from sysfs, so one this user may
not open is named even though pyvisa-py skips it without a word.
"""

from __future__ import annotations

import getpass
import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

USB_EXTRA = "pip install 'benchtest[usb]'"
GPIB_EXTRA = "pip install 'benchtest[gpib]'"
LAN_EXTRA = "pip install 'benchtest[lan]'"
SYSFS_USB = Path("/sys/bus/usb/devices")
DEV_USB = Path("/dev/bus/usb")
#: USB-TMC: interface class 0xFE (application specific), subclass 0x03 (test and measurement).
USBTMC_CLASS, USBTMC_SUBCLASS = "fe", "03"
#: The udev rule file benchtest ships: every USB-TMC instrument for the plugdev group.
RULES_FILE = Path(__file__).resolve().parents[1] / "config" / "udev" / "99-benchtest-usbtmc.rules"

DebugInfo = Mapping[str, object]


@dataclass(frozen=True)
class InterfaceStatus:
    """Whether `scan` searched one interface; `detail` says how or why not, `advice` what to do."""

    name: str  # "USB", "GPIB", "TCPIP" or "serial"
    searched: bool
    detail: str
    advice: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """The status as terminal lines: `USB    searched via ...`, then indented advice."""
        if self.searched:
            return [
                f"{self.name:<6} searched: {self.detail}",
                *(f"       {a}" for a in self.advice),
            ]
        first, *rest = (*self.advice, "")  # what enables it, on the same line
        head = f"{self.name:<6} not searched: {self.detail}" + (f"; {first}" if first else "")
        return [head, *(f"       {a}" for a in rest if a)]

    def to_dict(self) -> dict[str, object]:
        return {
            "interface": self.name,
            "searched": self.searched,
            "detail": self.detail,
            "advice": list(self.advice),
        }


@dataclass(frozen=True)
class UsbTmcDevice:
    """A connected USB-TMC instrument as the kernel lists it (sysfs), before anyone opens it."""

    vendor: str  # "1ab1": four hex digits, as udev and lsusb write them
    product: str
    name: str  # manufacturer and product strings, "" when the device gives none
    node: str  # /dev/bus/usb/<bus>/<device>

    @property
    def ids(self) -> str:
        return f"{self.vendor}:{self.product}"

    def described(self) -> str:
        return f"{self.ids} ({self.name})" if self.name else self.ids

    def udev_rule(self) -> str:
        """A rule that lets the plugdev group open this model."""
        return (
            f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{self.vendor}", '
            f'ATTRS{{idProduct}}=="{self.product}", MODE="0660", GROUP="plugdev"'
        )


def usbtmc_devices(sysfs: Path = SYSFS_USB, dev: Path = DEV_USB) -> list[UsbTmcDevice]:
    """The USB-TMC instruments sysfs lists (none where there is no sysfs: not Linux)."""
    if not sysfs.is_dir():
        return []
    found = []
    for device in sorted(sysfs.iterdir()):
        if ":" in device.name or not (device / "idVendor").is_file():
            continue  # an interface (1-1:1.0), or a root hub without ids
        interfaces = sysfs.glob(f"{device.name}:*")
        if not any(_is_usbtmc(interface) for interface in interfaces):
            continue
        try:
            bus, number = int(_read(device / "busnum")), int(_read(device / "devnum"))
        except ValueError:
            continue  # unplugged while being read
        name = " ".join(x for x in (_read(device / "manufacturer"), _read(device / "product")) if x)
        found.append(
            UsbTmcDevice(
                vendor=_read(device / "idVendor").lower(),
                product=_read(device / "idProduct").lower(),
                name=name,
                node=str(dev / f"{bus:03d}" / f"{number:03d}"),
            )
        )
    return found


def _is_usbtmc(interface: Path) -> bool:
    return (
        _read(interface / "bInterfaceClass").lower() == USBTMC_CLASS
        and _read(interface / "bInterfaceSubClass").lower() == USBTMC_SUBCLASS
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def unopenable(
    devices: Iterable[UsbTmcDevice], access: Callable[[str, int], bool] = os.access
) -> list[UsbTmcDevice]:
    """The devices whose node this user may not both read and write (pyvisa-py needs both)."""
    return [d for d in devices if os.path.exists(d.node) and not access(d.node, os.R_OK | os.W_OK)]


def usb_status(
    info: DebugInfo, *, pyusb: bool, devices: Sequence[UsbTmcDevice], denied: Sequence[UsbTmcDevice]
) -> InterfaceStatus:
    """USB as pyvisa-py (`info`) sees it, with the connected USB-TMC `devices` and the `denied`
    ones this user may not open."""
    connected = (
        f"; connected USB-TMC instruments: {', '.join(d.described() for d in devices)}"
        if devices
        else ""
    )
    permissions = tuple(_permission_advice(denied))
    if not pyusb:
        return InterfaceStatus(
            "USB", False, f"pyusb is not installed{connected}", (USB_EXTRA, *permissions)
        )
    available, text = _entry(info, "USB INSTR")
    if not available:
        if "properly installed" in text:  # pyvisa-py: pyusb finds no backend
            return InterfaceStatus(
                "USB",
                False,
                f"pyusb is installed but finds no libusb backend{connected}",
                (
                    f"{USB_EXTRA} (libusb-package brings a libusb) or install libusb 1.0 "
                    "(Debian/Ubuntu: sudo apt install libusb-1.0-0)",
                    *permissions,
                ),
            )
        return InterfaceStatus(
            "USB", False, f"pyvisa-py cannot use pyusb: {text}", (USB_EXTRA, *permissions)
        )
    return InterfaceStatus("USB", True, text, permissions)


def _permission_advice(denied: Sequence[UsbTmcDevice]) -> Iterable[str]:
    if not denied:
        return
    user = _user()
    for device in denied:
        yield (
            f"USB-TMC instrument {device.described()} at {device.node}: permission denied for "
            f"user {user}, so it is not listed; this udev rule lets the plugdev group open it:"
        )
        yield f"  {device.udev_rule()}"
    yield (
        f"or install the rule for every USB-TMC instrument: sudo cp {RULES_FILE} "
        "/etc/udev/rules.d/ && sudo udevadm control --reload-rules && sudo udevadm trigger"
    )
    yield f"then: sudo usermod -aG plugdev {user}, log in again, unplug and replug the instrument"


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name (a container with a bare uid)
        return "this user"


def gpib_status(info: DebugInfo, *, gpib_ctypes: bool) -> InterfaceStatus:
    """GPIB as pyvisa-py sees it: linux-gpib's Python bindings or gpib-ctypes, and whether the
    latter found the NI-488.2 or linux-gpib library. (Its GPIB INSTR entry is always available:
    that session also serves Prologix adapters; the INTFC entry says whether a board driver is.)"""
    available, text = _entry(info, "GPIB INTFC")
    if available:
        return InterfaceStatus("GPIB", True, text or "via a GPIB library")
    if gpib_ctypes:
        return InterfaceStatus(
            "GPIB",
            False,
            "gpib-ctypes is installed but finds no GPIB library",
            (
                "install the board's driver: NI-488.2 (Windows, Linux) or linux-gpib "
                "(Linux, libgpib.so)",
            ),
        )
    return InterfaceStatus(
        "GPIB",
        False,
        "no GPIB library",
        (
            f"{GPIB_EXTRA} (gpib-ctypes, which needs NI-488.2 or linux-gpib) "
            "or linux-gpib's Python bindings",
            "a GPIB instrument behind a Prologix GPIB-ETHERNET adapter needs none of these: "
            "see docs/connectivity.md",
        ),
    )


def lan_status(info: DebugInfo, *, lan: bool, psutil: bool, zeroconf: bool) -> InterfaceStatus:
    """LAN discovery: only with --lan (it broadcasts to the network)."""
    if not lan:
        return InterfaceStatus(
            "TCPIP",
            False,
            "LAN discovery broadcasts to the network",
            ("add --lan, or --socket HOST:PORT for an instrument at a known address",),
        )
    available, text = _entry(info, "TCPIP INSTR")
    if not available:
        return InterfaceStatus("TCPIP", False, f"pyvisa-py cannot search it: {text}")
    parts = [
        "VXI-11 broadcast on every interface"
        if psutil
        else "VXI-11 broadcast on the default interface only (psutil is not installed)",
        "HiSLIP by mDNS" if zeroconf else "no HiSLIP/mDNS discovery (zeroconf is not installed)",
    ]
    advice = () if psutil and zeroconf else (LAN_EXTRA,)
    return InterfaceStatus("TCPIP", True, "; ".join(parts), advice)


def serial_status(info: DebugInfo, ports: int) -> InterfaceStatus:
    available, text = _entry(info, "ASRL INSTR")
    how = text if available else "via pyserial"
    return InterfaceStatus(
        "serial", True, f"{how}: {ports} port(s), listed without being written to"
    )


def vendor_statuses(library: str, *, lan: bool, ports: int) -> list[InterfaceStatus]:
    """Another VISA library than pyvisa-py (`library` names it): it searched what it supports."""
    tcpip = "" if lan else "; its TCPIP resources are listed only with --lan"
    return [
        InterfaceStatus(
            "VISA",
            True,
            f"{library}, not pyvisa-py, searched the interfaces it supports{tcpip}; its own "
            "configuration tool shows what it sees",
        ),
        InterfaceStatus(
            "serial", True, f"via pyserial: {ports} port(s), listed without being written to"
        ),
    ]


def _entry(info: DebugInfo, key: str) -> tuple[bool, str]:
    """(available, text) of one `get_debug_info()` entry: "Available <how>" or issue lines."""
    value = info.get(key)
    if isinstance(value, str):
        if value.startswith("Available"):
            return True, " ".join(value[len("Available") :].split())
        return False, value.strip()
    if isinstance(value, list | tuple) and value:
        return False, str(value[0]).strip()
    return False, f"pyvisa-py {info.get('Version', '')} has no {key} session".replace("  ", " ")


def importable(module: str) -> bool:
    """Whether `module` imports here (a module blocked in sys.modules counts as missing)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    except Exception:  # a package that is there but broken is as good as missing
        return False
    return True


def pyvisa_py_statuses(
    *, lan: bool, ports: int, sysfs: Path = SYSFS_USB, dev: Path = DEV_USB
) -> list[InterfaceStatus]:
    """What pyvisa-py (@py) could search on this machine, interface by interface."""
    from pyvisa_py.highlevel import PyVisaLibrary

    info = PyVisaLibrary.get_debug_info()
    devices = usbtmc_devices(sysfs, dev) if sys.platform.startswith("linux") else []
    return [
        usb_status(info, pyusb=importable("usb"), devices=devices, denied=unopenable(devices)),
        gpib_status(info, gpib_ctypes=importable("gpib_ctypes")),
        lan_status(info, lan=lan, psutil=importable("psutil"), zeroconf=importable("zeroconf")),
        serial_status(info, ports),
    ]
