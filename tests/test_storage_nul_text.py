"""Text holding NUL (a garbled instrument reply in an identity, an error's message, a
waveform's channel): HDF5's strings cannot hold it, so the run file keeps U+FFFD in its place,
and the run still closes, sealed, with everything recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchtest.results import open_run
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import (
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    SafeStateApplied,
    TestFinished,
    TestStarted,
    WaveformRecorded,
    utc_now,
)
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform

GARBLED = "bad\0reply"
SHOWN = "bad\ufffdreply"


def test_text_holding_nul_is_recorded_and_the_run_closes(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    wf = Waveform(np.arange(100, dtype=np.int16), dt=1e-6, scale=0.01, unit="V\0", channel="CH1\0")
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::x\0::SOCKET", GARBLED))
        for k, message in enumerate(["", f"ProtocolError: {GARBLED}"]):
            test_id = f"t.py::test_a[{k}]"
            writer(TestStarted(test_id, utc_now(), {"mode": "a\0"}, attempt=1))
            limits = Limits(low=3.2, high=3.4)
            writer(MeasurementRecorded(test_id, Measurement.judge("vout", 3.3, "V", limits)))
            writer(WaveformRecorded(test_id, "vout\0", wf, GARBLED))
            writer(SafeStateApplied("smu", False, utc_now(), GARBLED))
            writer(TestFinished(test_id, "error" if message else "passed", utc_now(), 0.1, message))
        writer(RunFinished(utc_now(), "error"))
    run = open_run(path)
    assert run.problems == []
    assert [t.message for t in run.tests] == ["", f"ProtocolError: {SHOWN}"]
    assert [t.conditions for t in run.tests] == [{"mode": "a\0"}] * 2  # JSON keeps it
    identity = run.instruments["identity"][0]
    assert (identity.decode() if isinstance(identity, bytes) else identity) == SHOWN
    messages = {m.decode() if isinstance(m, bytes) else m for m in run.safe_state_log["message"]}
    assert messages == {SHOWN}
    stored = run.tests[1].waveforms["vout\ufffd"]
    assert stored.unit == "V\ufffd"
    assert len(stored) == 100
