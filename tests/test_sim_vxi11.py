"""The simulated bench over VXI-11: portmapper, core and abort channels as pyvisa-py's client and
raw RPC records use them; a 10 MB block, device clear mid-transfer, locks, aborts, malformed
records and clients that leave mid-read, with the server serving on and stopping cleanly."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pyvisa
import yaml
from lan_instrument import BLOCK, IDENTITY, BlockInstrument, exactly, served_over
from pyvisa_py.protocols import rpc, vxi11

from benchtest import open_instrument
from benchtest.driver.transport import VisaTransport
from benchtest.sim import SimulatedBench
from benchtest.sim.server import oncrpc
from benchtest.sim.server import vxi11 as server_vxi11
from benchtest.sim.server.gateway import LanGateway
from benchtest.sim.server.tcp import TcpServer
from benchtest.sim.testing import visa_session, wait_until
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentTimeoutError,
    ProtocolError,
    SimulatorError,
)

REASON = server_vxi11.unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
WAIT = 1  # flags: WAITLOCK
TERMCHAR = 0x80


@pytest.fixture
def gateway() -> Iterator[LanGateway]:
    with served_over("vxi11") as served:
        yield served


def core_client(gateway: LanGateway) -> vxi11.CoreClient:
    """pyvisa-py's own VXI-11 client, found through the portmapper."""
    return vxi11.CoreClient(gateway.server.host)  # type: ignore[union-attr]


def link(client: vxi11.CoreClient) -> int:
    error, lid, _, _ = client.create_link(7, False, 0, "inst0")
    assert error == 0
    return int(lid)


def test_the_portmapper_points_at_the_core_and_abort_channels(gateway: LanGateway) -> None:
    server = gateway.server
    assert isinstance(server, server_vxi11.Vxi11Server)
    assert gateway.address == f"TCPIP::{server.host}::inst0::INSTR"
    portmapper = rpc.TCPPortMapperClient(server.host)
    try:
        assert portmapper.get_port((vxi11.DEVICE_CORE_PROG, 1, 6, 0)) == server.core_port
        assert portmapper.get_port((vxi11.DEVICE_ASYNC_PROG, 1, 6, 0)) == server.abort_port
        assert portmapper.get_port((vxi11.DEVICE_INTR_PROG, 1, 6, 0)) == 0
        assert portmapper.get_port((vxi11.DEVICE_CORE_PROG, 1, 17, 0)) == 0  # UDP: not served
        assert sorted(portmapper.dump()) == sorted(
            [
                (vxi11.DEVICE_CORE_PROG, 1, 6, server.core_port),
                (vxi11.DEVICE_ASYNC_PROG, 1, 6, server.abort_port),
            ]
        )
    finally:
        portmapper.close()


def test_a_10_mb_block_arrives_whole_through_pyvisa_and_the_driver_transport(
    gateway: LanGateway,
) -> None:
    manager = pyvisa.ResourceManager("@py")
    try:
        # No termination character: the block's LF bytes would end every device_read.
        resource: Any = manager.open_resource(
            gateway.address, write_termination="\n", timeout=10_000
        )
        data = resource.query_binary_values(":WAV:DATA?", datatype="B", container=bytes)
        assert data == BLOCK
        resource.close()
    finally:
        manager.close()
    transport = VisaTransport.open(gateway.address, role="scope", timeout=10.0)
    try:
        assert transport.read_block(":WAV:DATA?") == BLOCK
        assert transport.query("*IDN?") == IDENTITY
    finally:
        transport.close()


def test_device_read_ends_at_request_size_term_char_and_end(gateway: LanGateway) -> None:
    client = core_client(gateway)
    try:
        lid = link(client)
        assert client.device_write(lid, 1000, 0, vxi11.OP_FLAG_END, b"*IDN?") == (0, 5)
        error, reason, data = client.device_read(lid, 9, 1000, 0, 0, 0)
        assert (error, reason, data) == (0, vxi11.RX_REQCNT, b"BENCHTEST")
        error, reason, data = client.device_read(lid, 100, 1000, 0, TERMCHAR, ord(","))
        assert (error, reason, data) == (0, vxi11.RX_CHR, b",")
        error, reason, data = client.device_read(lid, 100, 1000, 0, TERMCHAR, ord("\n"))
        assert (error, reason) == (0, vxi11.RX_CHR | vxi11.RX_END)
        assert data == b"SCPI SIMULATOR,0,0\n"
        started = time.monotonic()
        assert client.device_read(lid, 100, 100, 0, 0, 0)[0] == vxi11.ErrorCodes.io_timeout
        assert 0.1 <= time.monotonic() - started < 1.0
        assert client.destroy_link(lid) == 0
        assert (
            client.device_read(lid, 100, 100, 0, 0, 0)[0]
            == vxi11.ErrorCodes.invalid_link_identifier
        )
    finally:
        client.close()


def test_device_clear_mid_transfer_drops_the_rest_of_the_block(gateway: LanGateway) -> None:
    client = core_client(gateway)
    try:
        lid = link(client)
        client.device_write(lid, 1000, 0, vxi11.OP_FLAG_END, b":WAV:DATA?\n")
        error, reason, data = client.device_read(lid, 1 << 20, 1000, 0, 0, 0)
        assert (error, reason, len(data)) == (0, vxi11.RX_REQCNT, 1 << 20)
        _, stb = client.device_read_stb(lid, 0, 0, 1000)
        assert stb & 0x10  # MAV: the rest of the block waits
        assert client.device_clear(lid, 0, 0, 1000) == 0
        assert client.device_read_stb(lid, 0, 0, 1000) == (0, 0)
        client.device_write(lid, 1000, 0, vxi11.OP_FLAG_END, b"*IDN?\n")
        error, reason, data = client.device_read(lid, 1 << 20, 1000, 0, 0, 0)
        assert (error, reason, data) == (0, vxi11.RX_END, IDENTITY.encode() + b"\n")
    finally:
        client.close()


def test_device_trigger_reaches_the_instrument(gateway: LanGateway) -> None:
    client = core_client(gateway)
    try:
        lid = link(client)
        assert client.device_trigger(lid, 0, 0, 1000) == 0
        assert client.device_remote(lid, 0, 0, 1000) == 0
        assert client.device_local(lid, 0, 0, 1000) == 0
        client.device_write(lid, 1000, 0, vxi11.OP_FLAG_END, b"*OPC?\n")
        assert client.device_read(lid, 100, 1000, 0, 0, 0)[2] == b"1\n"
        assert gateway.instrument.triggers == 1  # type: ignore[attr-defined]
    finally:
        client.close()


def test_a_lock_keeps_other_links_out_until_released(gateway: LanGateway) -> None:
    first, second = core_client(gateway), core_client(gateway)
    try:
        a, b = link(first), link(second)
        assert first.device_lock(a, 0, 0) == 0
        assert second.device_lock(b, 0, 0) == vxi11.ErrorCodes.device_locked_by_another_link
        assert second.device_write(b, 1000, 0, vxi11.OP_FLAG_END, b"*IDN?\n")[0] == 11
        started = time.monotonic()
        assert second.device_write(b, 1000, 200, WAIT | vxi11.OP_FLAG_END, b"*IDN?\n")[0] == 11
        assert time.monotonic() - started >= 0.2
        assert second.device_unlock(b) == vxi11.ErrorCodes.no_lock_held_by_this_link
        releaser = threading.Timer(0.1, lambda: first.device_unlock(a))
        releaser.start()
        assert second.device_lock(b, WAIT, 5000) == 0  # granted once the first lets go
        releaser.join()
        assert second.device_write(b, 1000, 0, vxi11.OP_FLAG_END, b"*IDN?\n") == (0, 6)
        error, lid, _, _ = first.create_link(8, True, 0, "inst0")  # lockDevice: refused
        assert (error, lid) == (vxi11.ErrorCodes.device_locked_by_another_link, 0)
    finally:
        second.close()  # the lock goes with its connection
    try:
        wait_until(lambda: first.device_lock(a, 0, 0) == 0, timeout=2.0)
    finally:
        first.close()


def test_the_abort_channel_ends_a_waiting_read(gateway: LanGateway) -> None:
    client = core_client(gateway)
    error, lid, abort_port, _ = client.create_link(7, False, 0, "inst0")
    assert error == 0
    assert abort_port == gateway.server.abort_port  # type: ignore[union-attr]
    abort = rpc.RawTCPClient(gateway.server.host, vxi11.DEVICE_ASYNC_PROG, 1, abort_port)  # type: ignore[union-attr]
    abort.packer, abort.unpacker = vxi11.Vxi11Packer(), vxi11.Vxi11Unpacker(b"")
    result: list[Any] = []
    reader = threading.Thread(
        target=lambda: result.append(client.device_read(lid, 100, 5000, 0, 0, 0))
    )
    try:
        started = time.monotonic()
        reader.start()
        # device_abort ends a call in progress only (a read that starts later forgets an
        # earlier abort), and a busy machine may start the reader's call late: abort again
        # until the read has ended.
        calls = []
        while reader.is_alive() and time.monotonic() - started < 2.0:
            calls.append(abort.make_call(1, lid, abort.packer.pack_int, abort.unpacker.unpack_int))
            reader.join(timeout=0.1)
        reader.join(timeout=5)
        assert calls and set(calls) == {0} and result[0][0] == vxi11.ErrorCodes.abort
        assert time.monotonic() - started < 2.0  # not the read's 5 s io_timeout
        assert abort.make_call(1, lid + 99, abort.packer.pack_int, abort.unpacker.unpack_int) == 4
    finally:
        abort.close()
        client.close()


def test_interrupt_channel_docmd_and_unknown_device_are_refused(gateway: LanGateway) -> None:
    client = core_client(gateway)
    try:
        lid = link(client)
        pack = client.packer.pack_device_remote_func_parms
        args = (0x7F000001, 9999, vxi11.DEVICE_INTR_PROG, 1, 0)
        assert client.make_call(25, args, pack, client.unpacker.unpack_int) == 8
        assert client.destroy_intr_chan() == vxi11.ErrorCodes.channel_not_established
        assert client.device_enable_srq(lid, True, b"h") == 6
        assert client.device_docmd(lid, 0, 1000, 0, 1, False, 1, b"")[0] == 8
        assert client.create_link(7, False, 0, "gpib0,5")[0] == 3  # no such device here
    finally:
        client.close()


def rpc_exchange(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(oncrpc.record(payload))
    header = exactly(sock, 4)
    return exactly(sock, struct.unpack(">I", header)[0] & 0x7FFF_FFFF)


def call(xid: int, program: int, version: int, procedure: int, args: bytes = b"") -> bytes:
    return oncrpc.pack(xid, 0, 2, program, version, procedure, 0, b"", 0, b"") + args


def reply_status(reply: bytes) -> tuple[int, int, int]:
    """(xid, reply_stat, accept_stat or reject_stat) of a reply record."""
    xid, kind, stat = struct.unpack(">III", reply[:12])
    assert kind == 1
    detail = struct.unpack(">I", reply[12:16] if stat else reply[20:24])[0]
    return xid, stat, detail


def test_malformed_rpc_records_get_errors_and_other_clients_go_on(gateway: LanGateway) -> None:
    core = (gateway.server.host, gateway.server.core_port)  # type: ignore[union-attr]
    with visa_session(gateway.address) as resource, socket.create_connection(core) as sock:
        sock.settimeout(2.0)
        truncated = call(1, vxi11.DEVICE_CORE_PROG, 1, 10, oncrpc.pack(7))  # create_link, cut
        assert reply_status(rpc_exchange(sock, truncated)) == (1, 0, oncrpc.GARBAGE_ARGS)
        assert reply_status(rpc_exchange(sock, call(2, 123, 1, 10))) == (2, 0, 1)  # PROG_UNAVAIL
        mismatch = rpc_exchange(sock, call(3, vxi11.DEVICE_CORE_PROG, 9, 10))
        assert reply_status(mismatch) == (3, 0, oncrpc.PROG_MISMATCH)
        assert reply_status(rpc_exchange(sock, call(4, vxi11.DEVICE_CORE_PROG, 1, 99))) == (
            4,
            0,
            oncrpc.PROC_UNAVAIL,
        )
        wrong_rpc = oncrpc.pack(5, 0, 3, vxi11.DEVICE_CORE_PROG, 1, 10, 0, b"", 0, b"")
        assert reply_status(rpc_exchange(sock, wrong_rpc))[:2] == (5, 1)  # MSG_DENIED
        assert resource.query("*IDN?") == IDENTITY
        sock.sendall(struct.pack(">I", 0xFFFF_FFFF))  # a 2 GB fragment: cannot be followed
        assert sock.recv(100) == b""  # dropped
        assert resource.query("*IDN?") == IDENTITY


def test_a_client_that_leaves_mid_read_costs_the_others_nothing(gateway: LanGateway) -> None:
    server = gateway.server
    assert isinstance(server, server_vxi11.Vxi11Server)
    leaving = core_client(gateway)
    lid = link(leaving)
    assert leaving.device_lock(lid, 0, 0) == 0
    leaving.device_write(lid, 1000, 0, vxi11.OP_FLAG_END, b":WAV:DATA?\n")
    leaving.packer.reset()
    leaving.start_call(vxi11.DEVICE_READ)
    leaving.packer.pack_device_read_parms((lid, 10_000_000, 5000, 0, 0, 0))
    rpc._sendrecord(leaving.sock, leaving.packer.get_buf())
    leaving.sock.recv(65536)  # the reply has begun ...
    leaving.close()  # ... and the client is gone
    wait_until(lambda: not server._links, timeout=2.0)  # its link and lock went with it
    with visa_session(gateway.address) as resource:
        resource.lock_excl()
        assert resource.query("*IDN?") == IDENTITY
        resource.unlock()


def test_each_instrument_has_its_own_loopback_address() -> None:
    with (
        LanGateway(BlockInstrument(), "vxi11") as first,
        LanGateway(BlockInstrument(), "vxi11") as second,
    ):
        assert first.address != second.address
        for served in (first, second):
            with visa_session(served.address) as resource:
                assert resource.query("*IDN?") == IDENTITY


def test_where_port_111_cannot_be_bound_the_error_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_vxi11, "sys", SimpleNamespace(platform="darwin"))
    reason = server_vxi11.unavailable_reason()
    assert reason is not None and "Linux" in reason and "visa=hislip" in reason
    monkeypatch.setattr(server_vxi11, "sys", SimpleNamespace(platform="linux"))
    start = TcpServer.start

    def unprivileged(self: Any) -> None:  # as for a user without CAP_NET_BIND_SERVICE
        if self._requested_port == server_vxi11.PORTMAPPER_PORT:
            raise PermissionError(13, "Permission denied")
        start(self)

    monkeypatch.setattr(TcpServer, "start", unprivileged)
    before = set(threading.enumerate())
    with pytest.raises(SimulatorError, match=r"port 111, which only root"):
        LanGateway(BlockInstrument(), "vxi11").start()
    assert set(threading.enumerate()) <= before  # the instrument it had started is stopped


# -- the simulated bench over VXI-11 ------------------------------------------------------------


def bench(*roles: tuple[str, str, str]) -> dict[str, Any]:
    instruments = {
        role: {"driver": driver, "resource": f"sim://{role}?{query}"}
        for role, driver, query in roles
    }
    return {"schema_version": 1, "instruments": instruments}


def test_the_resolved_bench_names_vxi11_resources_and_the_driver_works_over_them() -> None:
    roles = (("smu", "keithley.k2450", "visa=vxi11"), ("scope", "rigol.ds1000z", "visa=vxi11"))
    with SimulatedBench(PROFILE, bench(*roles)) as sim:
        resources = {r: s["resource"] for r, s in sim.resolved_bench()["instruments"].items()}
        for resource in resources.values():
            assert resource.startswith("TCPIP::127.") and resource.endswith("::inst0::INSTR")
        smu = open_instrument("keithley.k2450", resources["smu"], role="smu")
        scope = open_instrument("rigol.ds1000z", resources["scope"], role="scope")
        try:
            smu.source_voltage(5.0, current_limit=0.01)  # type: ignore[attr-defined]
            smu.output_on()  # type: ignore[attr-defined]
            assert smu.measure_current() == pytest.approx(45e-6, rel=0.05)  # type: ignore[attr-defined]
            waveform = scope.fetch_waveform(1, "max")  # type: ignore[attr-defined]
            assert len(waveform) >= 1000 and waveform.unit == "V"
        finally:
            smu.close()
            scope.close()


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("fault=late&after=2&delay=1", InstrumentTimeoutError, r"no reply within 0\.3 s"),
        ("fault=garbage&after=2", ProtocolError, "garbled"),
        ("fault=drop&after=2", ConnectionLostError, "connection lost"),
    ],
)
def test_faults_keep_working_over_vxi11(query: str, error: type[Exception], message: str) -> None:
    with SimulatedBench(PROFILE, bench(("smu", "keithley.k2450", f"{query}&visa=vxi11"))) as sim:
        smu = open_instrument("keithley.k2450", sim.addresses["smu"], role="smu", timeout=0.3)
        try:
            with pytest.raises(error, match=message):
                smu.identify()
        finally:
            smu.close()


def test_after_an_endless_reply_over_vxi11_the_next_query_gets_its_answer() -> None:
    roles = ("smu", "keithley.k2450", "fault=endless&after=2&visa=vxi11")
    with SimulatedBench(PROFILE, bench(roles)) as sim:
        smu = open_instrument("keithley.k2450", sim.addresses["smu"], role="smu", timeout=0.3)
        try:
            with pytest.raises(ProtocolError, match="without its termination"):
                smu.identify()
            assert "MODEL 2450" in str(smu.identify())  # device clear: in step again
        finally:
            smu.close()


def test_a_bad_visa_setting_or_a_serial_role_over_vxi11_is_refused() -> None:
    with pytest.raises(SimulatorError, match=r"smu\.resource.*visa='vxi12'.*socket, vxi11, hislip"):
        SimulatedBench(PROFILE, bench(("smu", "keithley.k2450", "visa=vxi12")))
    with pytest.raises(SimulatorError, match=r"uart.*visa=vxi11 serves a SCPI instrument"):
        SimulatedBench(PROFILE, bench(("uart", "serial.debug_port", "visa=vxi11")))
