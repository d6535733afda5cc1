"""Unit-to-unit spread: the serial number picks a simulated unit, the same serial the same part,
and 30 sensor units scatter in accuracy as the profile's sigma says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from benchtest import open_instrument
from benchtest.sim import SimulatedBench, SimulatorProcess, SupplyState, build_model
from benchtest.sim.simulators.debug_port import Firmware, PortConfig

REPO = Path(__file__).resolve().parents[1]
SENSOR = REPO / "dut_profiles" / "bt_temp_s1.yaml"
PROFILE: dict[str, Any] = yaml.safe_load(SENSOR.read_text(encoding="utf-8"))
UNITS = [f"SN{n:04d}" for n in range(1, 31)]
READINGS = 8
NO_INSTRUMENTS: dict[str, Any] = {"schema_version": 1, "instruments": {}}


def accuracy_at_room(serial: str) -> float:
    """Mean of READINGS conversions minus the temperature (25 degC), through the console."""
    world = SimulatedBench(PROFILE, NO_INSTRUMENTS, serial=serial).world
    world.apply_supply(SupplyState(output=True, voltage=3.3, current_limit=0.01))
    console = Firmware(world, PortConfig.from_mapping(PROFILE["debug_port"]))
    console.respond("mode cont")  # continuous conversions: a read answers at once
    readings = [float(console.respond("temp").split()[0]) for _ in range(READINGS)]
    return float(np.mean(readings)) - world.temperature()


def test_thirty_units_scatter_as_the_profile_states() -> None:
    errors = np.array([accuracy_at_room(serial) for serial in UNITS])
    stated = PROFILE["model"]["offset"]["sigma"]
    assert np.std(errors, ddof=1) == pytest.approx(stated, rel=0.25)
    assert abs(np.mean(errors)) < 3 * stated / np.sqrt(len(UNITS))


def test_the_same_serial_is_the_same_part_and_another_is_not() -> None:
    first, again = build_model(PROFILE["model"], "SN0007"), build_model(PROFILE["model"], "SN0007")
    other = build_model(PROFILE["model"], "SN0008")
    assert first == again and first != other
    assert build_model(PROFILE["model"]) == build_model(PROFILE["model"], "")  # typical part
    assert accuracy_at_room("SN0007") == accuracy_at_room("SN0007")


def test_a_new_parameter_leaves_every_other_draw_alone() -> None:
    ldo = yaml.safe_load((REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8"))
    before = build_model(ldo["model"], "U0042")
    ldo["model"]["spread"]["uvlo"] = {"sigma": 0.05}
    after = build_model(ldo["model"], "U0042")
    assert after.iq_sleep == before.iq_sleep and after.uvlo != before.uvlo  # type: ignore[attr-defined]


def test_the_simulator_process_serves_the_chosen_unit(tmp_path: Path) -> None:
    bench = yaml.safe_load((REPO / "benches" / "sim.yaml").read_text(encoding="utf-8"))
    bench["instruments"] = {role: bench["instruments"][role] for role in ("smu", "uart")}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench), encoding="utf-8")
    with SimulatorProcess(SENSOR, tmp_path / "bench.yaml", serial="SN0013") as sim:
        resources = {r: spec["resource"] for r, spec in sim.resolved_bench["instruments"].items()}
        with (
            open_instrument("keithley.k2450", resources["smu"]) as smu,
            open_instrument("serial.debug_port", resources["uart"]) as uart,
        ):
            smu.source_voltage(3.3, current_limit=0.01)
            smu.output_on()
            uart.expect("ready, reset cause: por", timeout=2.0)  # booted
            uart.command("mode cont")
            readings = [float(uart.command("temp")) for _ in range(READINGS)]
    noise = PROFILE["model"]["noise_rms"]["typ"]
    assert np.mean(readings) - 25.0 == pytest.approx(accuracy_at_room("SN0013"), abs=4 * noise)


def test_serial_number_selects_the_unit_of_a_plan_run(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(
        str(REPO / "test_plans" / "sensor" / "test_sensor_characterisation.py"),
        "--sim", "--dut", str(SENSOR), "--serial-number", "SN0021",
        "--results-dir", str(pytester.path / "results"), "-p", "no:cacheprovider",
        "-k", "accuracy_over_supply and 3.3",
    )  # fmt: skip
    result.assert_outcomes(passed=1, deselected=14)
    (run_file,) = (pytester.path / "results").glob("*_BT-TEMP-S1_SN0021.h5")
    with h5py.File(run_file, "r") as f:
        assert f.attrs["serial_number"] == "SN0021"
        (row,) = [r for r in f["summary/measurements"][()] if r["name"] == b"accuracy"]
    noise = PROFILE["model"]["noise_rms"]["typ"]
    assert float(row["value"]) == pytest.approx(accuracy_at_room("SN0021"), abs=4 * noise)
