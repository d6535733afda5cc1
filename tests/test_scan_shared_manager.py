"""`benchtest scan` in a process that already talks to instruments leaves their connections open:
PyVISA shares one ResourceManager per library, so scan must not close it."""

from __future__ import annotations

import sys

import pytest

from benchtest.cli import discovery
from benchtest.driver.visa_library import resource_manager
from benchtest.sim.server.scpi_server import ScpiServer
from benchtest.sim.testing import visa_session


@pytest.fixture
def no_pyusb(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyusb hidden, so the scan looks at no USB bus of this machine (and is quick)."""
    for name in [m for m in sys.modules if m == "usb" or m.startswith("usb.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "usb", None)


def test_a_scan_leaves_the_resources_others_opened_working(no_pyusb: None) -> None:
    with (
        ScpiServer(role="held") as held_server,
        ScpiServer(role="scanned") as scanned_server,
        visa_session(held_server.address) as held,
    ):
        assert held.query("*IDN?") == ScpiServer.identity
        manager = resource_manager("@py")
        report = discovery.scan_report(sockets=[f"127.0.0.1:{scanned_server.port}"])
        [scanned] = [
            f for f in report.found if f.resource.endswith(f"{scanned_server.port}::SOCKET")
        ]
        assert scanned.identity == ScpiServer.identity
        assert held.query("*IDN?") == ScpiServer.identity  # its connection still open
        assert resource_manager("@py") is manager  # the same, open, manager for the next user
        assert manager.list_opened_resources() == [held]  # the scanned resource was closed
