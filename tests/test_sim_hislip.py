"""The simulated bench over HiSLIP: sessions as pyvisa-py opens them and as a raw client drives
the protocol; a 10 MB block in Data/DataEND messages, the device clear sequence mid-transfer,
locks, remote/local, status, malformed messages (Error, FatalError) and clients that leave
mid-read, with the server serving on and stopping cleanly."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvisa
import yaml
from lan_instrument import BLOCK, IDENTITY, exactly, served_over

from benchtest import open_instrument
from benchtest.driver.transport import VisaTransport
from benchtest.sim import SimulatedBench
from benchtest.sim.server import hislip
from benchtest.sim.server.gateway import LanGateway
from benchtest.sim.testing import visa_session, wait_until
from benchtest.values.errors import ConnectionLostError, InstrumentTimeoutError

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
IDENTITY_LINE = IDENTITY.encode() + b"\n"  # a reply as it arrives


@pytest.fixture
def gateway() -> Iterator[LanGateway]:
    with served_over("hislip") as served:
        yield served


class Client:
    """A HiSLIP client that speaks the protocol message by message."""

    def __init__(self, gateway: LanGateway, *, initialize: bool = True) -> None:
        address = ("127.0.0.1", gateway.server.port)  # type: ignore[union-attr]
        self.sync = socket.create_connection(address, timeout=2.0)
        self.asynchronous = socket.create_connection(address, timeout=2.0)
        self.session_id = 0
        self.largest = 0  # bytes of the largest Data/DataEND payload received
        if initialize:
            kind, control, parameter, _ = self.exchange(
                self.sync, hislip.INITIALIZE, 0, 0x0100_4142, b"hislip0"
            )
            assert (kind, control, parameter >> 16) == (hislip.INITIALIZE_RESPONSE, 0, 0x0100)
            self.session_id = parameter & 0xFFFF
            kind, _, vendor, _ = self.exchange(
                self.asynchronous, hislip.ASYNC_INITIALIZE, 0, self.session_id
            )
            assert (kind, vendor) == (hislip.ASYNC_INITIALIZE_RESPONSE, int.from_bytes(b"BT"))

    def send(
        self,
        sock: socket.socket,
        kind: int,
        control: int = 0,
        parameter: int = 0,
        payload: bytes = b"",
    ) -> None:
        sock.sendall(hislip.encode(kind, control, parameter, payload))

    def receive(self, sock: socket.socket) -> tuple[int, int, int, bytes]:
        prologue, kind, control, parameter, length = hislip.HEADER.unpack(
            exactly(sock, hislip.HEADER.size)
        )
        assert prologue == b"HS"
        return kind, control, parameter, exactly(sock, length)

    def exchange(
        self,
        sock: socket.socket,
        kind: int,
        control: int = 0,
        parameter: int = 0,
        payload: bytes = b"",
    ) -> tuple[int, int, int, bytes]:
        self.send(sock, kind, control, parameter, payload)
        return self.receive(sock)

    def reply(self) -> tuple[bytes, list[int]]:
        """One response message from the sync channel, and its messages' MessageIDs."""
        data, ids = b"", list[int]()
        while True:
            kind, _, parameter, payload = self.receive(self.sync)
            assert kind in (hislip.DATA, hislip.DATA_END), kind
            data, ids = data + payload, [*ids, parameter]
            self.largest = max(self.largest, len(payload))
            if kind == hislip.DATA_END:
                return data, ids

    def close(self) -> None:
        self.sync.close()
        self.asynchronous.close()


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def client(gateway: LanGateway) -> Iterator[Client]:
    opened = Client(gateway)
    yield opened
    opened.close()


def test_a_10_mb_block_arrives_whole_through_pyvisa_and_the_driver_transport(
    gateway: LanGateway,
) -> None:
    assert gateway.address == f"TCPIP::127.0.0.1::hislip0,{gateway.server.port}::INSTR"  # type: ignore[union-attr]
    with visa_session(gateway.address, timeout=10.0) as resource:
        assert resource.query("*IDN?") == IDENTITY
        data = resource.query_binary_values(":WAV:DATA?", datatype="B", container=bytes)
        assert data == BLOCK
    transport = VisaTransport.open(gateway.address, role="scope", timeout=10.0)
    try:
        assert transport.read_block(":WAV:DATA?") == BLOCK
        assert transport.query("*IDN?") == IDENTITY
    finally:
        transport.close()


def test_replies_fit_the_clients_message_size_and_carry_the_querys_message_id(
    client: Client,
) -> None:
    kind, _, _, payload = client.exchange(
        client.asynchronous, hislip.ASYNC_MAX_MSG_SIZE, 0, 0, struct.pack("!Q", 65536)
    )
    assert (kind, payload) == (hislip.ASYNC_MAX_MSG_SIZE_RESPONSE, struct.pack("!Q", 1 << 20))
    client.send(client.sync, hislip.DATA, 0, 100, b":WAV:")  # one program message in two parts
    client.send(client.sync, hislip.DATA_END, 0, 102, b"DATA?")
    data, ids = client.reply()
    assert data == b"#9%09d" % len(BLOCK) + BLOCK + b"\n"
    assert set(ids) == {102} and client.largest == 65536 - hislip.HEADER.size
    client.send(client.sync, hislip.DATA_END, 0, 104, b"*IDN?\n")
    assert client.reply() == (IDENTITY_LINE, [104])


def test_device_clear_mid_transfer_drops_the_rest_of_the_block(client: Client) -> None:
    client.send(client.sync, hislip.DATA_END, 0, 10, b":WAV:DATA?\n")
    kind, _, parameter, payload = client.receive(client.sync)
    assert (kind, parameter) == (hislip.DATA, 10) and payload.startswith(b"#9010000000")
    kind, feature, _, _ = client.exchange(client.asynchronous, hislip.ASYNC_DEVICE_CLEAR)
    assert (kind, feature) == (hislip.ASYNC_DEVICE_CLEAR_ACKNOWLEDGE, 0)
    client.send(client.sync, hislip.DATA_END, 0, 12, b"*IDN?\n")  # dropped: clear under way
    client.send(client.sync, hislip.DEVICE_CLEAR_COMPLETE, 0)
    dropped = 0
    while (message := client.receive(client.sync))[0] != hislip.DEVICE_CLEAR_ACKNOWLEDGE:
        assert message[0] == hislip.DATA  # what was on its way when the clear began
        dropped += len(message[3])
    assert dropped < len(BLOCK)
    kind, _, _, _ = client.exchange(client.asynchronous, hislip.ASYNC_STATUS_QUERY, 0, 12)
    client.send(client.sync, hislip.DATA_END, 0, 0xFFFF_FF00, b"*IDN?\n")
    assert client.reply() == (IDENTITY_LINE, [0xFFFF_FF00])


def test_trigger_status_and_remote_local(gateway: LanGateway, client: Client) -> None:
    client.send(client.sync, hislip.TRIGGER, 0, 20)
    client.send(client.sync, hislip.DATA_END, 0, 22, b"*OPC?\n")
    assert client.reply() == (b"1\n", [22])
    assert gateway.instrument.triggers == 1  # type: ignore[attr-defined]
    kind, status, _, _ = client.exchange(client.asynchronous, hislip.ASYNC_STATUS_QUERY, 1, 22)
    assert (kind, status) == (hislip.ASYNC_STATUS_RESPONSE, 0)  # nothing waiting
    for code in range(7):
        reply = client.exchange(client.asynchronous, hislip.ASYNC_REMOTE_LOCAL_CONTROL, code, 22)
        assert reply == (hislip.ASYNC_REMOTE_LOCAL_RESPONSE, 0, 0, b"")
    kind, code, _, text = client.exchange(client.asynchronous, hislip.ASYNC_REMOTE_LOCAL_CONTROL, 9)
    assert (kind, code) == (hislip.ERROR, hislip.ERROR_CONTROL_CODE) and b"9" in text


def test_locks_exclusive_and_shared(gateway: LanGateway, client: Client) -> None:
    other = Client(gateway)
    try:
        lock = client.asynchronous
        assert client.exchange(lock, hislip.ASYNC_LOCK, 1, 0)[1] == hislip.LOCK_SUCCESS
        assert client.exchange(lock, hislip.ASYNC_LOCK, 1, 0)[1] == hislip.LOCK_ERROR  # held
        started = time.monotonic()
        assert other.exchange(other.asynchronous, hislip.ASYNC_LOCK, 1, 150)[1] == 0  # failure
        assert time.monotonic() - started >= 0.15
        assert client.exchange(lock, hislip.ASYNC_LOCK_INFO)[:3] == (
            hislip.ASYNC_LOCK_INFO_RESPONSE,
            1,
            1,
        )
        other.send(other.sync, hislip.DATA_END, 0, 1, b"*IDN?\n")  # held until the release
        time.sleep(0.05)
        assert client.exchange(lock, hislip.ASYNC_LOCK, 0, 0)[1] == hislip.LOCK_SUCCESS
        assert other.reply() == (IDENTITY_LINE, [1])
        assert client.exchange(lock, hislip.ASYNC_LOCK, 1, 0, b"key")[1] == hislip.LOCK_SUCCESS
        assert other.exchange(other.asynchronous, hislip.ASYNC_LOCK, 1, 0, b"key")[1] == 1
        assert other.exchange(other.asynchronous, hislip.ASYNC_LOCK, 1, 0)[1] == 0  # exclusive
        assert client.exchange(lock, hislip.ASYNC_LOCK_INFO)[:3] == (
            hislip.ASYNC_LOCK_INFO_RESPONSE,
            0,
            2,
        )
        assert client.exchange(lock, hislip.ASYNC_LOCK, 0, 0)[1] == hislip.LOCK_SHARED_RELEASED
        assert client.exchange(lock, hislip.ASYNC_LOCK, 0, 0)[1] == hislip.LOCK_ERROR  # none
    finally:
        other.close()
    wait_until(lambda: client.exchange(client.asynchronous, hislip.ASYNC_LOCK_INFO)[2] == 0)


def test_unknown_messages_get_error_and_the_session_goes_on(client: Client) -> None:
    sync = client.sync
    kind, code, _, _ = client.exchange(sync, 50)
    assert (kind, code) == (hislip.ERROR, hislip.ERROR_MESSAGE_TYPE)
    kind, code, _, _ = client.exchange(client.asynchronous, 200, 0, 0, b"vendor")
    assert (kind, code) == (hislip.ERROR, hislip.ERROR_VENDOR_MESSAGE)
    too_large = hislip.MAX_MESSAGE
    client.send(sync, hislip.DATA_END, 0, 2, b"x" * too_large)
    kind, code, _, text = client.receive(sync)
    assert (kind, code) == (hislip.ERROR, hislip.ERROR_TOO_LARGE) and b"byte message" in text
    size = client.exchange(client.asynchronous, hislip.ASYNC_MAX_MSG_SIZE, 0, 0, b"\x01")
    assert size[:2] == (hislip.ERROR, hislip.ERROR_UNIDENTIFIED)
    client.send(sync, hislip.DATA_END, 0, 4, b"*IDN?\n")
    assert client.reply() == (IDENTITY_LINE, [4])


def test_a_bad_prologue_is_fatal_for_that_client_only(gateway: LanGateway, client: Client) -> None:
    with visa_session(gateway.address) as resource:
        client.sync.sendall(b"XS" + bytes(14))
        kind, code, _, text = client.receive(client.sync)
        assert (kind, code) == (hislip.FATAL_ERROR, hislip.FATAL_BAD_HEADER) and b"prologue" in text
        assert closed(client.sync) and closed(client.asynchronous)
        assert resource.query("*IDN?") == IDENTITY


def test_a_broken_initialization_is_fatal(gateway: LanGateway) -> None:
    raw = Client(gateway, initialize=False)
    try:
        kind, code, _, _ = raw.exchange(raw.sync, hislip.DATA_END, 0, 0, b"*IDN?\n")
        assert (kind, code) == (hislip.FATAL_ERROR, hislip.FATAL_BAD_INIT) and closed(raw.sync)
        kind, code, _, _ = raw.exchange(raw.asynchronous, hislip.ASYNC_INITIALIZE, 0, 999)
        assert (kind, code) == (hislip.FATAL_ERROR, hislip.FATAL_BAD_INIT)
    finally:
        raw.close()
    raw = Client(gateway, initialize=False)
    try:
        kind, code, _, text = raw.exchange(raw.sync, hislip.INITIALIZE, 0, 0x0100_4142, b"inst3")
        assert (kind, code) == (hislip.FATAL_ERROR, hislip.FATAL_BAD_INIT) and b"inst3" in text
    finally:
        raw.close()
    raw = Client(gateway, initialize=False)
    try:
        raw.exchange(raw.sync, hislip.INITIALIZE, 0, 0x0100_4142, b"hislip0")
        kind, code, _, _ = raw.exchange(raw.sync, hislip.DATA_END, 0, 0, b"*IDN?\n")
        assert (kind, code) == (hislip.FATAL_ERROR, hislip.FATAL_CHANNELS)  # no async channel
    finally:
        raw.close()


def test_a_client_that_leaves_mid_read_costs_the_others_nothing(
    gateway: LanGateway, client: Client
) -> None:
    assert client.exchange(client.asynchronous, hislip.ASYNC_LOCK, 1, 0)[1] == 1
    client.send(client.sync, hislip.DATA_END, 0, 10, b":WAV:DATA?\n")
    client.receive(client.sync)  # the reply has begun ...
    client.close()  # ... and the client is gone
    with visa_session(gateway.address) as resource:
        assert resource.query("*IDN?") == IDENTITY  # its lock went with it


def test_the_resolved_bench_names_hislip_resources_and_a_fault_still_works() -> None:
    bench = {
        "schema_version": 1,
        "instruments": {
            "scope": {"driver": "rigol.ds1000z", "resource": "sim://scope?visa=hislip"},
            "smu": {
                "driver": "keithley.k2450",
                "resource": "sim://smu?visa=hislip&fault=late&after=2&delay=1",
            },
        },
    }
    with SimulatedBench(PROFILE, bench) as sim:
        resources = {r: s["resource"] for r, s in sim.resolved_bench()["instruments"].items()}
        for resource in resources.values():
            assert resource.startswith("TCPIP::127.0.0.1::hislip0,")
        with open_instrument("rigol.ds1000z", resources["scope"], role="scope") as scope:
            assert len(scope.fetch_waveform(1, "max")) >= 1000  # type: ignore[attr-defined]
        smu = open_instrument("keithley.k2450", resources["smu"], role="smu", timeout=0.3)
        try:
            with pytest.raises(InstrumentTimeoutError, match=r"no reply within 0\.3 s"):
                smu.identify()
        finally:
            smu.close()


def test_pyvisa_py_device_clear_and_status_byte(gateway: LanGateway) -> None:
    manager = pyvisa.ResourceManager("@py")
    try:
        resource: Any = manager.open_resource(gateway.address, read_termination="\n", timeout=2000)
        resource.clear()
        assert resource.read_stb() == 0
        assert resource.query("*IDN?") == IDENTITY
        resource.close()
    finally:
        manager.close()


def smu_bench(query: str) -> dict[str, Any]:
    resource = f"sim://smu?visa=hislip&{query}"
    return {
        "schema_version": 1,
        "instruments": {"smu": {"driver": "keithley.k2450", "resource": resource}},
    }


def test_a_dropped_instrument_over_hislip_is_a_lost_connection() -> None:
    with SimulatedBench(PROFILE, smu_bench("fault=drop&after=2")) as sim:
        smu = open_instrument("keithley.k2450", sim.addresses["smu"], role="smu", timeout=0.3)
        try:
            with pytest.raises(ConnectionLostError, match=r"\[smu\] connection lost.*'\*IDN\?'"):
                smu.identify()
        finally:
            smu.close()
