"""A synthetic run as recorder events: an LDO characterisation without any bench.

Tests, benchmarks and the results-format documentation use it to produce a realistic run file
(passed, failed and skipped tests, measurements with limits, a scope capture as int16 codes)
through the same path a real run takes: events into a subscriber.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchtest.__about__ import __version__
from benchtest.storage.hdf5_writer import Hdf5RunWriter
from benchtest.values.events import (
    ConfigSnapshot,
    Event,
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    SafeStateApplied,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform

PLAN = "test_plans/ldo/test_ldo.py"
_T0 = "2026-11-28T15:43:{:02d}.000000+00:00"

BENCH_TEXT = "schema_version: 1\nroles:\n  smu: {driver: keithley.k2450}\n"
DUT_TEXT = "schema_version: 1\npart: LDO-3V3\nparameters:\n  iq: {unit: A, max: 60e-6}\n"


def _snapshot(path: str, text: str) -> ConfigSnapshot:
    return ConfigSnapshot(path, text, hashlib.sha256(text.encode()).hexdigest())


def run_started(run_id: str = "20261128T154300Z-SN0042") -> RunStarted:
    """The RunStarted of the example run."""
    return RunStarted(
        run_id=run_id,
        started=_T0.format(0),
        framework_version=__version__,
        bench=_snapshot("benches/sim.yaml", BENCH_TEXT),
        dut=_snapshot("dut_profiles/ldo_3v3.yaml", DUT_TEXT),
        part="LDO-3V3",
        serial_number="SN0042",
        lot="L7",
        operator="ada",
        station="bench-3",
        host="lab-pc-3",
        plans_commit="0123abcd",
        plans_dirty=True,
    )


def startup_waveform(points: int = 10_000, seed: int = 1) -> Waveform:
    """A 3.3 V LDO start-up ramp with noise, as int16 codes of a 12-bit scope channel."""
    rng = np.random.default_rng(seed)
    dt = 1e-3 / points
    t = np.arange(points) * dt - 1e-4
    volts = 3.3 * np.clip(t / 2e-4, 0.0, 1.0)
    codes = np.round(volts / 1e-3 + rng.normal(0.0, 3.0, points)).astype(np.int16)
    settings = {"volts_per_div": 0.5, "timebase_s": 1e-4, "coupling": "DC", "bandwidth_limit": True}
    return Waveform(
        codes, dt=dt, t0=-1e-4, scale=1e-3, offset=0.0, unit="V", channel="CH1", settings=settings
    )


def events_of_test(
    test_id: str, outcome: str = "passed", points: int = 10_000, second: int = 1
) -> Iterator[Event]:
    """The events of one test: a sleep-current and a dropout measurement, a start-up waveform."""
    iq = 45.1e-6 if outcome == "passed" else 71.3e-6
    yield TestStarted(test_id, _T0.format(second), conditions={"vin": 3.6, "load": "1 mA"})
    if outcome != "skipped":
        limits = Limits(0.0, 60e-6, "A")
        yield MeasurementRecorded(test_id, Measurement.judge("iq", iq, "A", limits))
        dropout = Measurement.judge("dropout", 0.182, "V", Limits(None, 0.25, "V"))
        yield MeasurementRecorded(test_id, dropout)
        yield WaveformRecorded(test_id, "vout_startup", startup_waveform(points), "VOUT at CH1")
    message = {"failed": "iq = 7.13e-05 A is above the high limit 6e-05 A", "skipped": "no scope"}
    yield TestFinished(test_id, outcome, _T0.format(second + 1), 0.8, message.get(outcome, ""))


def example_events(points: int = 10_000) -> Iterator[Event]:
    """A whole run: a passed, a failed and a skipped test, instruments and safe-state records."""
    yield run_started()
    smu_id = "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.3"
    scope_id = "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA0000001,00.04.05"
    yield InstrumentIdentified("smu", "keithley.k2450", "TCPIP::127.0.0.1::5025::SOCKET", smu_id)
    yield InstrumentIdentified("scope", "rigol.ds1000z", "TCPIP::127.0.0.1::5555::SOCKET", scope_id)
    yield from events_of_test(f"{PLAN}::test_iq[sleep]", "passed", points, 1)
    yield from events_of_test(f"{PLAN}::test_iq[active]", "failed", points, 3)
    yield from events_of_test(f"{PLAN}::test_psrr", "skipped", points, 5)
    yield SafeStateApplied("smu", True, _T0.format(7))
    yield SafeStateApplied("scope", False, _T0.format(7), "timeout after 2 s")
    yield RunFinished(_T0.format(8), "failed")


def write_example_run(path: Path, points: int = 10_000) -> Path:
    """Write the example run to the new run file `path` through an `Hdf5RunWriter`."""
    with Hdf5RunWriter(path) as writer:
        for event in example_events(points):
            writer(event)
    return path
