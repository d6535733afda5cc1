"""Run files of simulated BT-TEMP-S1 units, for the characterisation tests.

Each unit is the simulated part its serial number selects (`benchtest.sim`: the model draws
its offset, supply sensitivity and currents from the profile's sigma), measured the way the
sensor plan measures it (the mean of 8 console readings minus the temperature; the supply
current in continuous conversion), and written through the run-file writer as recorder events.
So the spread in these files is the simulated DUT model's, not numbers made up here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchtest.__about__ import __version__
from benchtest.sim import SimulatedBench, SupplyState
from benchtest.sim.simulators.debug_port import Firmware, PortConfig
from benchtest.storage import Hdf5RunWriter
from benchtest.values.events import (
    ConfigSnapshot,
    Event,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    SweepRecorded,
    TestFinished,
    TestStarted,
)
from benchtest.values.measurement import Limits, Measurement

REPO = Path(__file__).resolve().parents[1]
SENSOR = REPO / "dut_profiles" / "bt_temp_s1.yaml"
PROFILE: dict[str, Any] = yaml.safe_load(SENSOR.read_text(encoding="utf-8"))
PART = PROFILE["part"]["name"]
PLAN = "sensor/test_sensor_characterisation.py"
READINGS = 8  # conversions averaged per accuracy point, as the plan does
SWEEP_VDD = (1.8, 2.5, 3.3, 4.2, 5.5)
FIRST_START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
NO_INSTRUMENTS: dict[str, Any] = {"schema_version": 1, "instruments": {}}


def limits(name: str) -> Limits:
    """The profile's limits of parameter `name`."""
    row = PROFILE["parameters"][name]
    return Limits(row.get("min"), row.get("max"), row["unit"])


@dataclasses.dataclass(frozen=True)
class SimulatedUnit:
    """What the simulated unit `serial` measures: accuracy at VDD 3.3 V and 5.5 V (25 degC),
    supply current converting at 3.3 V, and accuracy against VDD (a sweep)."""

    serial: str
    accuracy: dict[float, float]  # by VDD
    idd_active: float

    @classmethod
    def measure(cls, serial: str) -> SimulatedUnit:
        world = SimulatedBench(PROFILE, NO_INSTRUMENTS, serial=serial).world
        console = Firmware(world, PortConfig.from_mapping(PROFILE["debug_port"]))
        accuracy: dict[float, float] = {}
        idd = 0.0
        for vdd in sorted({*SWEEP_VDD, 3.3, 5.5}):
            world.apply_supply(SupplyState(output=True, voltage=vdd, current_limit=0.01))
            console.respond("mode cont")  # continuous conversions: a read answers at once
            readings = [float(console.respond("temp").split()[0]) for _ in range(READINGS)]
            accuracy[vdd] = float(np.mean(readings)) - world.temperature()
            if vdd == 3.3:
                idd = world.input_current()
        return cls(serial, accuracy, idd)


def _snapshot(path: Path) -> ConfigSnapshot:
    text = path.read_text(encoding="utf-8")
    return ConfigSnapshot(path.name, text, hashlib.sha256(text.encode()).hexdigest())


def unit_events(
    unit: SimulatedUnit, lot: str, start: datetime, part: str = PART
) -> Iterator[Event]:
    """The run of one unit as recorder events."""
    stamp = start.isoformat()
    yield RunStarted(
        run_id=f"run-{unit.serial}", started=stamp, framework_version=__version__,
        bench=ConfigSnapshot("sim.yaml", "schema_version: 1\n", "0" * 64),
        dut=_snapshot(SENSOR), part=part, serial_number=unit.serial, lot=lot, station="sim",
    )  # fmt: skip
    tests: list[tuple[str, str, float, dict[str, Any]]] = [
        (f"{PLAN}::test_accuracy_over_supply[{v}]", "accuracy", unit.accuracy[v], {"vdd": v})
        for v in (3.3, 5.5)
    ]
    tests.append((f"{PLAN}::test_supply_current_converting[3.3]", "idd_active", unit.idd_active,
                  {"vdd": 3.3}))  # fmt: skip
    for test_id, name, value, conditions in tests:
        where = {**conditions, "temperature": 25.0, "temperature_held_by": "chamber"}
        yield TestStarted(test_id, stamp, conditions=conditions)
        m = Measurement.judge(name, value, PROFILE["parameters"][name]["unit"], limits(name))
        yield MeasurementRecorded(test_id, dataclasses.replace(m, conditions=where))
        yield TestFinished(test_id, "failed" if m.outcome.value == "fail" else "passed", stamp, 0.1)
    sweep_id = f"{PLAN}::test_accuracy_against_supply"
    yield TestStarted(sweep_id, stamp, conditions={"temperature": 25.0})
    x = np.array(SWEEP_VDD)
    y = np.array([unit.accuracy[v] for v in SWEEP_VDD])
    yield SweepRecorded(sweep_id, "accuracy", x, y, "VDD", "V", "degC", limits("accuracy"), "pass")
    yield TestFinished(sweep_id, "passed", stamp, 0.1)
    yield RunFinished(stamp, "passed")


def write_unit(
    folder: Path, serial: str, lot: str, start: datetime, part: str = PART, wafer: str = ""
) -> Path:
    """Measure the simulated unit `serial` and write its run file into `folder`."""
    path = folder / f"{start:%Y%m%dT%H%M%SZ}_{part}_{serial}.h5"
    unit = SimulatedUnit.measure(serial)
    attributes = {"wafer": wafer} if wafer else None
    with Hdf5RunWriter(path, sync="never", attributes=attributes) as writer:
        for event in unit_events(unit, lot, start, part):
            writer(event)
    return path


def write_units(folder: Path, count: int = 30) -> list[Path]:
    """`count` units SN0001...: the first half lot L1, the rest L2; one hour apart."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_unit(
            folder, f"SN{n:04d}", "L1" if n <= count // 2 else "L2",
            FIRST_START + timedelta(hours=n),
        )
        for n in range(1, count + 1)
    ]  # fmt: skip
