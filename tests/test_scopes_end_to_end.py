"""Every scope driver against its simulator over a real socket: a start-up ramp in volts, and bad
input (garbled reply, truncated block, lying length header, silence, a queued error) that ends
within the timeout in an error naming the role, the command and what arrived."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from benchtest.driver.registry import open_instrument
from benchtest.sim import SimulatedBench
from benchtest.values.errors import (
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    ProtocolError,
)
from benchtest.values.waveform import Waveform
from instruments.capabilities import Oscilloscope

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
VOUT, TAU = PROFILE["model"]["vout_nominal"], PROFILE["model"]["startup_tau"]
SCOPES = ["rigol.ds1000z", "rigol.mso5000", "siglent.sds1000xe", "siglent.sds2000xp"]
PEAK_TO_PEAK = {"rigol.ds1000z": "VPP", "rigol.mso5000": "VPP"}
TRIGGER_LEVEL = 0.1
BLOCK_QUERIES = {":WAVeform:DATA?", ":WAVeform:PREamble?", "C1:WF? DAT2"}
FAULT_TIMEOUT = 0.3  # s: the driver timeout in the bad-input tests


def bench_for(driver: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "instruments": {
            "smu": {"driver": "keithley.k2450", "resource": "sim://smu"},
            "scope": {"driver": driver, "resource": "sim://scope"},
        },
    }


@pytest.fixture(params=SCOPES)
def bench(request: pytest.FixtureRequest) -> Iterator[tuple[str, SimulatedBench]]:
    with SimulatedBench(PROFILE, bench_for(request.param)) as sim:
        yield request.param, sim


def startup(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The DUT's first-order ramp, in time from the trigger at TRIGGER_LEVEL on the way up."""
    start = -TAU * math.log(VOUT / (VOUT - TRIGGER_LEVEL))
    rising = VOUT * (1 - np.exp(-np.maximum(t - start, 0.0) / TAU))
    return np.where(t < start, 0.0, rising)


def assert_is_the_ramp(wf: Waveform) -> None:
    """Every point within one code plus the simulated noise of the analytic ramp."""
    error = np.abs(wf.values - startup(wf.time))
    assert wf.unit == "V" and error.max() <= wf.scale + 0.012, float(error.max())
    assert wf.time[0] < 0 < wf.time[-1]


def test_startup_ramp_captured_in_volts(bench: tuple[str, SimulatedBench]) -> None:
    driver, sim = bench
    scope = open_instrument(driver, sim.addresses["scope"], role="scope")
    smu = open_instrument("keithley.k2450", sim.addresses["smu"], role="smu")
    try:
        assert isinstance(scope, Oscilloscope)
        scope.configure_channel(1, scale=0.5, offset=-1.5)
        scope.configure_timebase(scale=50e-6, position=200e-6)
        scope.configure_edge_trigger(source=1, level=TRIGGER_LEVEL, sweep="single")
        smu.source_voltage(5.0, current_limit=0.01)  # type: ignore[attr-defined]
        smu.output_on()  # type: ignore[attr-defined]
        scope.wait_for_trigger(timeout=5.0)
        memory, screen = scope.fetch_waveform(1, "max"), scope.fetch_waveform(1, "screen")
        peak_to_peak = scope.measure_item(PEAK_TO_PEAK.get(driver, "PKPK"), 1)  # type: ignore[attr-defined]
    finally:
        smu.close()
        scope.close()
    assert_is_the_ramp(memory)
    assert_is_the_ramp(screen)
    assert 900 <= len(screen) <= 1400 and screen.channel == "CH1"
    assert peak_to_peak == pytest.approx(VOUT, abs=0.05)


# -- bad input -----------------------------------------------------------------------------------

Replies = list[str | bytes]


def corrupt_blocks(sim: Any, change: Callable[[bytes], bytes]) -> None:
    """Make the simulator pass every block reply through `change`."""
    original = sim.handle_line

    def handle_line(line: str) -> Replies:
        return [change(r) if isinstance(r, bytes) else r for r in original(line)]

    sim.handle_line = handle_line


def truncate(block: bytes) -> bytes:
    return block[: len(block) // 2]


def lie_about_length(block: bytes) -> bytes:
    """Announce half the payload: the rest then follows where the terminator should be."""
    match = re.search(rb"#9(\d{9})", block)
    assert match is not None
    half = int(match.group(1)) // 2
    return block[: match.start(1)] + b"%09d" % half + block[match.end(1) :]


@pytest.fixture
def connected(bench: tuple[str, SimulatedBench]) -> Iterator[tuple[Oscilloscope, Any]]:
    """The scope driver, with a short timeout, and the simulator serving it."""
    driver, sim = bench
    scope = open_instrument(driver, sim.addresses["scope"], role="scope", timeout=FAULT_TIMEOUT)
    assert isinstance(scope, Oscilloscope)
    scope.identify()  # a round trip: the `*CLS` of connecting has been executed
    yield scope, sim.simulators["scope"]
    scope.close()


def failure(action: Callable[[], object], kind: type[InstrumentError]) -> InstrumentError:
    """Run `action`, which must raise `kind` within a few timeouts; return the error."""
    started = time.monotonic()
    with pytest.raises(kind) as info:
        action()
    assert time.monotonic() - started < 4 * FAULT_TIMEOUT + 1.0
    error = info.value
    assert error.role == "scope" and error.command, str(error)
    return error


@pytest.mark.parametrize("change", [truncate, lie_about_length], ids=["truncated", "lying"])
def test_a_bad_block_is_a_protocol_error_and_the_line_stays_usable(
    connected: tuple[Oscilloscope, Any], change: Callable[[bytes], bytes]
) -> None:
    scope, simulator = connected
    corrupt_blocks(simulator, change)
    error = failure(lambda: scope.fetch_waveform(1), ProtocolError)
    assert error.received is not None and error.command in BLOCK_QUERIES
    assert scope.identify().manufacturer  # the rest of the bad reply was discarded


def test_a_garbled_reply_is_a_protocol_error(connected: tuple[Oscilloscope, Any]) -> None:
    scope, simulator = connected
    simulator.inject("garbage")
    error = failure(lambda: scope.sample_rate, ProtocolError)  # type: ignore[attr-defined]
    assert "garbled" in str(error.received)


def test_an_instrument_that_stops_answering_times_out(connected: tuple[Oscilloscope, Any]) -> None:
    scope, simulator = connected
    simulator.inject("silent")
    error = failure(lambda: scope.fetch_waveform(1), InstrumentTimeoutError)
    assert f"{FAULT_TIMEOUT:g} s" in str(error)


def test_a_queued_error_is_reported_after_the_write(connected: tuple[Oscilloscope, Any]) -> None:
    scope, simulator = connected
    simulator.push_error(-222, "Data out of range")
    error = failure(lambda: scope.configure_timebase(scale=1e-3), InstrumentReportedError)
    assert error.received and error.command.split()[-1] in ("0.001", "1e-03")
