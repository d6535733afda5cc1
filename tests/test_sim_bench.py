"""SimulatedBench: one simulator per sim:// role, resolved addresses, one shared world."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest
import serial
import yaml

from benchtest.sim import Journal, SimulatedBench
from benchtest.sim.testing import visa_session
from benchtest.values.errors import SimulatorError

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
BENCH: dict[str, Any] = yaml.safe_load((ROOT / "benches/sim.yaml").read_text())


def test_resolved_bench_points_every_sim_role_at_a_live_address() -> None:
    with SimulatedBench(PROFILE, BENCH, serial_transport="socket") as sim:
        resolved = sim.resolved_bench()
        instruments = resolved["instruments"]
        assert instruments["smu"]["resource"].startswith("TCPIP::127.0.0.1::")
        assert instruments["smu"]["resource"].endswith("::SOCKET")
        assert instruments["uart"]["resource"].startswith("socket://127.0.0.1:")
        assert instruments["scope"]["options"] == {"timeout": 10.0}  # the rest is kept
        assert yaml.safe_load(sim.bench_yaml()) == resolved
        for role in ("smu", "scope"):
            with visa_session(instruments[role]["resource"]) as inst:
                assert inst.query("*IDN?").split(",")[1] in ("MODEL 2450", "DS1104Z")
    assert BENCH["instruments"]["smu"]["resource"] == "sim://smu"  # the input is not modified


def test_real_resources_are_left_alone() -> None:
    bench = copy.deepcopy(BENCH)
    bench["instruments"]["dmm"] = {
        "driver": "generic.scpi_dmm",
        "resource": "TCPIP::10.0.0.7::INSTR",
    }
    with SimulatedBench(PROFILE, bench) as sim:
        assert set(sim.addresses) == set(BENCH["instruments"]) - {"dmm"}
        assert sim.resolved_bench()["instruments"]["dmm"]["resource"] == "TCPIP::10.0.0.7::INSTR"


def test_unknown_driver_names_role_driver_and_the_simulated_ones() -> None:
    bench = copy.deepcopy(BENCH)
    bench["instruments"]["psu"] = {"driver": "acme.psu9000", "resource": "sim://psu"}
    with pytest.raises(SimulatorError) as error:
        SimulatedBench(PROFILE, bench)
    message = str(error.value)
    assert "instruments.psu" in message and "'acme.psu9000'" in message
    assert all(name in message for name in ("keithley.k2450", "rigol.ds1000z", "rigol.dp800"))


def test_instruments_share_one_world_and_stop_joins_every_thread() -> None:
    before = set(threading.enumerate())
    journal = Journal()
    with SimulatedBench(PROFILE, BENCH, journal=journal) as sim:
        smu_address, uart_address = sim.addresses["smu"], sim.addresses["uart"]
        with visa_session(smu_address) as smu, serial.Serial(uart_address, timeout=2) as uart:
            smu.write(":SOUR:VOLT 5;:SOUR:VOLT:ILIM 0.01;:OUTP ON")
            assert float(smu.query(":READ?")) == pytest.approx(45e-6, rel=0.02)
            uart.write(b"mode sleep\r\n")
            assert uart.read_until(b"> ") == b"OK\r\n> "
            assert float(smu.query(":READ?")) == pytest.approx(1.2e-6, rel=0.02)
            smu.write(":OUTP OFF")
            assert smu.query("*OPC?") == "1"
    assert set(threading.enumerate()) == before
    events = [(e["role"], e["event"], e["value"]) for e in journal.entries]
    assert ("dut", "mode", "sleep") in events
    assert events[-1] == ("dut", "power", False)
    assert ("smu", "output", False) in events


def test_a_failed_start_stops_what_had_started(monkeypatch: pytest.MonkeyPatch) -> None:
    before = set(threading.enumerate())
    sim = SimulatedBench(PROFILE, BENCH)

    def refuse() -> None:
        raise OSError("no free pseudo-terminal")

    monkeypatch.setattr(sim.simulators["uart"], "start", refuse)
    with pytest.raises(SimulatorError, match="could not start: no free pseudo-terminal"):
        sim.start()
    assert set(threading.enumerate()) == before
