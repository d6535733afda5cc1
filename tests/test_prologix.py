"""A Keithley 2400 on GPIB behind a Prologix GPIB-ETHERNET adapter (`prologix://HOST/PAD`).

The simulated bench puts the simulated 2400 on the bus of a simulated adapter that speaks the
`++` command set (`sim://smu?gpib=24`); the driver reaches it through `PrologixTransport`.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchtest.config.assets import DEMO_DUT, asset
from benchtest.config.bench import Bench
from benchtest.driver import prologix
from benchtest.driver.ownership import resource_key
from benchtest.driver.prologix import PrologixAddress, PrologixTransport
from benchtest.driver.registry import open_instrument
from benchtest.sim.bench import SimulatedBench
from benchtest.sim.models.load import OpenCircuit
from benchtest.sim.server.timing import REAL
from benchtest.sim.simulators.keithley2400 import Keithley2400
from benchtest.sim.simulators.prologix import VERSION, PrologixAdapter
from benchtest.values.errors import (
    ConfigError,
    ConnectionLostError,
    InstrumentError,
    InstrumentTimeoutError,
    ProtocolError,
    SimulatorError,
)

PROFILE = yaml.safe_load(asset(DEMO_DUT).read_text(encoding="utf-8"))


def _bench(resource: str) -> dict[str, object]:
    return {
        "schema_version": 1,
        "instruments": {"smu": {"driver": "keithley.k2400", "resource": resource}},
    }


@pytest.fixture
def simulated() -> Iterator[SimulatedBench]:
    with SimulatedBench(PROFILE, _bench("sim://smu?gpib=24")) as bench:
        yield bench


@pytest.fixture
def adapter() -> Iterator[tuple[PrologixAdapter, Keithley2400, Keithley2400]]:
    first, second = Keithley2400(OpenCircuit()), Keithley2400(OpenCircuit())
    second.identity = "KEITHLEY INSTRUMENTS INC.,MODEL 2410,1234567,C33"
    with PrologixAdapter({24: first, 22: second}) as served:
        yield served, first, second


def test_k2400_behind_prologix_identifies_sources_measures_and_is_safe_at_close(
    simulated: SimulatedBench,
) -> None:
    resource = simulated.addresses["smu"]
    assert resource.startswith("prologix://127.0.0.1:") and resource.endswith("/24")
    k2400 = simulated.simulators["smu"]
    assert isinstance(k2400, PrologixAdapter)
    with open_instrument("keithley.k2400", resource, role="smu", timeout=2.0) as smu:
        assert smu.identify().model == "MODEL 2400"
        smu.source_voltage(3.3, current_limit=0.05)  # type: ignore[attr-defined]
        smu.output_on()  # type: ignore[attr-defined]
        assert smu.measure_voltage() == pytest.approx(3.3, abs=0.01)  # type: ignore[attr-defined]
        assert smu.measure_current() > 0  # type: ignore[attr-defined]  # the LDO draws
    instrument = k2400.instrument(24)
    assert instrument.handle_line(":OUTPut?") == ["0"]  # safe state at close: output off
    assert float(str(instrument.handle_line(":SOURce:VOLTage?")[0])) == 0.0
    assert {"savecfg 0", "mode 1", "auto 0", "eoi 1", "addr 24", "read eoi"} <= set(k2400.commands)


def test_a_wrong_gpib_address_times_out_naming_the_address(simulated: SimulatedBench) -> None:
    resource = simulated.addresses["smu"].replace("/24", "/25")
    started = time.monotonic()
    with pytest.raises(InstrumentTimeoutError) as caught:
        open_instrument("keithley.k2400", resource, role="smu", timeout=0.3)
    assert time.monotonic() - started < 2.0
    message = str(caught.value)
    assert "no reply within 0.3 s from GPIB address 25 behind the Prologix adapter at" in message
    assert message.startswith("[smu]")


def test_a_reading_slower_than_the_adapter_read_timeout_is_asked_for_again(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served, first, _ = adapter
    first.use_timing(REAL)
    monkeypatch.setattr(prologix, "MAX_READ_TMO", 0.05)  # the adapter gives up after 50 ms
    monkeypatch.setattr(prologix, "MARGIN", 0.03)
    transport = PrologixTransport.open(served.address_of(24), role="smu", timeout=2.0)
    try:
        transport.write(":SENSe:CURRent:NPLC 5")  # a reading takes 0.2 s and more
        reply = transport.query(":READ?")
    finally:
        transport.close()
    assert len(reply.split(",")) == 5
    assert served.commands.count("read eoi") >= 3
    assert "read_tmo_ms 50" in served.commands


def test_a_late_reply_is_never_read_as_the_answer_to_the_next_query(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400],
) -> None:
    served, first, _ = adapter
    first.use_timing(REAL)
    transport = PrologixTransport.open(served.address_of(24), role="smu", timeout=0.1)
    try:
        transport.write(":SENSe:CURRent:NPLC 10")  # 0.4 s: longer than the timeout
        with pytest.raises(InstrumentTimeoutError, match="GPIB address 24"):
            transport.query(":READ?")
        transport.timeout = 2.0
        assert transport.query("*IDN?").startswith("KEITHLEY INSTRUMENTS INC.,MODEL 2400")
    finally:
        transport.close()
    assert "clr" in served.commands  # resync: Selected Device Clear


def test_two_instruments_share_one_adapter_connection_without_interleaving(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400],
) -> None:
    served = adapter[0]
    a = PrologixTransport.open(served.address_of(24), role="a", timeout=2.0)
    b = PrologixTransport.open(served.address_of(22), role="b", timeout=2.0)
    replies: dict[str, list[str]] = {"a": [], "b": []}

    def ask(transport: PrologixTransport) -> None:
        for _ in range(20):
            replies[transport.role].append(transport.query("*IDN?"))

    try:
        threads = [threading.Thread(target=ask, args=(t,)) for t in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        a.close()
        b.close()
    assert {r.split(",")[1] for r in replies["a"]} == {"MODEL 2400"}
    assert {r.split(",")[1] for r in replies["b"]} == {"MODEL 2410"}
    assert served.commands.count("ver") == 1  # one connection, set up once
    assert prologix._ADAPTERS == {}  # the last user closed it


def test_special_characters_are_escaped_on_the_way_to_the_instrument(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400],
) -> None:
    served = adapter[0]
    transport = PrologixTransport.open(served.address_of(24), role="smu", timeout=2.0)
    try:
        transport.write(":SOURce:VOLTage +1.5")  # '+' would otherwise start a ++ command
        assert float(transport.query(":SOURce:VOLTage?")) == 1.5
        assert transport.query(":SYSTem:ERRor?").startswith("0,")
    finally:
        transport.close()


def _talk(sock: socket.socket, *lines: bytes, expect: int = 0) -> list[bytes]:
    """Send `lines` to the adapter and return the `expect` reply lines."""
    sock.sendall(b"".join(lines))
    got = b""
    while got.count(b"\n") < expect:
        got += sock.recv(4096)
    return got.splitlines()


def _until_answer_waits(sock: socket.socket) -> None:
    """Serial-poll until the instrument's answer waits in its output queue (MAV, bit 4)."""
    deadline = time.monotonic() + 2.0
    while _talk(sock, b"++spoll\n", expect=1) != [b"16"]:
        assert time.monotonic() < deadline, "the answer never became available"


@pytest.fixture
def host(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400],
) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", adapter[0].port), timeout=2.0) as sock:
        yield sock


def test_the_simulated_adapter_speaks_the_prologix_command_set(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400], host: socket.socket
) -> None:
    replies = _talk(
        host,
        b"++ver\n++addr 24\n++addr\n++eos 2\n++eos\n++read_tmo_ms 4000\n++read_tmo_ms\n",
        b"++bogus\n++auto 1\n*IDN?\n++auto 0\n++savecfg\n++mode\n++ifc\n++clr\n++help\n",
        expect=9,
    )
    assert replies[0].decode() == VERSION
    assert replies[1:5] == [b"24", b"2", b"500", b"Unrecognized command"]  # 4000 is refused
    assert replies[5].startswith(b"KEITHLEY INSTRUMENTS INC.,MODEL 2400")  # read-after-write
    assert replies[6:8] == [b"1", b"1"]
    assert replies[8].startswith(b"++addr")
    assert _talk(host, b"++spoll\n", expect=1) == [b"0"]  # nothing to read
    _talk(host, b"*IDN?\n")
    _until_answer_waits(host)
    assert _talk(host, b"++read eoi\n", expect=1) == replies[5:6]


def test_the_simulated_instrument_reports_interrupted_and_unterminated_queries(
    adapter: tuple[PrologixAdapter, Keithley2400, Keithley2400], host: socket.socket
) -> None:
    first = adapter[1]
    _talk(host, b"++read_tmo_ms 20\n++addr 24\n*IDN?\n")
    _until_answer_waits(host)
    _talk(host, b":SOURce:VOLTage 1\n++ver\n", expect=1)  # the *IDN? answer is never read
    assert first.next_error().startswith("-410,")
    _talk(host, b"++read_tmo_ms 500\n++read eoi\n++ver\n", expect=1)
    assert first.next_error().startswith("-420,")  # addressed to talk with nothing to say


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prologix://192.168.1.50/24", PrologixAddress("192.168.1.50", 1234, 24)),
        ("PROLOGIX://gpib-lab:4000/5/2", PrologixAddress("gpib-lab", 4000, 5, 2)),
        ("prologix://[fe80::1]/7", PrologixAddress("fe80::1", 1234, 7)),
    ],
)
def test_prologix_addresses_parse(text: str, expected: PrologixAddress) -> None:
    assert PrologixAddress.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("prologix://192.168.1.50", "expected prologix://HOST[:PORT]/GPIB-ADDRESS"),
        ("prologix://host/31", "GPIB addresses are 0 to 30"),
        ("prologix://host/24/x", "GPIB primary address (0-30)"),
        ("prologix://host:0/24", "TCP port 0"),
    ],
)
def test_a_malformed_prologix_address_says_what_was_expected(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        PrologixAddress.parse(text)


def test_one_lock_per_instrument_behind_an_adapter() -> None:
    key = resource_key("PROLOGIX://Lab-GPIB:1234/24", resolve=False)
    assert key == resource_key("prologix://lab-gpib/24", resolve=False)
    assert key != resource_key("prologix://lab-gpib/25", resolve=False)


def test_a_bench_file_with_a_malformed_prologix_resource_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(_bench("prologix://192.168.1.50/99")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"instruments\.smu\.resource.*0 to 30"):
        Bench.load(path)


def test_an_unreachable_or_silent_adapter_is_named() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(
        ConnectionLostError, match=f"cannot reach the Prologix adapter at 127.0.0.1:{port}"
    ):
        PrologixTransport.open(f"prologix://127.0.0.1:{port}/24", timeout=0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(
            ConnectionLostError, match=re.escape("does not answer ++ver within 0.2 s")
        ):
            PrologixTransport.open(f"prologix://127.0.0.1:{port}/24", timeout=0.2)


def test_a_write_termination_the_adapter_cannot_send_is_refused() -> None:
    with pytest.raises(InstrumentError, match="CR LF, CR, LF or nothing"):
        PrologixTransport.open("prologix://127.0.0.1/24", write_termination=";")


def test_gpib_setting_of_the_simulated_bench_is_checked() -> None:
    with pytest.raises(SimulatorError, match="gpib='31': expected a GPIB address from 0 to 30"):
        SimulatedBench(PROFILE, _bench("sim://smu?gpib=31"))


def test_a_lost_adapter_connection_is_named_and_reopening_gets_a_new_one() -> None:
    first = PrologixAdapter({24: Keithley2400(OpenCircuit())})
    first.start()
    port = first.port
    transport = PrologixTransport.open(first.address_of(24), role="smu", timeout=1.0)
    try:
        first.stop()  # the adapter goes away (power, network)
        lost = f"connection to the Prologix adapter at 127.0.0.1:{port} lost"
        with pytest.raises(ConnectionLostError, match=re.escape(lost)):
            transport.query("*IDN?")
        with PrologixAdapter({24: Keithley2400(OpenCircuit())}, port=port) as second:
            again = PrologixTransport.open(second.address_of(24), role="smu", timeout=1.0)
            try:
                assert again.query("*IDN?").startswith("KEITHLEY INSTRUMENTS INC.")
            finally:
                again.close()
    finally:
        transport.close()
    assert prologix._ADAPTERS == {}


class _ScriptedAdapter:
    """A loopback Prologix adapter that answers `++ver`, and `++read` with the reply to the
    last instrument command from `replies` (command -> bytes)."""

    def __init__(self, replies: dict[str, bytes]) -> None:
        self.replies = replies
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        pending, reply = b"", b""
        with connection:
            while True:
                data = connection.recv(4096)
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    command = line.decode().strip()
                    if command == "++ver":
                        connection.sendall(VERSION.encode() + b"\n")
                    elif command.startswith("++read"):
                        connection.sendall(reply)
                        reply = b""
                    elif not command.startswith("++"):
                        reply = self.replies.get(command, b"")

    def stop(self) -> None:
        self._thread.join(timeout=5)
        self._listener.close()
        assert not self._thread.is_alive()


@pytest.mark.parametrize("header", [b"#3ab5", b"#2+5", b"#2 5"])
def test_a_block_header_whose_byte_count_is_not_a_number_is_a_protocol_error(
    header: bytes,
) -> None:
    adapter = _ScriptedAdapter({"DATA?": header + b"hello\n", "*OPC?": b"1\n"})
    transport = PrologixTransport.open(f"prologix://127.0.0.1:{adapter.port}/5", timeout=0.5)
    try:
        with pytest.raises(ProtocolError, match="byte count is not a number") as info:
            transport.read_block("DATA?")
        assert info.value.received == header
        assert transport.query("*OPC?") == "1"  # back in step
    finally:
        transport.close()
        adapter.stop()
