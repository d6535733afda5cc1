"""VisaTransport over VXI-11 and HiSLIP sessions, against the simulated bench's real servers: a
dropped connection is a ConnectionLostError naming the role and the command, a late reply or
one broken off mid-message is never read as the next answer (a HiSLIP session whose clear
fails is opened anew), a device clear there is not followed by a drain, no timeout given to
the session rounds down to "do not wait", and a block's LF bytes do not end VXI-11 reads. And
on a raw socket: after a reconnection that failed, the next exchange tries again."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pyvisa
import yaml
from lan_instrument import BLOCK, IDENTITY, BlockInstrument, served_over
from pyvisa import constants
from pyvisa_py.protocols import vxi11

from benchtest.driver.transport import FLUSH_LIMIT, VisaTransport
from benchtest.sim import SimulatedBench
from benchtest.sim.server.vxi11 import unavailable_reason
from benchtest.sim.testing import wait_until
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentTimeoutError,
    ProtocolError,
)

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
VXI11_REASON = unavailable_reason()
VXI11 = pytest.param(
    "vxi11", marks=pytest.mark.skipif(VXI11_REASON is not None, reason=VXI11_REASON or "")
)
PROTOCOLS = ["hislip", VXI11]
TIMEOUT = 0.2  # s
LATE = 0.4  # s a late reply is held
HELD = 1.0  # s a late reply is held that must not arrive before the next exchange's clear


class Smu:
    """A simulated Keithley 2450 on the simulated bench `sim`, and a VisaTransport to it."""

    def __init__(self, sim: SimulatedBench, transport: VisaTransport) -> None:
        self.sim = sim
        self.transport = transport

    def struck_at(self) -> float:
        """When the fault struck (time.time()); waits for it."""
        wait_until(lambda: bool(self._faults()))
        return float(self._faults()[0]["t"])

    def _faults(self) -> list[dict[str, Any]]:
        return [e for e in self.sim.journal.entries if e["event"] == "fault"]


@contextmanager
def lan_smu(visa: str, query: str) -> Iterator[Smu]:
    """A simulated SMU served over `visa` with the fault `query` asks for, and a VisaTransport
    to it (timeout TIMEOUT); afterwards both are closed."""
    resource = f"sim://smu?visa={visa}&{query}"
    bench = {
        "schema_version": 1,
        "instruments": {"smu": {"driver": "keithley.k2450", "resource": resource}},
    }
    with SimulatedBench(PROFILE, bench) as sim:
        transport = VisaTransport.open(sim.addresses["smu"], role="smu", timeout=TIMEOUT)
        try:
            yield Smu(sim, transport)
        finally:
            transport.close()


def waiting_at_the_client(transport: VisaTransport) -> bool:
    """Whether reply bytes wait unread in pyvisa-py's HiSLIP session (its synchronous
    channel's socket is readable)."""
    resource = transport._resource
    sync = resource.visalib.sessions[resource.session].interface._sync
    readable, _, _ = select.select([sync], [], [], 0)
    return bool(readable)


@pytest.mark.parametrize("visa", PROTOCOLS)
def test_a_dropped_connection_is_a_lost_connection_naming_role_and_command(visa: str) -> None:
    with lan_smu(visa, "fault=drop&after=1") as served:
        transport = served.transport
        assert "MODEL 2450" in transport.query("*IDN?")
        with pytest.raises(ConnectionLostError, match=r"^\[smu\] connection lost") as lost:
            transport.query("*OPC?")
        assert (lost.value.role, lost.value.command) == ("smu", "*OPC?")
        assert not transport.in_step
        for command in ("*LANG?", "*OPC?"):  # the instrument stays gone: so does the session
            with pytest.raises(ConnectionLostError) as again:
                transport.query(command)
            assert again.value.role == "smu"


@pytest.mark.parametrize("visa", PROTOCOLS)
def test_a_late_reply_that_arrived_is_not_taken_for_the_next_answer(visa: str) -> None:
    with lan_smu(visa, f"fault=late&match=*IDN?&delay={LATE}") as served:
        transport = served.transport
        session = transport._resource
        with pytest.raises(InstrumentTimeoutError, match=r"\[smu\] no reply within 0\.2 s"):
            transport.query("*IDN?")
        struck = served.struck_at()
        if visa == "hislip":  # the late reply is on the client's socket, in front of anything
            wait_until(lambda: waiting_at_the_client(transport))
        else:  # it waits in the server, whose device clear drops it
            time.sleep(max(0.0, struck + LATE + 0.1 - time.time()))
        assert transport.query("*OPC?") == "1"
        assert transport.query("*LANG?") == "SCPI"
        # pyvisa-py's HiSLIP clear fails with reply data on its way: the session is opened anew
        assert (transport._resource is session) == (visa == "vxi11")


@pytest.mark.parametrize("visa", PROTOCOLS)
def test_a_late_reply_still_held_at_the_next_exchange_never_arrives(visa: str) -> None:
    with lan_smu(visa, f"fault=late&match=*IDN?&delay={HELD}") as served:
        transport = served.transport
        session = transport._resource
        with pytest.raises(InstrumentTimeoutError):
            transport.query("*IDN?")
        assert transport.query("*OPC?") == "1"  # cleared while the reply is held
        assert transport._resource is session  # the clear worked: the same session
        time.sleep(max(0.0, served.struck_at() + HELD + 0.1 - time.time()))
        assert transport.query("*LANG?") == "SCPI"  # and the late reply went nowhere
        assert transport.query("*OPC?") == "1"


@pytest.mark.parametrize("visa", PROTOCOLS)
def test_after_a_reply_broken_off_mid_message_the_next_query_gets_its_answer(visa: str) -> None:
    with lan_smu(visa, "fault=endless&match=*IDN?") as served:
        transport = served.transport
        with pytest.raises(ProtocolError, match="without its termination"):
            transport.query("*IDN?")
        started = time.monotonic()
        assert transport.query("*OPC?") == "1"
        assert time.monotonic() - started < FLUSH_LIMIT  # no drain spinning its limit out
        assert transport.query("*LANG?") == "SCPI"


@pytest.mark.parametrize("visa", PROTOCOLS)
def test_a_device_clear_over_vxi11_and_hislip_is_not_followed_by_a_drain(visa: str) -> None:
    with lan_smu(visa, "fault=garbage&after=1") as served:
        transport = served.transport
        transport.query("*IDN?")
        with pytest.raises(ProtocolError, match="garbled"):
            transport.query("*OPC?")
        session = transport._resource
        reads: list[int] = []
        read_bytes = session.read_bytes

        def counted(count: int, *args: Any, **kwargs: Any) -> bytes:
            reads.append(count)
            return bytes(read_bytes(count, *args, **kwargs))

        session.read_bytes = counted
        started = time.monotonic()
        transport.resync()
        assert time.monotonic() - started < FLUSH_LIMIT
        assert reads == [] and transport._resource is session and transport.in_step


def test_draining_stops_at_a_read_that_comes_back_empty() -> None:
    """pyvisa-py's HiSLIP read returns nothing at once, without waiting, when nothing was
    asked: a drain stops there instead of spinning until FLUSH_LIMIT."""
    with served_over("hislip") as gateway:
        transport = VisaTransport.open(gateway.address, role="scope", timeout=TIMEOUT)
        try:
            assert transport.query("*IDN?") == IDENTITY
            started = time.monotonic()
            transport._discard_input()
            assert time.monotonic() - started < FLUSH_LIMIT / 2
            assert transport.query("*IDN?") == IDENTITY
        finally:
            transport.close()


def test_no_timeout_rounds_down_to_do_not_wait_over_hislip() -> None:
    """VISA takes a timeout under 1 ms as "immediate", which makes pyvisa-py's HiSLIP socket
    non-blocking: a read then fails as a lost connection (EAGAIN) instead of timing out."""
    with lan_smu("hislip", "fault=slow&delay=0.1") as served:
        transport = served.transport
        transport.timeout = 1e-4
        assert transport.timeout == pytest.approx(0.001)
        with pytest.raises(InstrumentTimeoutError, match=r"no reply within 0\.001 s"):
            transport.query("*OPC?")
        transport.timeout = 2.0
        assert transport.query("*LANG?") == "SCPI"
        # the last moments of a reply's time: less than 1 ms left still waits 1 ms (after a
        # write, so that the session waits for a reply message)
        transport.write("*WAI")
        with pytest.raises(ProtocolError, match="reply did not end within 2 s"):
            transport._read_rest("*LANG?", time.monotonic() + 0.0008, bytearray(b"SC"))
        assert transport.timeout == 2.0
        with pytest.raises(ValueError, match=r"timeout is a number of seconds >= 0, got -1"):
            transport.timeout = -1


@pytest.mark.skipif(VXI11_REASON is not None, reason=VXI11_REASON or "")
def test_a_block_over_vxi11_is_read_with_the_termination_character_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With VI_ATTR_TERMCHAR_EN on, a VXI-11 device_read ends at every LF byte: 10 MB of
    block would take ~40 000 RPCs. The block read asks for none of that, and the session's
    termination is as it was afterwards."""
    flags: list[int] = []
    device_read = vxi11.CoreClient.device_read

    def recorded(self: Any, link: int, size: int, *args: Any) -> Any:
        flags.append(args[2])  # io_timeout, lock_timeout, flags, term_char
        return device_read(self, link, size, *args)

    monkeypatch.setattr(vxi11.CoreClient, "device_read", recorded)
    with served_over("vxi11") as gateway:
        transport = VisaTransport.open(gateway.address, role="scope", timeout=10.0)
        try:
            session = transport._resource
            assert session.read_termination == "\n"
            assert transport.read_block(":WAV:DATA?") == BLOCK
            assert all(not flag & vxi11.OP_FLAG_TERMCHAR_SET for flag in flags)
            assert len(flags) < len(BLOCK) // (256 * 1024) + 10
            assert session.read_termination == "\n"
            assert session.get_visa_attribute(constants.ResourceAttribute.termchar_enabled)
            flags.clear()
            assert transport.query("*IDN?") == IDENTITY
            assert flags and all(flag & vxi11.OP_FLAG_TERMCHAR_SET for flag in flags)
        finally:
            transport.close()


def test_after_a_reconnection_that_failed_the_next_exchange_tries_again() -> None:
    """An instrument that goes away and comes back (on a raw socket, where every resync is a
    new connection): each exchange meanwhile is a ConnectionLostError naming the role, the
    timeout can still be read and set, and the first exchange after it is back opens the
    session anew with the settings it had."""
    instrument = BlockInstrument(role="dmm")
    instrument.start()
    port = instrument.port
    transport = VisaTransport.open(instrument.address, role="dmm", timeout=TIMEOUT)
    try:
        assert transport.query("*IDN?") == IDENTITY
        instrument.stop()
        for _ in range(3):  # the first is lost, the others cannot open it again
            with pytest.raises(ConnectionLostError) as lost:
                transport.query("*IDN?")
            assert lost.value.role == "dmm"
        assert transport.timeout == pytest.approx(TIMEOUT)  # no session: the one to open
        transport.timeout = 2 * TIMEOUT
        instrument = BlockInstrument(role="dmm", port=port)
        instrument.start()
        assert transport.query("*IDN?") == IDENTITY
        assert transport.timeout == pytest.approx(2 * TIMEOUT)
    finally:
        transport.close()
        instrument.stop()


def test_a_library_that_fails_its_protocol_while_opening_cannot_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A VISA library may raise RuntimeError instead of a VISA status while it opens a session
    (pyvisa-py's HiSLIP client does for a connection the server drops): the role is told the
    resource cannot be opened, and why."""
    with served_over("hislip") as gateway:
        opened = pyvisa.ResourceManager.open_resource

        def dropped(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            resource = opened(self, name, *args, **kwargs)
            resource.close()
            raise RuntimeError("Connection was dropped by server.")

        monkeypatch.setattr(pyvisa.ResourceManager, "open_resource", dropped)
        with pytest.raises(ConnectionLostError) as lost:
            VisaTransport.open(gateway.address, role="scope", timeout=TIMEOUT)
        assert str(lost.value).startswith(
            f"[scope] cannot open {gateway.address}: Connection was dropped by server."
        )
