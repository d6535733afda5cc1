"""Characterisation of run files that the real sensor plan wrote on the simulated bench: two
units of two lots, each selected by its serial number, measured over VDD."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from characterise_units import PART, PROFILE, SENSOR, SimulatedUnit

from benchtest.review.characterise import Characterisation, characterise

REPO = Path(__file__).resolve().parents[1]
PLAN = REPO / "test_plans" / "sensor" / "test_sensor_characterisation.py"
SELECTED = "accuracy_over_supply or supply_current_converting"  # 6 of the plan's tests
UNITS = {"SN0003": "L1", "SN0027": "L2"}
HANG_GUARD = 120.0  # s: only stops a hung run


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Characterisation:
    results = tmp_path_factory.mktemp("results")
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", str(PLAN), "--sim", "--dut", str(SENSOR),
             "--serial-number", serial, "--lot", lot, "--results-dir", str(results),
             "-p", "no:cacheprovider", "-q", "-k", SELECTED],
            cwd=results, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for serial, lot in UNITS.items()
    ]  # fmt: skip
    for run in runs:
        output, _ = run.communicate(timeout=HANG_GUARD)
        assert run.returncode == 0, output
    return characterise([results])


def test_every_condition_of_the_plan_is_a_row_with_both_units(result: Characterisation) -> None:
    assert result.part == PART and {u.serial: u.lot for u in result.units} == UNITS
    pooled = [r for r in result.rows if not r.group]
    assert {(r.parameter, dict(r.conditions)["vdd"]) for r in pooled} == {
        (name, vdd) for name in ("accuracy", "idd_active") for vdd in (1.8, 3.3, 5.5)
    }
    for row in pooled:
        assert row.spread.count == 2 and row.units == 2
        assert dict(row.conditions)["temperature"] == 25.0
        limits = PROFILE["parameters"][row.parameter]
        assert row.spread.high == limits["max"]
    assert {r.group for r in result.rows} == {"", "lot=L1", "lot=L2"}


def test_the_values_are_those_of_the_simulated_units(result: Characterisation) -> None:
    """The plan's accuracy at 3.3 V of each unit is that unit's model, within reading noise."""
    noise = PROFILE["model"]["noise_rms"]["typ"]
    for serial, lot in UNITS.items():
        (row,) = [r for r in result.rows if r.parameter == "accuracy" and r.group == f"lot={lot}"
                  and dict(r.conditions)["vdd"] == 3.3]  # fmt: skip
        assert row.values[0] == pytest.approx(
            SimulatedUnit.measure(serial).accuracy[3.3], abs=4 * noise
        )
