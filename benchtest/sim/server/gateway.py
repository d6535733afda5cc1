"""A simulated instrument served over VXI-11 or HiSLIP instead of a raw socket (`?visa=...`).

`LanGateway` starts the instrument as usual (the simulator on its `::SOCKET` port, or the fault
proxy in front of it), then a VXI-11 or HiSLIP server in front of that socket, like a LAN
gateway in front of an instrument; its `address` is the VISA resource clients open
(`TCPIP::127.x.y.z::inst0::INSTR` or `TCPIP::127.0.0.1::hislip0,<port>::INSTR`). Everything
else about the instrument (its commands, its faults, its timing) stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from benchtest.sim.server.hislip import HislipServer
from benchtest.sim.server.service import Service
from benchtest.sim.server.timing import Timing
from benchtest.sim.server.vxi11 import Vxi11Server
from benchtest.values.errors import SimulatorError

#: How a `sim://` resource may be served: `visa=socket` (the default), `vxi11` or `hislip`.
VISA_TRANSPORTS = ("socket", "vxi11", "hislip")
_SOCKET_RESOURCE = re.compile(r"TCPIP\d*::([^:]+)::(\d+)::SOCKET", re.IGNORECASE)


class Served(Protocol):
    """What the gateway needs of the instrument behind it."""

    @property
    def address(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def use_timing(self, timing: Timing) -> None: ...


def visa_transport(role: str, resource: str, options: Mapping[str, str]) -> str:
    """The transport a `sim://` resource asks for (`?visa=hislip`); `socket` by default."""
    visa = options.get("visa", "socket")
    if visa not in VISA_TRANSPORTS:
        raise SimulatorError(
            f"instruments.{role}.resource {resource!r}: visa={visa!r}: expected one of "
            f"{', '.join(VISA_TRANSPORTS)}"
        )
    return visa


def socket_endpoint(address: str) -> tuple[str, int]:
    """(host, port) of a `TCPIP::<host>::<port>::SOCKET` resource."""
    match = _SOCKET_RESOURCE.fullmatch(address.strip())
    if match is None:
        raise SimulatorError(
            f"{address!r} is not a raw SCPI socket (TCPIP::<host>::<port>::SOCKET): only a SCPI "
            "instrument can be served over VXI-11 or HiSLIP"
        )
    return match.group(1), int(match.group(2))


class LanGateway(Service):
    """`instrument` served over `protocol` ("vxi11" or "hislip"); other attributes are the
    instrument's."""

    def __init__(self, instrument: Served, protocol: str, *, role: str = "") -> None:
        self.instrument = instrument
        self.protocol = protocol
        name = f"{role or 'instrument'}-{protocol}"
        self._server: Vxi11Server | HislipServer
        if protocol == "vxi11":
            self._server = Vxi11Server(self._endpoint, name=name)
        elif protocol == "hislip":
            self._server = HislipServer(self._endpoint, name=name)
        else:
            raise SimulatorError(f"no LAN protocol {protocol!r}; expected vxi11 or hislip")

    @property
    def address(self) -> str:
        """The VISA resource of the instrument over the gateway."""
        return self._server.address

    @property
    def server(self) -> Vxi11Server | HislipServer:
        return self._server

    def start(self) -> None:
        self.instrument.start()
        try:
            self._endpoint()
            self._server.start()
        except BaseException:
            self.instrument.stop()
            raise

    def stop(self) -> None:
        self._server.stop()
        self.instrument.stop()

    def use_timing(self, timing: Timing) -> None:
        self.instrument.use_timing(timing)

    def _endpoint(self) -> tuple[str, int]:
        return socket_endpoint(self.instrument.address)

    def __getattr__(self, name: str) -> Any:
        if name == "instrument":  # not set yet: no recursion while constructing
            raise AttributeError(name)
        return getattr(self.instrument, name)
