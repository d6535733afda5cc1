"""The protocol never returns the wrong answer: late, endless and short replies, against the
simulated instruments over a real socket.

A reply that comes after its timeout must not be read as the answer to the next query, a reply
that never ends must end in an error within bounded time and size, an error an instrument
queues because of a query is reported against that query, and a buffered sweep waits as long
as the sweep takes. Each test first reproduces what went wrong.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchtest import open_instrument
from benchtest.config.dut import DutProfile
from benchtest.driver.registry import driver_class
from benchtest.driver.scpi import ScpiInstrument
from benchtest.driver.sweeps import SweepPlan
from benchtest.driver.transport import VisaTransport
from benchtest.sim import SimulatedBench
from benchtest.values.errors import (
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)
from instruments.capabilities import SourceMeter

REPO = Path(__file__).resolve().parents[1]
LDO = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
SMUS = ("keithley.k2450", "keithley.k2400", "keysight.b2900")
TIMEOUT = 0.5  # s: the I/O timeout of these tests
LATE = 1.5  # s: how late the late reply comes (well past TIMEOUT, even on a busy machine)


def one_role(role: str, driver: str, query: str = "") -> dict[str, Any]:
    resource = f"sim://{role}" + (f"?{query}" if query else "")
    return {"schema_version": 1, "instruments": {role: {"driver": driver, "resource": resource}}}


@contextmanager
def simulated(
    driver: str, query: str = "", role: str = "smu", **options: Any
) -> Iterator[tuple[Any, SimulatedBench]]:
    """`driver` opened on its simulator (with the resource settings `query`)."""
    with SimulatedBench(dict(LDO.data), one_role(role, driver, query)) as sim:
        instrument = open_instrument(driver, sim.addresses[role], role=role, **options)
        try:
            yield instrument, sim
        finally:
            instrument.close()


def journal(sim: SimulatedBench, role: str, event: str) -> list[Any]:
    return [e["value"] for e in sim.journal.entries if e["role"] == role and e["event"] == event]


def test_a_late_reply_is_not_read_as_the_answer_to_the_next_query() -> None:
    late = f"fault=late&match=:SOURce:VOLTage?&delay={LATE}"
    with simulated("keithley.k2450", late, timeout=TIMEOUT) as (smu, sim):
        smu.source_voltage(2.5, current_limit=0.01)
        smu.output_on()
        with pytest.raises(InstrumentTimeoutError, match=r"\[smu\].*':SOURce:VOLTage\?'"):
            _ = smu.voltage_setpoint
        assert journal(sim, "smu", "fault") == [f"late reply held {LATE:g} s"]
        assert smu.current_limit == pytest.approx(0.01)  # not the late 2.5 V
        assert smu.voltage_setpoint == pytest.approx(2.5)
        smu.safe_state()
    assert journal(sim, "smu", "output")[-1] is False
    assert journal(sim, "smu", "voltage")[-1] == 0.0


@pytest.mark.parametrize(
    ("driver", "role", "late", "then", "expected"),
    [
        ("temptronic.ats545", "chamber", "temperature", "setpoint_number", 1),
        ("rigol.ds1000z", "scope", "timebase_scale", "trigger_mode", "edge"),
    ],
)
def test_the_siblings_do_not_take_a_late_reply_for_the_next_answer(
    driver: str, role: str, late: str, then: str, expected: object
) -> None:
    query = getattr(driver_class(driver), late).get_cmd
    with simulated(driver, f"fault=late&match={query}&delay={LATE}", role=role,
                   timeout=TIMEOUT) as (instrument, _):  # fmt: skip
        with pytest.raises(InstrumentTimeoutError):
            getattr(instrument, late)
        assert getattr(instrument, then) == expected


def test_safe_state_after_a_late_reply_completes() -> None:
    late = f"fault=late&match=:READ?&delay={LATE}"
    with simulated("keithley.k2450", late, timeout=TIMEOUT) as (smu, sim):
        smu.source_voltage(3.0, current_limit=0.01)
        smu.output_on()
        with pytest.raises(InstrumentTimeoutError, match="':READ\\?'"):
            smu.measure_current()
        smu.safe_state()  # reads the source function: must not get the late reading
    assert journal(sim, "smu", "output")[-1] is False
    assert journal(sim, "smu", "voltage")[-1] == 0.0


@pytest.mark.parametrize("driver", ["keithley.k2450", "rigol.ds1000z", "temptronic.ats545"])
def test_an_endless_reply_ends_within_its_time_bound_and_the_line_recovers(driver: str) -> None:
    role = "chamber" if driver.startswith("temptronic") else "box"
    with simulated(driver, "fault=endless&match=*IDN?", role=role, timeout=TIMEOUT) as (box, _):
        started = time.monotonic()
        with pytest.raises(ProtocolError, match=r"did not end within .*'\*IDN\?'") as info:
            box.identify()
        assert time.monotonic() - started < 4 * TIMEOUT + 1.0  # it hung for 62 s
        assert info.value.role == role
        assert box.identify().model  # back in step: the rest of the endless reply is gone


def test_an_endless_reply_is_cut_at_its_size_bound() -> None:
    with simulated("keithley.k2450", "fault=endless&match=*IDN?", timeout=30.0) as (smu, _):
        transport = smu.transport
        assert isinstance(transport, VisaTransport)
        transport.max_reply = 64 * 1024
        started = time.monotonic()
        with pytest.raises(ProtocolError, match=r"longer than 65536 bytes") as info:
            smu.identify()
        assert time.monotonic() - started < 10.0  # long before the 30 s timeout
        assert info.value.command == "*IDN?"
        assert "MODEL 2450" in str(smu.identify())


def empty_blocks_with_an_error(simulator: Any) -> None:
    """Make the scope answer every waveform read the way a DS1000Z answers a RAW read of a
    running acquisition: an empty block, and an error on its queue."""
    original = simulator.handle_line

    def handle_line(line: str) -> list[str | bytes]:
        if line.strip().upper().startswith((":WAV:DATA?", ":WAVEFORM:DATA?")):
            simulator.push_error(-221, "Settings conflict")
            return [b"#9000000000\n"]
        replies: list[str | bytes] = original(line)
        return replies

    simulator.handle_line = handle_line


def test_a_short_block_reports_the_error_it_queued_against_the_block_query() -> None:
    with simulated("rigol.ds1000z", role="scope", timeout=TIMEOUT) as (scope, sim):
        empty_blocks_with_an_error(sim.simulators["scope"])
        with pytest.raises(InstrumentReportedError, match="Settings conflict") as info:
            scope.fetch_waveform(1)
        assert info.value.command == ":WAVeform:DATA?" and info.value.code == -221
        assert "the block holds 0 bytes" in str(info.value.__cause__)
        scope.configure_timebase(scale=1e-3)  # the next command is not blamed for it


@pytest.mark.parametrize("driver", SMUS)
def test_a_reading_with_the_output_off_is_a_clear_error_not_nan(driver: str) -> None:
    with simulated(driver, timeout=TIMEOUT) as (smu, _):
        smu.source_voltage(3.0, current_limit=0.01)
        with pytest.raises(InstrumentError, match=r"\[smu\] cannot measure current: the output"):
            smu.measure_current()
        smu.source_voltage(3.0, current_limit=0.01)  # nothing left queued to blame on this
        smu.output_on()
        assert not np.isnan(smu.measure_current())


@pytest.mark.parametrize("driver", SMUS)
def test_a_buffered_sweep_with_real_timing_waits_for_the_sweep(driver: str) -> None:
    # 101 points of 1 ms delay and 0.2 PLC take ~1 s of the simulated instrument's time: twice
    # the timeout.
    with simulated(driver, "timing=real", timeout=TIMEOUT) as (smu, _):
        assert isinstance(smu, SourceMeter)
        levels = np.linspace(0.0, 3.0, 101)
        started = time.monotonic()
        result = smu.sweep_voltage(levels, current_limit=0.01, delay=1e-3, nplc=0.2)
        assert time.monotonic() - started > TIMEOUT  # it did take longer than the timeout
        assert len(result.source) == 101
        np.testing.assert_allclose(result.source, levels, atol=1e-6)
        smu.safe_state()
        assert isinstance(smu, ScpiInstrument)
        smu.check_errors()  # nothing left on the queue


# -- the serial debug port -------------------------------------------------------------------


def test_a_late_debug_port_reply_is_not_taken_for_the_next_one() -> None:
    # A serial console has no device clear: a late prompt is awaited for up to one timeout.
    with simulated("serial.debug_port", "fault=late&match=id&delay=0.8", role="uart",
                   timeout=TIMEOUT) as (uart, sim):  # fmt: skip
        with pytest.raises(InstrumentTimeoutError, match="'id'"):
            uart.command("id")
        assert uart.command("mode") == sim.world.mode  # not the late firmware id
        assert uart.command("id") == sim.world.model.firmware_id


@contextmanager
def endless_console() -> Iterator[str]:
    """A `socket://` console that sends text without a prompt, without pause, for ever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def spew() -> None:
        connection, _ = listener.accept()
        with connection:
            while not stop.is_set():
                try:
                    connection.sendall(b"0123456789abcdef" * 256)
                except OSError:
                    return

    thread = threading.Thread(target=spew)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_debug_port_that_never_stops_talking_times_out() -> None:
    with endless_console() as resource:
        port = open_instrument("serial.debug_port", resource, role="uart", timeout=TIMEOUT)
        try:
            started = time.monotonic()
            with pytest.raises(InstrumentTimeoutError, match=r"\[uart\].*'id'"):
                port.command("id")
            assert time.monotonic() - started < 4 * TIMEOUT + 2.0
        finally:
            port.close()


def test_the_wait_for_a_sweep_follows_its_points_delay_and_integration_time() -> None:
    levels = np.linspace(0.0, 3.0, 101)
    auto = SweepPlan.create("voltage", levels, 0.01)
    # auto delay: the longest (50 ms); 1 PLC at 50 Hz, three apertures; 5 ms; half again
    assert auto.duration(1.0) == pytest.approx(1.5 * 101 * (0.05 + 0.06 + 0.005))
    fixed = SweepPlan.create("voltage", levels, 0.01, delay=0.2, nplc=10)
    assert fixed.duration(10.0) == pytest.approx(1.5 * 101 * (0.2 + 0.6 + 0.005))
    # a trigger-to-measure delay (B2900) comes after the automatic source delay
    assert fixed.duration(10.0, delay_adds=True) == pytest.approx(
        1.5 * 101 * (0.05 + 0.2 + 0.6 + 0.005)
    )
