"""Real instrument timing of the simulated bench (`sim://<role>?timing=real`).

Every time check is a lower bound (a reading took at least its integration time), or a state
read off a manual clock, so a loaded machine cannot fail it; instant timing stays the default.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.driver.registry import open_instrument
from benchtest.sim import LdoModel, SimulatedBench, SupplyState, World
from benchtest.sim.server.timing import (
    INSTANT,
    REAL,
    RIGOL_DP800,
    SIGLENT_SPD3303X,
    Timing,
    wire_time,
)
from benchtest.sim.simulators.debug_port import Firmware, PortConfig, SocketDebugPort
from benchtest.sim.simulators.keithley2400 import Keithley2400
from benchtest.sim.simulators.keithley2450 import Keithley2450
from benchtest.sim.simulators.keysight_b2900 import KeysightB2900
from benchtest.sim.simulators.rigol_dp800 import RigolDP800
from benchtest.sim.simulators.rigol_ds1000z import RigolDS1000Z
from benchtest.sim.simulators.siglent_spd3303x import SiglentSPD3303X
from benchtest.sim.simulators.smu import SourceMeterServer
from benchtest.sim.simulators.supply import SupplyServer
from benchtest.sim.testing import ManualClock, visa_session
from benchtest.values.errors import SimulatorError

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
SIM_BENCH: dict[str, Any] = yaml.safe_load((ROOT / "benches/sim.yaml").read_text())
LIMIT = 0.01  # A


def world(clock: Callable[[], float] = time.monotonic) -> World:
    return World(LdoModel.from_mapping(PROFILE["model"]), clock=clock)


def timing_of(simulator: Any) -> Timing:
    delays = simulator.delays if hasattr(simulator, "delays") else simulator.wire.delays
    timing: Timing = delays.timing
    return timing


def bench(**resources: str) -> dict[str, Any]:
    drivers = {"smu": "keithley.k2450", "scope": "rigol.ds1000z", "uart": "serial.debug_port"}
    instruments = {role: {"driver": drivers[role], "resource": r} for role, r in resources.items()}
    return {"schema_version": 1, "instruments": instruments}


@pytest.fixture
def real_smu(request: pytest.FixtureRequest) -> Iterator[SourceMeterServer]:
    model: type[SourceMeterServer] = getattr(request, "param", Keithley2450)
    server = model(world())
    server.use_timing(REAL)
    with server:
        yield server


def took(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


# -- the option ------------------------------------------------------------------------------


def test_instant_timing_is_the_default() -> None:
    simulated = SimulatedBench(PROFILE, SIM_BENCH)
    assert {role: timing_of(sim) for role, sim in simulated.simulators.items()} == dict.fromkeys(
        simulated.simulators, INSTANT
    )
    assert timing_of(Keithley2450(world())) == INSTANT


def test_timing_comes_from_the_resource_or_the_bench_wide_default() -> None:
    resources = bench(smu="sim://smu?timing=real&line_frequency=60", scope="sim://scope")
    simulators = SimulatedBench(PROFILE, resources).simulators
    assert timing_of(simulators["smu"]) == Timing("real", 60.0)
    assert timing_of(simulators["scope"]) == INSTANT

    resources = bench(smu="sim://smu", scope="sim://scope?timing=instant", uart="sim://uart")
    simulators = SimulatedBench(PROFILE, resources, timing=REAL).simulators
    assert timing_of(simulators["smu"]) == REAL
    assert timing_of(simulators["uart"]) == REAL
    assert timing_of(simulators["scope"]) == INSTANT


def test_a_faulty_instrument_keeps_its_timing() -> None:
    resources = bench(smu="sim://smu?fault=slow&delay=0.1&timing=real")
    assert timing_of(SimulatedBench(PROFILE, resources).simulators["smu"].simulator) == REAL


def test_an_unknown_timing_names_the_resource_and_the_allowed_values() -> None:
    with pytest.raises(SimulatorError) as error:
        SimulatedBench(PROFILE, bench(smu="sim://smu?timing=fast"))
    message = str(error.value)
    assert "instruments.smu.resource 'sim://smu?timing=fast'" in message
    assert "unknown timing 'fast'" in message
    assert "allowed values: instant, real" in message


def test_a_misspelt_setting_is_refused_not_ignored() -> None:
    with pytest.raises(SimulatorError) as error:
        SimulatedBench(PROFILE, bench(smu="sim://smu?timming=real"))
    message = str(error.value)
    assert "resource 'sim://smu?timming=real': unknown setting(s) timming" in message
    assert "sim:// resources take fault, delay, after, match, timing" in message


def test_a_line_frequency_other_than_50_or_60_hz_is_refused() -> None:
    with pytest.raises(SimulatorError, match=r"sim://smu\?timing=real&line_frequency=55.*50, 60"):
        SimulatedBench(PROFILE, bench(smu="sim://smu?timing=real&line_frequency=55"))


# -- source-measure units --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real_smu", "driver"),
    [
        (Keithley2450, "keithley.k2450"),
        (Keithley2400, "keithley.k2400"),
        (KeysightB2900, "keysight.b2900"),
    ],
    indirect=["real_smu"],
)
def test_a_10_nplc_reading_at_50_hz_takes_at_least_200_ms(
    real_smu: SourceMeterServer, driver: str
) -> None:
    smu: Any = open_instrument(driver, real_smu.address, role="smu")
    try:
        smu.source_voltage(5.0, current_limit=LIMIT)
        smu.output_on()
        assert took(lambda: smu.measure_current(nplc=10)) >= 10 / 50
        smu.safe_state()
    finally:
        smu.close()


def test_autozero_doubles_a_2450_reading(real_smu: SourceMeterServer) -> None:
    with visa_session(real_smu.address) as smu:
        smu.write(":SENS:CURR:NPLC 5")
        assert smu.query(":SENS:CURR:AZER?") == "1"  # on after a reset, as on the instrument
        assert took(lambda: smu.query(":READ?")) >= 2 * 5 / 50
        smu.write(":SENS:CURR:AZER OFF")
        assert smu.query(":SENS:CURR:AZER?") == "0"


def test_the_line_frequency_is_reported_and_sets_the_integration_time() -> None:
    server = Keithley2400(world())
    server.use_timing(Timing("real", 60.0))
    with server, visa_session(server.address) as smu:
        assert smu.query(":SYST:LFR?") == "60"
        smu.write(":SYST:AZER OFF")
        smu.write(":SENS:CURR:NPLC 10")
        assert took(lambda: smu.query(":READ?")) >= 10 / 60


def test_a_buffered_sweep_takes_every_reading(real_smu: SourceMeterServer) -> None:
    smu: Any = open_instrument("keithley.k2450", real_smu.address, role="smu")
    try:
        levels = [3.5, 4.0, 4.5, 5.0, 5.5]
        sweep = took(lambda: smu.sweep_voltage(levels, current_limit=LIMIT, delay=0.0, nplc=1))
        assert sweep >= len(levels) * 2 * 1 / 50  # autozero on: two apertures a reading
        smu.safe_state()
    finally:
        smu.close()


def test_a_reading_after_the_source_changes_waits_for_the_auto_delay(
    real_smu: SourceMeterServer,
) -> None:
    with visa_session(real_smu.address) as smu:
        smu.write(":SENS:CURR:RANG 1e-8")  # the 10 nA range: 50 ms auto delay (2450 manual)
        smu.write(":SENS:CURR:NPLC 0.01")
        smu.write(":SENS:CURR:AZER OFF")
        smu.write(":SOUR:VOLT 1")
        assert smu.query("*OPC?") == "1"
        assert took(lambda: smu.query(":OUTP ON;:READ?")) >= 50e-3


def test_stopping_ends_a_long_sweep_at_once(real_smu: SourceMeterServer) -> None:
    client = socket.create_connection(("127.0.0.1", real_smu.port))
    try:
        # 100 readings of 10 PLC with autozero: 40 s on the instrument.
        client.sendall(b":SENS:CURR:NPLC 10;:SOUR:SWE:VOLT:LIN 0,5,100,0\n:INIT\n*OPC?\n")
        time.sleep(0.2)
        assert took(real_smu.stop) < 10.0
    finally:
        client.close()


def test_a_busy_instrument_does_not_hold_up_another() -> None:
    busy, idle = Keithley2450(world()), Keithley2450(world())
    for server in (busy, idle):
        server.use_timing(REAL)
    with busy, idle, visa_session(idle.address) as other:
        client = socket.create_connection(("127.0.0.1", busy.port))
        try:
            # Ten readings of 10 PLC with autozero: 4 s on `busy`, in its serving thread.
            client.sendall(b":SENS:CURR:NPLC 10;:SOUR:SWE:VOLT:LIN 0,5,10,0\n:INIT\n*OPC?\n")
            started = time.monotonic()
            other.write(":SENS:CURR:AZER OFF;:SENS:CURR:NPLC 0.01")
            other.query(":READ?")
            assert time.monotonic() - started < 4.0  # answered while `busy` integrates
            client.settimeout(0.0)
            with pytest.raises(BlockingIOError):
                client.recv(16)  # and `busy` has not finished
        finally:
            client.close()


# -- oscilloscopes ---------------------------------------------------------------------------


def single_shot(timing: Timing) -> tuple[RigolDS1000Z, ManualClock, Callable[[], str]]:
    """A DS1104Z on VOUT at 50 ms/div (a 600 ms record, half before the trigger), armed for a
    single rising edge through mid-scale at clock time 100 s."""
    clock = ManualClock(100.0)
    scope = RigolDS1000Z(world(clock), {1: "vout"})
    scope.use_timing(timing)
    for command in (":TIM:MAIN:SCAL 0.05", ":TRIG:EDG:SOUR CHAN1", ":TRIG:EDG:LEV 1.65"):
        scope.handle_line(command)
    scope.handle_line(":SINGle")
    return scope, clock, lambda: str(scope.handle_line(":TRIG:STAT?")[0])


def power_on(scope: RigolDS1000Z) -> None:
    scope.world.apply_supply(SupplyState(output=True, voltage=5.0, current_limit=LIMIT))


def test_a_scope_takes_no_trigger_until_its_pre_trigger_part_is_filled() -> None:
    scope, clock, status = single_shot(REAL)
    clock.now = 100.2
    assert status() == "RUN"  # still filling the 300 ms before the trigger
    power_on(scope)  # the edge comes too early
    clock.now = 100.35
    assert status() == "WAIT"
    clock.now = 101.0
    assert status() == "WAIT"  # the early edge was never taken

    scope, clock, status = single_shot(INSTANT)
    clock.now = 100.2
    power_on(scope)
    clock.now = 100.25
    assert status() == "TD"  # instant timing: armed at once


def test_a_single_acquisition_ends_its_record_after_the_trigger() -> None:
    scope, clock, status = single_shot(REAL)
    clock.now = 100.31
    assert status() == "WAIT"
    power_on(scope)  # VOUT crosses 1.65 V about 75 us later
    clock.now = 100.6
    assert status() == "TD"
    clock.now = 100.31 + 0.3 - 1e-3
    assert status() == "TD"  # the 300 ms after the trigger are still being recorded
    clock.now = 100.31 + 0.3 + 1e-3
    assert status() == "STOP"


# -- supplies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "on", "readback", "settle"),
    [
        (RigolDP800, ":OUTP CH1,ON", ":MEAS:CURR? CH1", RIGOL_DP800.settle),
        (SiglentSPD3303X, "OUTPut CH1,ON", "MEASure:CURRent? CH1", SIGLENT_SPD3303X.settle),
    ],
)
def test_a_supply_readback_waits_for_the_output_to_settle(
    model: type[SupplyServer], on: str, readback: str, settle: float
) -> None:
    server = model({1: world()})
    server.use_timing(REAL)
    with server, visa_session(server.address) as psu:
        assert took(lambda: (psu.write(on), psu.query(readback))) >= settle


# -- debug port ------------------------------------------------------------------------------


def test_the_debug_port_moves_10_bits_a_byte_at_its_baud_rate() -> None:
    config = PortConfig.from_mapping({**PROFILE["debug_port"], "baudrate": 1200})
    port = SocketDebugPort(Firmware(world(), config))
    port.use_timing(REAL)
    with port:
        host, number = port.address.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(number)), timeout=5) as client:
            assert read_until_prompt(client) == b"> "
            start = time.monotonic()
            client.sendall(b"id\r\n")
            reply = read_until_prompt(client)
            elapsed = time.monotonic() - start
    assert reply == b"BT-LDO33 rev B fw 1.2.0\r\n> "
    assert elapsed >= wire_time(len(b"id\r") + len(reply), 1200)


def read_until_prompt(client: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"> "):
        data += client.recv(256)
    return data


def test_stopping_a_port_ends_a_reply_on_the_wire() -> None:
    config = PortConfig.from_mapping({**PROFILE["debug_port"], "baudrate": 10})
    port = SocketDebugPort(Firmware(world(), config))
    port.use_timing(REAL)
    port.start()
    try:
        host, number = port.address.removeprefix("socket://").split(":")
        with socket.create_connection((host, int(number)), timeout=5) as client:
            client.sendall(b"id\r\n")  # about 30 s on a 10 Bd wire
            time.sleep(0.2)
            assert took(port.stop) < 10.0
    finally:
        port.stop()
