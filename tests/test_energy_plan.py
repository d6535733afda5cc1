"""The MCU and sensor energy plans on the simulated profiler, across units with their spread.

The plan's test function is called as pytest would call it, with the simulated profiler of
each unit as its `profiler` and a real `Measure` whose events go through the run writer, so the
numbers checked are the ones the run file holds: the stop current within 2 % of the model's,
the charge per wake-up within 1 % of the model's integral, every limit of the profile met, and
the trace stored with its segmentation and events.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from benchtest import DutProfile
from benchtest.config.assets import asset
from benchtest.results import open_run
from benchtest.run.measuring import Measure
from benchtest.run.recorder import RunRecorder
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.sensor import SensorModel
from benchtest.sim.simulators.profiler import SimulatedProfiler
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.errors import ConnectionLostError
from benchtest.values.events import RunFinished, TestFinished, TestStarted

DUT = DutProfile.load(asset("dut_profiles/bt_mcu_l0.yaml"))
T = "2026-12-07T04:00:00+00:00"
UNITS = 30


def plan(relative: str = "test_plans/mcu/test_mcu_energy.py") -> ModuleType:
    """The plan module at `relative`, imported as pytest would."""
    path = asset(relative)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_energy_plan_meets_the_acceptance_bars_on_thirty_units(tmp_path: Path) -> None:
    energy = plan()
    path = tmp_path / "run.h5"
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    expected = {}
    for k in range(UNITS):
        test_id = f"mcu/test_mcu_energy.py::test_sleep_current_and_energy_per_event[L0-{k:04d}]"
        unit = McuModel.from_mapping(DUT.model, f"L0-{k:04d}")
        profiler = SimulatedProfiler(unit, vdd=3.0, seed=k)
        measure = Measure(test_id, DUT, recorder.emit)
        recorder.emit(TestStarted(test_id, T))
        energy.test_sleep_current_and_energy_per_event(profiler=profiler, dut=DUT, measure=measure)
        assert not measure.failures, [m.explain() for m in measure.failures]
        recorder.emit(TestFinished(test_id, "passed", T, 0.2))
        expected[test_id] = profiler.schedule
    recorder.emit(RunFinished(T, "passed"))

    with open_run(path) as run:
        for test_id, model in expected.items():
            table = run.test(test_id).measurements
            values = dict(zip(table["name"].tolist(), table["value"].tolist(), strict=True))
            assert values["iq_sleep"] == pytest.approx(model.sleep_current, rel=0.02)
            assert values["charge_per_wakeup"] == pytest.approx(model.event_charge, rel=0.01)
            assert values["energy_per_wakeup"] == pytest.approx(3.0 * model.event_charge, rel=0.01)
            life = 225e-3 * 3600 / model.average_current
            assert values["battery_life_cr2032"] == pytest.approx(life, rel=0.01)
        record = run.test(next(iter(expected)))
        group = record.waveforms["idd_wakeups"].group
        assert group.attrs["complete"] == 1 and len(group["events"]) == 5
        assert set(np.unique(group["segments"]["state"])) == {b"sleep", b"active", b"burst"}


def test_the_sensor_energy_plan_measures_the_model_on_ten_units(tmp_path: Path) -> None:
    sensor = DutProfile.load(asset("dut_profiles/bt_temp_s1.yaml"))
    module = plan("test_plans/sensor/test_sensor_energy.py")
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(tmp_path / "run.h5"))
    recorder.emit(run_started())
    for k in range(10):
        test_id = (
            f"sensor/test_sensor_energy.py::test_standby_current_and_energy_per_conversion[{k}]"
        )
        profiler = SimulatedProfiler(SensorModel.from_mapping(sensor.model, f"S1-{k}"), vdd=3.3)
        measure = Measure(test_id, sensor, recorder.emit)
        recorder.emit(TestStarted(test_id, T))
        module.test_standby_current_and_energy_per_conversion(
            profiler=profiler, dut=sensor, measure=measure
        )
        recorder.emit(TestFinished(test_id, "passed", T, 0.5))
        values = {m.name: m.value for m in measure.recorded}
        model = profiler.schedule
        assert not measure.failures, [m.explain() for m in measure.failures]
        assert values["iq_sleep"] == pytest.approx(model.sleep_current, rel=0.02)
        assert values["energy_per_conversion"] == pytest.approx(3.3 * model.event_charge, rel=0.01)
    recorder.emit(RunFinished(T, "passed"))


def test_a_profiler_unplugged_during_the_plan_leaves_its_samples_in_the_run_file(
    tmp_path: Path,
) -> None:
    energy = plan()
    path = tmp_path / "run.h5"
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    test_id = "mcu/test_mcu_energy.py::test_sleep_current_and_energy_per_event"
    unit = McuModel.from_mapping(DUT.model, "L0-0099")
    profiler = SimulatedProfiler(unit, vdd=3.0, unplug_after=45_000)
    recorder.emit(TestStarted(test_id, T))
    with pytest.raises(ConnectionLostError, match="unplugged after 45000 samples"):
        energy.test_sleep_current_and_energy_per_event(
            profiler=profiler, dut=DUT, measure=Measure(test_id, DUT, recorder.emit)
        )
    recorder.emit(TestFinished(test_id, "error", T, 0.1, "the profiler was unplugged"))
    recorder.emit(RunFinished(T, "error"))
    with open_run(path) as run:
        record = run.test(test_id)
        stored = record.waveforms["idd_wakeups"]
        assert len(stored) == 45_000 and stored.group.attrs["complete"] == 0
        assert "unplugged" in stored.group.attrs["stopped"]
        expected = profiler.schedule.sleep_current
        assert float(np.mean(stored.values(slice(0, 5000)))) == pytest.approx(expected, rel=0.02)
