"""Current profiling on the Keithley 2450 and Keysight B2900, against scripted conversations.

The command sets follow the programming manuals: the 2450's SimpleLoop trigger model into a
sized `defbuffer1` read while it fills, the B2900's timer-paced acquisition into its trace
buffer. Every conversation fails on an unexpected command and on replies left unused.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from benchtest.config.dut import DutProfile
from benchtest.driver.registry import open_instrument
from benchtest.driver.testing import Exchange, expected_protocol
from benchtest.sim import SimulatedBench
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.testing import wait_until
from benchtest.values.errors import ConnectionLostError, InstrumentError, InstrumentReportedError
from benchtest.values.profile import CaptureError
from instruments.capabilities import CurrentProfiler, conformance_problems
from instruments.keithley.k2450 import Keithley2450
from instruments.keysight.b2900 import KeysightB2900

MCU_PROFILE = Path(__file__).parents[1] / "dut_profiles" / "bt_mcu_l0.yaml"
OK_2450 = '0,"No error;0;0 0"'
OK_B2900 = '+0,"No error"'


def rows(*columns: npt.ArrayLike) -> str:
    """An ASCII buffer reply: point by point, element by element."""
    table = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    return ",".join(f"{v:.6E}" for v in table.ravel())


def k2450_setup(
    count: int, nplc: str = "0.025", range_: str = "0.01", delay: str = "0.000333333"
) -> list[Exchange]:
    """The set-up at 1000 S/s on a 50 Hz line: 0.5 ms aperture, and a delay for the rest of
    each 1 ms after the 0.167 ms overhead."""
    return [
        (":SYSTem:LFRequency?", "50"),
        (':SENSe:FUNCtion "CURRent"', None),
        (f":SENSe:CURRent:RANGe {range_}", None),
        (":SENSe:CURRent:AZERo OFF", None),
        (f":SENSe:CURRent:NPLCycles {nplc}", None),
        (":SOURce:VOLTage:READ:BACK ON", None),
        (f':TRACe:POINts {count},"defbuffer1"', None),
        (':TRACe:CLEar "defbuffer1"', None),
        (f':TRIGger:LOAD "SimpleLoop",{count},{delay},"defbuffer1"', None),
        (":SYSTem:ERRor?", OK_2450),
        (":INITiate", None),
    ]


def k2450_data(first: int, last: int, interval: float = 1e-3) -> Exchange:
    index = np.arange(first, last + 1)
    reply = rows(index * 1e-6, np.full(len(index), 3.0), (index - 1) * interval)
    return (f':TRACe:DATA? {first},{last},"defbuffer1",READ,SOUR,REL', reply)


def test_both_smus_claim_and_provide_the_profiler_capability() -> None:
    for driver in (Keithley2450, KeysightB2900):
        assert "CurrentProfiler" in driver.capabilities
        assert conformance_problems(driver) == []
    assert isinstance(CurrentProfiler, type)


def test_k2450_streams_its_buffer_while_the_trigger_model_fills_it() -> None:
    conversation = [
        *k2450_setup(1000),
        (':TRACe:ACTual? "defbuffer1"', "0"),
        (':TRACe:ACTual? "defbuffer1"', "400"),
        k2450_data(1, 400),
        (':TRACe:ACTual? "defbuffer1"', "1000"),
        k2450_data(401, 1000),
        (":SYSTem:ERRor?", OK_2450),
    ]
    with expected_protocol(Keithley2450, conversation, role="smu") as smu:
        smu.current_range = np.float64(8e-3)  # held by the 10 mA range
        smu.poll_interval = 0.0
        profile = smu.capture(np.float64(1.0), sample_rate=1000)
    assert len(profile) == 1000 and profile.current.unit == "A"
    assert profile.current.values == pytest.approx(np.arange(1, 1001) * 1e-6)
    assert profile.voltage is not None and profile.voltage.unit == "V"
    assert profile.voltage.values == pytest.approx(np.full(1000, 3.0))
    assert profile.current.dt == pytest.approx(1e-3)
    assert profile.ranges.tolist() == [(0, 0.01)]
    assert profile.settings["measured_interval"] == pytest.approx(1e-3)
    assert profile.settings["current_range"] == 0.01


def test_k2450_refuses_a_rate_it_cannot_do_before_sending_anything() -> None:
    with (
        expected_protocol(Keithley2450, [], role="smu") as smu,
        pytest.raises(InstrumentError, match=r"sample rate 10000 S/s .* 3000 S/s") as info,
    ):
        smu.capture(1.0, sample_rate=10_000)
    assert info.value.role == "smu"


def test_k2450_refuses_a_rate_beyond_its_fastest_reading_at_the_line_frequency() -> None:
    # 3000 readings/s need 60 Hz: at 50 Hz 0.01 PLC is 200 us, plus the overhead
    with (
        expected_protocol(Keithley2450, [(":SYSTem:LFRequency?", "50")], role="smu") as smu,
        pytest.raises(InstrumentError, match=r"beyond the 2450 at 50 Hz .* at most 2727"),
    ):
        smu.capture(0.1, sample_rate=3000)
    conversation = [*k2450_setup(300, nplc="0.01", delay="0.0")]
    conversation[0] = (":SYSTem:LFRequency?", "60")
    conversation += [(':TRACe:ACTual? "defbuffer1"', "300"), k2450_data(1, 300, 1 / 3000)]
    conversation += [(":SYSTem:ERRor?", OK_2450)]
    with expected_protocol(Keithley2450, conversation, role="smu") as smu:
        smu.current_range = 1e-2
        assert len(smu.capture(0.1, sample_rate=3000)) == 300


def test_k2450_reading_slower_than_asked_is_an_error_and_aborts() -> None:
    conversation = [
        *k2450_setup(1000),
        (':TRACe:ACTual? "defbuffer1"', "100"),
        k2450_data(1, 100, interval=2e-3),
        (":ABORt", None),
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(CaptureError, match="takes 500 readings/s") as info,
    ):
        smu.current_range = 1e-2
        smu.capture(1.0, sample_rate=1000)
    assert info.value.partial is None


def test_k2450_that_stops_streaming_keeps_the_samples_so_far() -> None:
    conversation = [
        *k2450_setup(1000),
        (':TRACe:ACTual? "defbuffer1"', "300"),
        k2450_data(1, 300),
        (':TRACe:ACTual? "defbuffer1"', "300"),  # nothing new: past the stall timeout
        (":ABORt", None),
    ]
    with (
        expected_protocol(Keithley2450, conversation, role="smu") as smu,
        pytest.raises(CaptureError, match="stopped streaming") as info,
    ):
        smu.current_range = 1e-2
        smu.poll_interval, smu.stall_timeout = 0.0, -1.0  # any wait is too long
        smu.capture(1.0, sample_rate=1000)
    partial = info.value.partial
    assert partial is not None and len(partial) == 300
    assert partial.current.values[-1] == pytest.approx(300e-6)


def test_b2900_samples_on_its_timer_and_reads_the_trace_buffer_as_it_fills() -> None:
    setup: list[Exchange] = [
        (':SENSe1:FUNCtion:ON "CURR","VOLT"', None),
        (":SENSe1:CURRent:RANGe:AUTO OFF", None),
        (":SENSe1:CURRent:RANGe 1e-05", None),
        (":SENSe1:CURRent:APERture 2.5e-05", None),
        (":SENSe1:VOLTage:APERture 2.5e-05", None),
        (":FORMat:ELEMents:SENSe VOLTage,CURRent", None),
        (":TRIGger1:ACQuire:SOURce TIMer", None),
        (":TRIGger1:ACQuire:TIMer 5e-05", None),
        (":TRIGger1:ACQuire:DELay 0", None),
        (":TRIGger1:ACQuire:COUNt 2000", None),
        (":TRACe1:FEED:CONTrol NEVer", None),  # an earlier capture's readings are cleared
        (":TRACe1:CLEar", None),
        (":TRACe1:FEED SENSe", None),
        (":TRACe1:POINts 2000", None),
        (":TRACe1:FEED:CONTrol NEXT", None),
        (":SYSTem:ERRor?", OK_B2900),
        (":INITiate:ACQuire (@1)", None),
    ]
    current = np.linspace(1e-6, 9e-6, 2000)
    conversation = [
        *setup,
        (":TRACe1:POINts:ACTual?", "+1500"),
        (":TRACe1:DATA? 0,1500", rows(np.full(1500, 1.8), current[:1500])),  # V first
        (":TRACe1:POINts:ACTual?", "+2000"),
        (":TRACe1:DATA? 1500,500", rows(np.full(500, 1.8), current[1500:])),
        (":SYSTem:ERRor?", OK_B2900),
    ]
    with expected_protocol(KeysightB2900, conversation, role="load") as smu:
        smu.current_range = 10e-6
        chunks = list(smu.stream(0.1, sample_rate=20_000, chunk_points=100_000))
    assert [(c.start, len(c)) for c in chunks] == [(0, 1500), (1500, 500)]
    joined = np.concatenate([c.current for c in chunks])
    assert joined == pytest.approx(current, rel=1e-6)
    assert all(c.voltage is not None and np.all(c.voltage == 1.8) for c in chunks)
    assert chunks[0].ranges.tolist() == [(0, 1e-5)] and not len(chunks[1].ranges)


def test_b2900_unplugged_mid_capture_gives_one_error_with_the_samples_so_far() -> None:
    lost = ConnectionLostError("connection closed by the instrument", role="load")
    with expected_protocol(KeysightB2900, [], role="load") as probe:
        commands = probe.capture_commands(100, 1000.0)
    conversation: list[Exchange] = [
        *((c, None) for c in commands),
        (":SYSTem:ERRor?", OK_B2900),
        (":INITiate:ACQuire (@1)", None),
        (":TRACe1:POINts:ACTual?", "+40"),
        (":TRACe1:DATA? 0,40", rows(np.full(40, 3.3), np.full(40, 2e-6))),
        (":TRACe1:POINts:ACTual?", lost),
        (":ABORt:ACQuire (@1)", lost),
    ]
    with (
        expected_protocol(KeysightB2900, conversation, role="load") as smu,
        pytest.raises(CaptureError, match=r"after 40 samples: .*connection closed") as info,
    ):
        smu.capture(0.1, sample_rate=1000)
    assert info.value.partial is not None and len(info.value.partial) == 40
    assert info.value.role == "load"


def test_b2900_refuses_a_capture_beyond_its_trace_buffer() -> None:
    with (
        expected_protocol(KeysightB2900, [], role="load") as smu,
        pytest.raises(InstrumentError, match="do not fit the B2900's trace buffer"),
    ):
        smu.capture(10.0, sample_rate=50_000)


def test_b2900_captures_the_simulated_mcu_over_a_real_socket() -> None:
    """The same driver against the simulated B2900 on loopback TCP, supplying the MCU model:
    the capture reads the run current the model draws once the firmware has booted."""
    profile = yaml.safe_load(MCU_PROFILE.read_text(encoding="utf-8"))
    smu_role = {"driver": "keysight.b2900", "resource": "sim://smu"}
    bench = {"schema_version": 1, "instruments": {"smu": smu_role}}
    dut = DutProfile.load(MCU_PROFILE)
    expected = McuModel.from_mapping(profile["model"]).mode_current("active", 3.0)
    with (
        SimulatedBench(profile, bench) as sim,
        open_instrument(
            "keysight.b2900", sim.addresses["smu"], role="smu", guard=dut.guard_for("smu")
        ) as opened,
    ):
        assert isinstance(opened, KeysightB2900)
        smu = opened
        smu.source_voltage(3.0, current_limit=20e-3)
        smu.output_on()
        wait_until(lambda: abs(smu.measure_current() - expected) < 0.05 * expected)
        smu.current_range = 10e-3
        smu.poll_interval = 0.0
        profile_ = smu.capture(0.05, sample_rate=20_000)
    assert len(profile_) == 1000 and profile_.current.dt == pytest.approx(50e-6)
    assert np.mean(profile_.current.values) == pytest.approx(expected, rel=0.01)
    assert profile_.voltage is not None
    assert np.mean(profile_.voltage.values) == pytest.approx(3.0, rel=1e-3)
    assert profile_.ranges.tolist() == [(0, 10e-3)]


def test_b2900_a_second_capture_reads_only_its_own_samples() -> None:
    """The trace buffer keeps an earlier capture's readings (and an aborted capture leaves it
    writing): the next capture turns writing off and clears it before setting it up again, so
    it reads the 3.3 V it sources now, not the 3.0 V of the capture before."""
    profile = yaml.safe_load(MCU_PROFILE.read_text(encoding="utf-8"))
    smu_role = {"driver": "keysight.b2900", "resource": "sim://smu"}
    bench = {"schema_version": 1, "instruments": {"smu": smu_role}}
    with (
        SimulatedBench(profile, bench) as sim,
        open_instrument("keysight.b2900", sim.addresses["smu"], role="smu") as opened,
    ):
        assert isinstance(opened, KeysightB2900)
        smu = opened
        smu.source_voltage(3.0, current_limit=20e-3)
        smu.output_on()
        smu.current_range = 10e-3
        smu.poll_interval = 0.0
        first = smu.capture_until(
            lambda chunk: True, sample_rate=20_000, duration=0.05, chunk_points=100
        )
        smu.source_voltage(3.3, current_limit=20e-3)
        second = smu.capture(0.01, sample_rate=20_000)
    assert len(first) == 100 and first.voltage is not None
    assert np.mean(first.voltage.values) == pytest.approx(3.0, rel=1e-3)
    assert len(second) == 200 and second.voltage is not None
    assert np.mean(second.voltage.values) == pytest.approx(3.3, rel=1e-3)


def k2450_on_the_mcu(resource: str = "sim://smu") -> tuple[SimulatedBench, dict[str, object]]:
    profile = yaml.safe_load(MCU_PROFILE.read_text(encoding="utf-8"))
    bench = {"schema_version": 1, "instruments": {"smu": {"driver": "keithley.k2450",
                                                         "resource": resource}}}  # fmt: skip
    return SimulatedBench(profile, bench), profile


def test_k2450_captures_the_simulated_mcu_wakeups_over_a_real_socket() -> None:
    """The simulated 2450 runs the SimpleLoop the driver loads: readings at the commanded
    rate (the time stamps say so), each the mean of the MCU's current over its aperture, on
    the fixed range (beyond it: 9.9E37, read as NaN)."""
    sim, profile = k2450_on_the_mcu()
    model = McuModel.from_mapping(profile["model"])  # type: ignore[arg-type]
    dut = DutProfile.load(MCU_PROFILE)
    with (
        sim,
        open_instrument("keithley.k2450", sim.addresses["smu"], role="smu",
                        guard=dut.guard_for("smu")) as opened,
    ):  # fmt: skip
        assert isinstance(opened, Keithley2450)
        smu = opened
        smu.source_voltage(3.0, current_limit=20e-3)
        smu.output_on()
        smu.current_range, smu.poll_interval = 10e-3, 0.0
        profile_ = smu.capture(1.0, sample_rate=1000)
        smu.current_range = 1e-6  # the wake-ups overflow the 1 uA range
        clipped = smu.capture(0.2, sample_rate=1000)
    assert len(profile_) == 1000 and profile_.current.dt == pytest.approx(1e-3)
    assert profile_.settings["measured_interval"] == pytest.approx(1e-3, rel=1e-6)
    assert profile_.settings["trigger_delay"] == pytest.approx(1e-3 - 0.5e-3 - 1.6667e-4, 1e-3)
    values = profile_.current.values
    sleep = model.mode_current("deepsleep", 3.0)
    # 2 ms awake in every 20 ms: 2 or 3 readings' 0.5 ms apertures of every 20 touch it
    awake = values > 50e-6
    assert 0.1 <= np.mean(awake) <= 0.15
    # The capture starts at any phase of the wake period, so a reading beside a wake-up may
    # catch a few microseconds of it: leave out the neighbours of every awake reading.
    touched = awake | np.roll(awake, 1) | np.roll(awake, -1)
    asleep = values[~touched]
    assert len(asleep) >= 700
    assert np.mean(asleep) == pytest.approx(sleep, rel=0.05)  # 200 nA noise, averaged
    assert np.max(values) <= model.idd_radio * 1.01
    assert profile_.voltage is not None and np.all(profile_.voltage.values == 3.0)
    assert profile_.ranges.tolist() == [(0, 0.01)]
    assert np.isnan(clipped.current.values).sum() >= 10  # wake-ups beyond the range
    assert np.nanmax(clipped.current.values) < 1.05e-6


def test_k2450_fills_its_buffer_as_it_reads_with_real_timing() -> None:
    sim, _ = k2450_on_the_mcu("sim://smu?timing=real")
    with sim, open_instrument("keithley.k2450", sim.addresses["smu"], role="smu") as opened:
        assert isinstance(opened, Keithley2450)
        opened.current_range = 10e-3
        opened.poll_interval = 0.02
        chunks = list(opened.stream(0.15, sample_rate=1000))
        started = time.monotonic()  # before the loop can start, so a busy machine cannot
        opened.write(":INITiate", check=False)  # shorten it: the same loop again, waited for
        assert opened.query("*OPC?") == "1"
        waited = time.monotonic() - started
        stored = opened.query(':TRACe:ACTual? "defbuffer1"')
    assert sum(len(c) for c in chunks) == 150 and len(chunks) >= 3  # read while it filled
    assert 0.12 < waited < 1.0 and stored == "150"  # *OPC? answers once the loop is done


def test_k2450_a_buffer_it_cannot_hold_is_its_error_and_the_capture_never_starts() -> None:
    """A driver that asks for more readings than a 2450 buffer holds (1 000 000) gets the
    instrument's -222 from the error queue, naming the set-up, before :INITiate is sent."""
    sim, _ = k2450_on_the_mcu()
    with sim, open_instrument("keithley.k2450", sim.addresses["smu"], role="smu") as opened:
        assert isinstance(opened, Keithley2450)
        opened.current_range = 10e-3
        opened.max_capture_points = 2_000_000  # type: ignore[misc]  # told wrong about it
        with pytest.raises(InstrumentReportedError, match=r"-222.*:TRACe:POINts 1200000") as info:
            opened.capture(600.0, sample_rate=2000)
        assert info.value.role == "smu"
        assert opened.query(':TRACe:ACTual? "defbuffer1"') == "0"  # nothing ran
