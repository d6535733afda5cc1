"""Run files for the report tests: a passing, a failing and a killed run of a regulator's
start-up, with a step waveform (overshoot, ringing), its measured rise time and overshoot, and a
line-regulation sweep with limits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from benchtest.analysis import overshoot, rise_time, settling_time
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import (
    Event,
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    SafeStateApplied,
    SweepRecorded,
    TestFinished,
    TestStarted,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform

PLAN = "test_plans/ldo/test_startup.py"
T = "2026-11-28T15:43:{:02d}.000000+00:00"
SWEEP_LIMITS = (3.25, 3.35)  # V, the line-regulation sweep's limits
RISE_LIMIT = 30e-6  # s, high limit of t_rise
OVERSHOOT_LIMIT = 10.0  # %, high limit of the start-up overshoot


def step_waveform(points: int = 4000, ringing: float = 0.65) -> Waveform:
    """VOUT stepping from 0 to 3.3 V at t = 0 as a damped second-order response, 12-bit codes."""
    rng = np.random.default_rng(7)
    dt = 200e-6 / points
    t = np.arange(points) * dt - 20e-6
    wn, zeta = 2 * np.pi * 40e3, ringing
    wd = wn * np.sqrt(1 - zeta**2)
    tt = np.clip(t, 0.0, None)
    response = 1 - np.exp(-zeta * wn * tt) * (
        np.cos(wd * tt) + zeta / np.sqrt(1 - zeta**2) * np.sin(wd * tt)
    )
    volts = 3.3 * response
    codes = np.round(volts / 1e-3 + rng.normal(0, 2.0, points)).astype(np.int16)
    return Waveform(codes, dt=dt, t0=-20e-6, scale=1e-3, unit="V", channel="CH1")


def _startup_events(test_id: str, second: int, rise_limit: float = RISE_LIMIT) -> list[Event]:
    wf = step_waveform()
    rise = rise_time(wf)
    over = overshoot(wf)
    settle = settling_time(wf)
    judged = [
        Measurement.judge("t_rise", rise, "s", Limits(0.0, rise_limit, "s")),
        Measurement.judge("startup_overshoot", over, "%", Limits(None, OVERSHOOT_LIMIT, "%")),
        Measurement.judge("t_settle", settle, "s", Limits(None, 1e-3, "s")),
    ]
    return [
        TestStarted(test_id, T.format(second), conditions={"vin": 5.0}),
        *(MeasurementRecorded(test_id, m) for m in judged),
        WaveformRecorded(test_id, "vout_startup", wf, "VOUT at CH1"),
    ]


def sweep_events(test_id: str, second: int, y: np.ndarray) -> list[Event]:
    x = np.linspace(3.6, 5.5, len(y))
    low, high = SWEEP_LIMITS
    outcome = "fail" if ((y < low) | (y > high)).any() else "pass"
    return [
        TestStarted(test_id, T.format(second), conditions={"load": "1 mA"}),
        SweepRecorded(test_id, "line_reg", x, y, "vin", "V", "V", Limits(low, high, "V"), outcome),
    ]


def passing_events() -> list[Event]:
    startup, sweep = f"{PLAN}::test_startup", f"{PLAN}::test_line_regulation"
    return [
        run_started(),
        InstrumentIdentified("scope", "rigol.ds1000z", "TCPIP::127.0.0.1::5555::SOCKET", "RIGOL"),
        *_startup_events(startup, 1),
        TestFinished(startup, "passed", T.format(2), 0.5),
        *sweep_events(sweep, 3, np.linspace(3.29, 3.31, 12)),
        TestFinished(sweep, "passed", T.format(4), 0.4),
        SafeStateApplied("scope", True, T.format(5)),
        RunFinished(T.format(6), "passed"),
    ]


TRACEBACK = "\n".join(
    ["AssertionError: vout out of limits"]
    + [f'  File "plan.py", line {n}, in step' for n in range(30)]
)


def failing_events() -> list[Event]:
    startup, sweep = f"{PLAN}::test_startup", f"{PLAN}::test_line_regulation"
    y = np.linspace(3.29, 3.31, 12)
    y[8] = 3.38  # one point above the high limit
    rise_limit = 5e-6  # the recorded rise time (about 8 µs) is above it
    return [
        run_started(),
        InstrumentIdentified("scope", "rigol.ds1000z", "TCPIP::127.0.0.1::5555::SOCKET", "RIGOL"),
        *_startup_events(startup, 1, rise_limit),
        TestFinished(startup, "failed", T.format(2), 0.5, "t_rise is above the high limit 5 µs"),
        *sweep_events(sweep, 3, y),
        TestFinished(sweep, "failed", T.format(4), 0.4, TRACEBACK),
        SafeStateApplied("scope", True, T.format(5)),
        *(SafeStateApplied("smu", k != 3, T.format(5), "" if k != 3 else "timeout after 2 s")
          for k in range(6)),
        RunFinished(T.format(6), "failed"),
    ]  # fmt: skip


def write_run(path: Path, events: list[Event]) -> Path:
    with Hdf5RunWriter(path) as writer:
        for event in events:
            writer(event)
    return path


KILLED = """
import sys, time
sys.path.insert(0, {tests!r})
from benchtest.storage import Hdf5RunWriter
from benchtest.values.events import TestStarted
import report_runs

writer = Hdf5RunWriter(sys.argv[1])
for event in report_runs.passing_events()[:8]:
    writer(event)
writer(TestStarted("{plan}::test_cut[3.3]", "2026-11-28T15:43:09+00:00", {{"vdd": 3.3}}))
print("ready", flush=True)
time.sleep(60)
"""


def write_killed_run(path: Path) -> Path:
    """A run whose writer was killed (SIGKILL) while its third test ran."""
    script = path.with_suffix(".py")
    script.write_text(KILLED.format(tests=str(Path(__file__).parent), plan=PLAN))
    child = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
        script.unlink()
    return path
