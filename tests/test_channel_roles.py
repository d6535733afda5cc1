"""The channels of one multi-channel instrument as roles: both channels of a B2902A, each a role,
share one claim and one connection, and each role makes its own channel safe."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest import Bench, DutProfile
from benchtest.driver.ownership import ChannelClaim, InstrumentBusyError, ResourceLock
from benchtest.driver.registry import open_instrument
from benchtest.driver.shared_connection import SharedConnection, exclusive
from benchtest.run.instrument_pool import InstrumentOpenError, InstrumentPool
from benchtest.sim.bench import SimulatedBench
from benchtest.sim.server.tcp import TcpServer
from benchtest.sim.simulators.keysight_b2900 import KeysightB2902
from benchtest.values.errors import ConnectionLostError, InstrumentError, SimulatorError
from benchtest.values.events import Event
from instruments.keysight.b2900 import KeysightB2900

REPO = Path(__file__).resolve().parents[1]
LDO = REPO / "dut_profiles" / "bt_ldo33.yaml"  # vin on role smu, vout_load on role load


def b2902_roles(**load_options: Any) -> dict[str, Any]:
    """`smu` on channel 1 of a simulated B2902A (the LDO's VIN), `load` on channel 2 (VOUT)."""
    return {
        "smu": {"driver": "keysight.b2900", "resource": "sim://b2902", "options": {"channel": 1}},
        "load": {
            "driver": "keysight.b2900",
            "resource": "sim://b2902",
            "options": {"channel": 2, **load_options},
        },
    }


def channel(pool: InstrumentPool, role: str) -> KeysightB2900:
    """The driver of `role`, one channel of the B2902A."""
    driver = pool[role]
    assert isinstance(driver, KeysightB2900)
    return driver


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The simulated instruments each connection made to a simulator went to, in order."""
    served: list[object] = []
    original = TcpServer._serve

    def serve(self: TcpServer, connection: Any) -> None:
        served.append(getattr(self._handler, "__self__", None))
        original(self, connection)

    monkeypatch.setattr(TcpServer, "_serve", serve)
    return served


@contextlib.contextmanager
def b2902_pool(
    tmp_path: Path, roles: dict[str, Any] | None = None
) -> Iterator[tuple[InstrumentPool, KeysightB2902, list[Event]]]:
    profile = yaml.safe_load(LDO.read_text(encoding="utf-8"))
    bench = {"schema_version": 1, "name": "b2902", "station": "t"}
    with SimulatedBench(profile, {**bench, "instruments": roles or b2902_roles()}) as sim:
        (tmp_path / "bench.yaml").write_text(sim.bench_yaml(), encoding="utf-8")
        events: list[Event] = []
        pool = InstrumentPool(
            Bench.load(tmp_path / "bench.yaml"), DutProfile.load(LDO), events.append
        )
        simulator = sim.simulators["smu"]
        assert isinstance(simulator, KeysightB2902) and sim.simulators["load"] is simulator
        try:
            yield pool, simulator, events
        finally:
            pool.close()


def test_both_channels_as_roles_share_one_connection_and_read_their_own_channel(
    tmp_path: Path, connections: list[object]
) -> None:
    with b2902_pool(tmp_path) as (pool, b2902, events):
        smu, load = channel(pool, "smu"), channel(pool, "load")
        smu.source_voltage(3.6, current_limit=0.1)
        smu.output_on()
        load.source_current(-2e-3, voltage_limit=5.0)  # sinks 2 mA from the LDO's output
        load.output_on()
        assert smu.measure_voltage() == pytest.approx(3.6)
        assert load.measure_voltage() == pytest.approx(3.3, abs=0.01)  # the LDO's output
        assert load.measure_current() == pytest.approx(-2e-3)
        assert smu.measure_current() == pytest.approx(2e-3, rel=0.05)  # load current + Iq
        assert (b2902.supply.output, b2902.second.supply.output) == (True, True)
        assert (b2902.supply.voltage, b2902.second.supply.current) == (3.6, -2e-3)
        outcomes = pool.make_safe()
        assert [(e.role, e.ok) for e in outcomes] == [("smu", True), ("load", True)]
        assert (b2902.supply.output, b2902.second.supply.output) == (False, False)
        assert b2902.second.supply.current == 0.0 and b2902.supply.voltage == 0.0
        identities = [e.identity for e in events if hasattr(e, "identity")]
        assert len(identities) == 2 and all("B2902A" in i for i in identities)
    assert connections == [b2902]  # one connection for both roles, closed with the pool


def test_the_claim_is_taken_with_the_first_channel_role_and_let_go_with_the_last(
    tmp_path: Path,
) -> None:
    with b2902_pool(tmp_path) as (pool, _, _):
        resource = pool.bench.roles["smu"].resource
        other_process = ResourceLock(resource, role="elsewhere")  # its own file descriptor
        pool["smu"]
        pool["load"]
        with pytest.raises(InstrumentBusyError, match="as role 'smu'"):
            other_process.acquire()
        pool.disconnect("smu")  # `load` still holds the instrument, and its connection
        with pytest.raises(InstrumentBusyError):
            other_process.acquire()
        assert pool["load"].identify().model == "B2902A"
        channel(pool, "smu").output_off()  # opened again on the connection `load` kept
        pool.disconnect("smu")
        pool.disconnect("load")
        other_process.acquire().release()  # the last channel role let go


def test_a_channel_claim_counts_its_shares_and_ignores_a_second_release(tmp_path: Path) -> None:
    first = ChannelClaim("TCPIP::192.0.2.7::5025::SOCKET", role="smu").acquire()
    second = ChannelClaim("tcpip::192.0.2.7::5025::socket", role="load").acquire()
    outsider = ResourceLock("TCPIP::192.0.2.7::5025::SOCKET", role="elsewhere")
    first.release()
    first.release()  # no second decrement: `load` still holds its share
    with pytest.raises(InstrumentBusyError):
        outsider.acquire()
    second.release()
    outsider.acquire().release()


def test_each_role_makes_its_own_channel_safe_after_a_failure_and_an_interrupt(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = pytester.path / "journal.jsonl"  # what the simulator process saw, by role
    monkeypatch.setenv("BENCHTEST_SIM_JOURNAL", str(journal))
    bench = {"schema_version": 1, "name": "b2902", "station": "t", "instruments": b2902_roles()}
    pytester.makefile(".yaml", bench=yaml.safe_dump(bench), ldo=LDO.read_text(encoding="utf-8"))
    pytester.makepyfile(
        test_plan="""
        import pytest

        def both_on(smu, load):
            assert smu.transport.connection is load.transport.connection
            smu.source_voltage(3.6, current_limit=0.1)
            smu.output_on()
            load.source_current(-1e-3, voltage_limit=5.0)
            load.output_on()
            assert smu.measure_voltage() == pytest.approx(3.6)
            assert load.measure_voltage() == pytest.approx(3.3, abs=0.01)

        def test_fails_with_both_outputs_on(smu, load):
            both_on(smu, load)
            assert False, "the plan failed"

        def test_is_interrupted_with_both_outputs_on(smu, load):
            both_on(smu, load)
            raise KeyboardInterrupt
        """
    )
    result = pytester.runpytest_inprocess(
        *("--sim", "--bench", "bench.yaml", "--dut", "ldo.yaml", "--results-dir", "results"),
        no_reraise_ctrlc=True,  # the plan's interrupt ends its own run, not this one
    )
    result.assert_outcomes(failed=1)  # then the interrupt ends the run
    result.stdout.fnmatch_lines(["*the plan failed*", "*KeyboardInterrupt*"])
    entries = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    outputs = {
        role: [e["value"] for e in entries if e["role"] == role and e["event"] == "output"]
        for role in ("smu", "load")
    }
    assert outputs == {"smu": [True, False] * 2, "load": [True, False] * 2}  # off after each


def test_a_lost_connection_is_reported_for_each_role_that_uses_it(tmp_path: Path) -> None:
    with b2902_pool(tmp_path) as (pool, b2902, _):
        smu, load = channel(pool, "smu"), channel(pool, "load")
        b2902.stop()  # the instrument is gone
        for role, instrument in (("smu", smu), ("load", load)):
            with pytest.raises(ConnectionLostError) as lost:
                instrument.measure_voltage()
            assert lost.value.role == role and f"[{role}]" in str(lost.value)
        outcomes = pool.make_safe()
        assert [(e.role, e.ok) for e in outcomes] == [("smu", False), ("load", False)]
        assert all("ConnectionLostError" in e.message for e in outcomes)


def test_a_channel_role_with_other_connection_options_is_refused(tmp_path: Path) -> None:
    with b2902_pool(tmp_path, b2902_roles(timeout=9.0)) as (pool, _, _):
        pool["smu"]
        with pytest.raises(InstrumentOpenError, match=r"\[load\].*same options.*timeout"):
            pool["load"]
        channel(pool, "smu").output_off()  # the first role is unharmed


def test_open_instrument_shares_the_connection_and_refuses_a_channel_twice() -> None:
    profile = yaml.safe_load(LDO.read_text(encoding="utf-8"))
    bench = {"schema_version": 1, "instruments": b2902_roles()}
    with SimulatedBench(profile, bench) as sim:
        address = sim.addresses["smu"]
        with (
            open_instrument("keysight.b2900", address, role="a", channel=1) as a,
            open_instrument("keysight.b2900", address, role="b", channel=2) as b,
        ):
            assert isinstance(a, KeysightB2900) and isinstance(b, KeysightB2900)
            with pytest.raises(InstrumentError, match=r"channel 2 .* already role 'b'"):
                open_instrument("keysight.b2900", address, role="c", channel=2)
            a.source_voltage(1.0, current_limit=0.01)
            b.source_voltage(2.0, current_limit=0.01)
            assert (a.voltage_setpoint, b.voltage_setpoint) == (1.0, 2.0)
        # both closed: the next open connects afresh
        with open_instrument("keysight.b2900", address, role="a", channel=2) as again:
            assert isinstance(again, KeysightB2900)
            assert again.voltage_setpoint == 0.0  # left at 0 by b's safe state


def test_exchanges_of_two_roles_never_overlap() -> None:
    inside = threading.Lock()
    overlaps: list[str] = []

    class Slow:
        role = "first"

        def query(self, command: str) -> str:
            if not inside.acquire(blocking=False):
                overlaps.append(command)
                return ""
            time.sleep(0.002)
            inside.release()
            return f"{self.role}:{command}"

        def write(self, command: str) -> None: ...

        def read_block(self, command: str) -> bytes:
            return b""

        def resync(self) -> None: ...

        def close(self) -> None: ...

    connection = SharedConnection(Slow(), driver="keysight.b2900", settings={})
    views = [connection.join(role, channel) for channel, role in ((1, "smu"), (2, "load"))]
    replies: dict[str, list[str]] = {"smu": [], "load": []}

    def run(view: Any) -> None:
        for _ in range(20):
            replies[view.role].append(view.query("X?"))

    threads = [threading.Thread(target=run, args=(view,)) for view in views]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert replies == {"smu": ["smu:X?"] * 20, "load": ["load:X?"] * 20}  # each named its role


def test_a_safe_state_is_one_sequence_on_a_shared_connection() -> None:
    """Each role's safe state (output off, level 0, error queue) runs whole, so an error the
    instrument queued is read by the role whose command caused it."""
    sent: list[str] = []

    class Recording:
        role = "first"

        def query(self, command: str) -> str:
            sent.append(f"{self.role} {command}")
            time.sleep(0.001)
            return "0"

        def write(self, command: str) -> None:
            sent.append(f"{self.role} {command}")
            time.sleep(0.001)

        def read_block(self, command: str) -> bytes:
            return b""

        def resync(self) -> None: ...

        def close(self) -> None: ...

    connection = SharedConnection(Recording(), driver="keysight.b2900", settings={})
    views = [connection.join(role, number) for number, role in ((1, "smu"), (2, "load"))]

    def safe_state(view: Any) -> None:
        for _ in range(5):
            with exclusive(view):
                view.write(":OUTP OFF")
                view.write(":SOUR:VOLT 0")
                view.query(":SYST:ERR?")

    threads = [threading.Thread(target=safe_state, args=(view,)) for view in views]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = [sent[i : i + 3] for i in range(0, len(sent), 3)]
    assert len(runs) == 10
    assert all(len({line.split()[0] for line in run}) == 1 for run in runs)  # never mixed


def test_the_simulated_b2902a_addresses_channel_2_as_the_manual_does() -> None:
    from benchtest.sim.models.load import OpenCircuit

    b2902 = KeysightB2902(OpenCircuit(), OpenCircuit(), role="a", second_role="b")

    def ask(line: str) -> list[str]:
        return [str(reply) for reply in b2902.handle_line(line)]

    ask(":SOUR2:FUNC:MODE VOLT;:SOURce2:VOLTage 1.5;:OUTPut2:STATe ON;:SOUR1:VOLT 0.5")
    assert ask(":SOUR2:VOLT?;:SOUR:VOLT?;:OUTP2?;:OUTP?") == [
        "+1.500000E+00", "+5.000000E-01", "1", "0",
    ]  # fmt: skip
    assert ask(":MEAS:VOLT? (@2)") == ["+1.500000E+00"]
    assert ask(":MEAS:VOLT? (@1)") == ["+0.000000E+00"]  # channel 1's output is off
    ask(":SOUR3:VOLT 1;:MEAS:VOLT? (@1,2)")
    assert ask(":SYST:ERR?;:SYST:ERR?;:SYST:ERR?") == [
        '-113,"Undefined header"',
        '-224,"Illegal parameter value"',
        '+0,"No error"',
    ]
    ask("*RST")
    assert ask(":SOUR2:VOLT?;:OUTP2?") == ["+0.000000E+00", "0"]


def test_a_simulated_channel_taken_twice_or_missing_is_refused() -> None:
    profile = yaml.safe_load(LDO.read_text(encoding="utf-8"))
    roles = b2902_roles()
    roles["load"]["options"]["channel"] = 1
    with pytest.raises(SimulatorError, match="channel 1 of sim://b2902 is also role 'smu'"):
        SimulatedBench(profile, {"schema_version": 1, "instruments": roles})
    roles["load"]["options"]["channel"] = 3
    with pytest.raises(SimulatorError, match=r"instruments.load.options.channel: 3"):
        SimulatedBench(profile, {"schema_version": 1, "instruments": roles})
