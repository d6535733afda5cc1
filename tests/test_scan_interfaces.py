"""`benchtest scan` says which interfaces it searched, and why not the others, with the fix.

The statuses come from pyvisa-py's own report (`PyVisaLibrary.get_debug_info()`); the cases
this machine does not have (pyusb without a backend, a USB-TMC instrument this user may not
open, a GPIB library) are given to the same logic as pyvisa-py would report them, and the
USB-TMC instruments as sysfs lists them, in a folder laid out the same way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from benchtest.cli import discovery
from benchtest.cli.commands import main
from benchtest.cli.interfaces import (
    RULES_FILE,
    UsbTmcDevice,
    gpib_status,
    lan_status,
    unopenable,
    usb_status,
    usbtmc_devices,
)

NO_PYUSB = ["Please install PyUSB to use this resource type.", "No module named 'usb'"]
NO_BACKEND = [
    "PyUSB does not seem to be properly installed.",
    "Please refer to the PyUSB documentation and ",
]
PYUSB_OK = "Available via PyUSB (1.2.1). Backend: libusb1"
NO_GPIB = [
    "Please install linux-gpib (Linux) or gpib-ctypes (Windows, Linux) to use this resource "
    "type. Note that installing gpib-ctypes will give you access to a broader range of "
    "functionalities.",
    "No module named 'gpib'",
]
RIGOL = UsbTmcDevice("1ab1", "04ce", "Rigol Technologies DS1104Z", "/dev/bus/usb/001/005")


@pytest.fixture
def no_pyusb(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyusb hidden, whether or not it is installed: `import usb` fails."""
    for name in [m for m in sys.modules if m == "usb" or m.startswith("usb.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "usb", None)


def test_scan_without_pyusb_says_usb_was_not_searched_and_how_to_enable_it(
    no_pyusb: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--no-identify"]) == 0
    out = capsys.readouterr().out
    assert "Interfaces searched:" in out
    assert "USB    not searched: pyusb is not installed; pip install 'benchtest[usb]'" in out
    assert "TCPIP  not searched" in out and "--lan" in out  # LAN only when asked
    assert "serial searched" in out


def test_scan_report_lists_every_interface_with_its_status(no_pyusb: None) -> None:
    report = discovery.scan_report(identify=False, lan=False)
    statuses = {status.name: status for status in report.interfaces}
    assert list(statuses) == ["USB", "GPIB", "TCPIP", "serial"]
    assert not statuses["USB"].searched
    assert statuses["serial"].searched
    ports = [found for found in report.found if found.kind == "serial"]
    assert f"{len(ports)} port(s)" in statuses["serial"].detail
    assert report.to_dict()["interfaces"] == [s.to_dict() for s in report.interfaces]


def test_pyusb_without_a_libusb_backend_is_named() -> None:
    status = usb_status({"USB INSTR": NO_BACKEND}, pyusb=True, devices=[RIGOL], denied=[])
    line = status.lines()[0]
    assert not status.searched
    assert "pyusb is installed but finds no libusb backend" in line
    assert "1ab1:04ce (Rigol Technologies DS1104Z)" in line  # what is waiting to be reached
    assert "libusb-1.0-0" in line and "benchtest[usb]" in line


def test_usb_searched_says_how_from_pyvisa_py() -> None:
    status = usb_status({"USB INSTR": PYUSB_OK}, pyusb=True, devices=[], denied=[])
    assert status.searched
    assert status.lines() == ["USB    searched: via PyUSB (1.2.1). Backend: libusb1"]


def test_a_usbtmc_device_this_user_may_not_open_is_named_with_the_udev_rule() -> None:
    status = usb_status({"USB INSTR": PYUSB_OK}, pyusb=True, devices=[RIGOL], denied=[RIGOL])
    text = "\n".join(status.lines())
    assert status.searched
    assert "1ab1:04ce (Rigol Technologies DS1104Z) at /dev/bus/usb/001/005" in text
    assert "permission denied" in text
    assert (
        'SUBSYSTEM=="usb", ATTRS{idVendor}=="1ab1", ATTRS{idProduct}=="04ce", '
        'MODE="0660", GROUP="plugdev"'
    ) in text
    assert f"sudo cp {RULES_FILE} /etc/udev/rules.d/" in text
    assert "usermod -aG plugdev" in text


def test_the_shipped_udev_rule_matches_every_usbtmc_interface() -> None:
    rules = [
        line
        for line in RULES_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules == [
        'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ENV{ID_USB_INTERFACES}=="*:fe03??:*", '
        'MODE="0660", GROUP="plugdev", TAG+="uaccess"'
    ]


def _usb_device(
    sysfs: Path, name: str, ids: tuple[str, str], bus_dev: tuple[int, int], *interfaces: str
) -> None:
    """A device folder as sysfs has it, with its interfaces ("fe03", "0300") as siblings."""
    device = sysfs / name
    device.mkdir(parents=True)
    for key, value in zip(("idVendor", "idProduct"), ids, strict=True):
        (device / key).write_text(value + "\n")
    (device / "busnum").write_text(f"{bus_dev[0]}\n")
    (device / "devnum").write_text(f"{bus_dev[1]}\n")
    (device / "manufacturer").write_text("Rigol Technologies\n")
    (device / "product").write_text("DS1104Z\n")
    for index, kind in enumerate(interfaces):
        interface = sysfs / f"{name}:1.{index}"
        interface.mkdir()
        (interface / "bInterfaceClass").write_text(kind[:2] + "\n")
        (interface / "bInterfaceSubClass").write_text(kind[2:] + "\n")


def test_usbtmc_devices_are_read_from_sysfs(tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    _usb_device(sysfs, "1-2", ("1ab1", "04CE"), (1, 5), "fe03")
    _usb_device(sysfs, "3-1.4", ("046d", "c52b"), (3, 17), "0301", "0300")  # a mouse: HID
    _usb_device(sysfs, "2-1", ("0957", "1796"), (2, 9), "ff00", "fe03")  # TMC on interface 1
    (sysfs / "usb1").mkdir()  # a root hub without the files
    found = usbtmc_devices(sysfs, tmp_path / "dev")
    assert [(d.ids, d.node) for d in found] == [
        ("1ab1:04ce", str(tmp_path / "dev" / "001" / "005")),
        ("0957:1796", str(tmp_path / "dev" / "002" / "009")),
    ]
    assert found[0].name == "Rigol Technologies DS1104Z"


def test_no_sysfs_means_no_devices(tmp_path: Path) -> None:
    assert usbtmc_devices(tmp_path / "absent") == []


def test_only_devices_without_read_and_write_access_are_unopenable(tmp_path: Path) -> None:
    nodes = {name: tmp_path / name for name in ("005", "006", "007")}
    for node in nodes.values():
        node.touch()
    devices = [UsbTmcDevice("1ab1", "04ce", "", str(node)) for node in nodes.values()]
    gone = UsbTmcDevice("1ab1", "04ce", "", str(tmp_path / "unplugged"))
    readable_only = {str(nodes["006"])}
    writable = {str(nodes["005"])}

    def access(path: str, mode: int) -> bool:
        assert mode == os.R_OK | os.W_OK
        return path in writable or (path in readable_only and mode == os.R_OK)

    assert unopenable([*devices, gone], access) == devices[1:]


def test_gpib_without_a_library_says_how_to_add_one() -> None:
    status = gpib_status({"GPIB INSTR": "Available ", "GPIB INTFC": NO_GPIB}, gpib_ctypes=False)
    lines = status.lines()
    assert lines[0].startswith(
        "GPIB   not searched: no GPIB library; pip install 'benchtest[gpib]'"
    )
    assert "Prologix" in lines[1]


def test_gpib_ctypes_without_its_library_names_the_driver_to_install() -> None:
    missing = ["gpib_ctypes is installed but could not locate the gpib library."]
    status = gpib_status({"GPIB INTFC": missing}, gpib_ctypes=True)
    assert not status.searched and "NI-488.2" in status.lines()[0]


def test_gpib_with_linux_gpib_is_searched() -> None:
    status = gpib_status({"GPIB INTFC": "Available via Linux GPIB (4.3.6)"}, gpib_ctypes=False)
    assert status.searched and status.detail == "via Linux GPIB (4.3.6)"


@pytest.mark.parametrize(
    ("psutil", "zeroconf", "expected"),
    [
        (True, True, "VXI-11 broadcast on every interface; HiSLIP by mDNS"),
        (False, True, "on the default interface only (psutil is not installed)"),
        (True, False, "no HiSLIP/mDNS discovery (zeroconf is not installed)"),
    ],
)
def test_lan_discovery_says_what_is_limited(psutil: bool, zeroconf: bool, expected: str) -> None:
    info = {"TCPIP INSTR": "Available \n   Resource discovery:\n   - VXI-11: ok"}
    status = lan_status(info, lan=True, psutil=psutil, zeroconf=zeroconf)
    assert status.searched and expected in status.detail
    assert ("pip install 'benchtest[lan]'" in status.advice) == (not (psutil and zeroconf))


def test_another_visa_library_searched_what_it_supports() -> None:
    """A vendor library (here pyvisa-sim standing in for one) lists its own resources."""
    report = discovery.scan_report(identify=False, visa_library="@sim")
    assert [s.name for s in report.interfaces] == ["VISA", "serial"]
    assert report.interfaces[0].detail.startswith(
        "pyvisa_sim, not pyvisa-py, searched the interfaces it supports; its TCPIP resources "
        "are listed only with --lan"
    )
    names = [found.resource for found in report.found if found.kind == "visa"]
    assert any(name.startswith("USB") for name in names)
    assert not any(name.startswith(("TCPIP", "ASRL")) for name in names)  # no LAN unless asked
