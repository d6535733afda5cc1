"""Run files for the comparison tests, written through the real writer from recorder events.

`write_run(path, readings)` writes a finished run whose tests hold the given readings; each
parameter's unit and limits come from `PARAMETERS` (the BT-LDO33 datasheet values), so the
files look like runs of the LDO plans.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import (
    ConfigSnapshot,
    MeasurementRecorded,
    RunFinished,
    TestFinished,
    TestStarted,
)
from benchtest.values.measurement import Limits, Measurement

PLAN = "ldo/test_ldo_basics.py"
IQ = f"{PLAN}::test_quiescent_current[sleep]"
STARTUP = f"{PLAN}::test_startup_ramp"
#: name -> (unit, low limit, high limit)
PARAMETERS = {
    "iq_sleep": ("A", None, 2.0e-6),
    "vout": ("V", 3.234, 3.366),
    "t_startup": ("s", None, 500e-6),
    "dropout": ("V", None, 0.25),
}
PROFILE = """schema_version: 1
part: {name: BT-LDO33, family: ldo}
parameters:
  iq_sleep: {unit: A, max: 2.0e-6}
  vout: {unit: V, min: 3.234, max: 3.366}
"""


def write_run(
    path: Path,
    readings: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    outcomes: Mapping[str, str] | None = None,
    serial: str = "U0001",
    start: str = "2026-11-28T22:00:00+00:00",
    part: str = "BT-LDO33",
    units: Mapping[str, str] | None = None,
    profile: str = PROFILE,
) -> Path:
    """A finished run at `start` with, per test id, the readings of each parameter; a test
    passes unless `outcomes` says otherwise, a parameter's unit can be changed by `units`."""
    moment = datetime.fromisoformat(start).timestamp()
    snapshot = ConfigSnapshot("ldo.yaml", profile, hashlib.sha256(profile.encode()).hexdigest())
    event = dataclasses.replace(
        run_started(f"{start}-{serial}-{path.stem}"),
        serial_number=serial,
        started=start,
        part=part,
        dut=snapshot,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(event)
        for test_id, parameters in readings.items():
            writer(TestStarted(test_id, start))
            for name, values in parameters.items():
                unit, low, high = PARAMETERS[name]
                unit = (units or {}).get(name, unit)
                for i, value in enumerate(values):
                    m = Measurement.judge(name, value, unit, Limits(low, high, unit))
                    m = dataclasses.replace(m, timestamp=moment + i)
                    writer(MeasurementRecorded(test_id, m))
            outcome = (outcomes or {}).get(test_id, "passed")
            writer(TestFinished(test_id, outcome, start, 0.1))
        writer(RunFinished(start, "passed"))
    return path
