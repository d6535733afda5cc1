"""Each family's characterisation plan on the simulated bench, run by pytest with `--sim --dut`.

The profile's model is changed first; every plan must still pass, and each changed parameter
must come back from the bench moved by exactly what the physics says.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.results import open_run

REPO = Path(__file__).resolve().parents[1]
Values = dict[str, dict[str, float]]  # test name -> parameter -> measured value


def quick_chamber_bench(path: Path) -> Path:
    """The simulated bench of benches/sim.yaml, its chamber settling five times faster: the
    plans wait for it at every temperature, and how long it takes is not what is checked."""
    bench = yaml.safe_load((REPO / "benches" / "sim.yaml").read_text(encoding="utf-8"))
    chamber = bench["instruments"]["chamber"]
    assert chamber["resource"] == "sim://chamber?time_constant=0.05", chamber
    chamber["resource"] = "sim://chamber?time_constant=0.01"
    chamber["options"].update(soak_time=0.02, poll_interval=0.005)
    path.write_text(yaml.safe_dump(bench, sort_keys=False), encoding="utf-8")
    return path


def run_family(
    pytester: pytest.Pytester, plan: str, profile: str, model: dict[str, Any]
) -> tuple[pytest.RunResult, Values]:
    """Run `test_plans/<plan>` against `profile` with its model updated by `model`."""
    data = yaml.safe_load((REPO / "dut_profiles" / profile).read_text(encoding="utf-8"))
    data["model"].update(model)
    (pytester.path / "dut.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    bench = quick_chamber_bench(pytester.path / "bench.yaml")
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        str(REPO / "test_plans" / plan), "--sim", "--bench", str(bench), "--dut", "dut.yaml",
        "--results-dir", str(results), "-p", "no:cacheprovider",
    )  # fmt: skip
    (path,) = results.glob("*.h5")
    with open_run(path) as run:
        values = {
            test.id.split("::")[-1]: {row["name"]: float(row["value"]) for row in test.measurements}
            for test in run
        }
    return result, values


def test_ldo_plan_measures_what_the_model_says(pytester: pytest.Pytester) -> None:
    model = {
        "line_regulation": 1.5e-3,
        "load_regulation": 0.05,
        "dropout": 0.17,
        "current_limit": 0.44,
        "startup_overshoot": 0.03,
        "vout_nominal": 3.31,
    }
    result, values = run_family(
        pytester, "ldo/test_ldo_characterisation.py", "bt_ldo33.yaml", model
    )
    result.assert_outcomes(passed=17)
    assert values["test_line_regulation"]["line_regulation"] == pytest.approx(1.5e-3, rel=1e-3)
    for vin in ("3.6", "5.0", "5.5"):
        assert values[f"test_load_regulation[{vin}]"]["load_regulation"] == pytest.approx(-0.05)
        assert values[f"test_current_limit[{vin if vin != '3.6' else '4.0'}]"][
            "current_limit"
        ] == pytest.approx(0.44, rel=1e-4)
    dropout_tempco = 4.0e-3  # the profile's, per degC
    assert values["test_dropout_voltage[25.0]"]["dropout"] == pytest.approx(0.17, abs=2e-3)
    assert values["test_dropout_voltage[125.0]"]["dropout"] == pytest.approx(
        0.17 * (1 + dropout_tempco * 100), abs=2e-3
    )
    assert values["test_output_voltage"]["vout"] == pytest.approx(3.31, abs=1e-6)
    assert values["test_output_voltage_over_temperature[125.0]"][
        "vout_over_temperature"
    ] == pytest.approx(3.31 * (1 + 30e-6 * 100), abs=1e-4)
    startup = values["test_startup"]
    assert startup["startup_overshoot"] == pytest.approx(3.0, abs=0.6)  # %, 1 LSB at 8 bits
    assert startup["t_startup"] == pytest.approx(80e-6 * math.log(9), rel=0.03)


def test_mcu_plan_measures_what_the_model_says(pytester: pytest.Pytester) -> None:
    model = {
        "idd_sleep": 0.45e-3,
        "wakeup_deepsleep": 6.5e-6,
        "bor_falling": 1.60,
        "bor_hysteresis": 0.10,
    }
    result, values = run_family(
        pytester, "mcu/test_mcu_characterisation.py", "bt_mcu_l0.yaml", model
    )
    result.assert_outcomes(passed=14)
    assert values["test_supply_current[sleep-3.0]"]["idd_sleep"] == pytest.approx(0.45e-3, rel=5e-3)
    assert values["test_supply_current[sleep-3.6]"]["idd_sleep"] == pytest.approx(
        0.45e-3 * (1 + 0.04 * 0.6), rel=5e-3
    )
    current_tau = 0.3e-6  # the profile's; the current's 50 % point comes tau ln 2 later
    wakeup = 6.5e-6 + current_tau * math.log(2)
    for vdd in ("1.8", "3.0", "3.6"):
        measured = values[f"test_wakeup_time_from_stop[{vdd}]"]["t_wakeup"]
        assert measured == pytest.approx(wakeup, abs=40e-9)  # two samples of 20 ns
    brownout = values["test_brownout_reset"]
    assert brownout["v_bor_falling"] == pytest.approx(1.60, abs=2e-3)  # the sweep's step
    assert brownout["v_bor_rising"] == pytest.approx(1.70, abs=2e-3)
    assert brownout["v_bor_hysteresis"] == pytest.approx(0.10, abs=2e-3)
    floor, leakage = 0.40e-6, 0.45e-6
    assert values["test_deep_sleep_current[85.0-idd_deepsleep_hot]"][
        "idd_deepsleep_hot"
    ] == pytest.approx(floor + leakage * 2 ** (60 / 20), rel=0.01)


def test_sensor_plan_measures_what_the_model_says(pytester: pytest.Pytester) -> None:
    model = {"offset": 0.2, "curvature": -2.5e-5, "t_conversion": 16.5e-3, "idd_active": 150e-6}
    plan, profile = "sensor/test_sensor_characterisation.py", "bt_temp_s1.yaml"
    result, values = run_family(pytester, plan, profile, model)
    result.assert_outcomes(passed=15)
    resolution = 0.03  # degC: the LSB, the noise of 8 readings and the reference's 0.1 digit
    assert values["test_accuracy_over_temperature[25.0]"]["accuracy"] == pytest.approx(
        0.2, abs=resolution
    )
    assert values["test_accuracy_over_temperature[125.0]"]["accuracy_wide"] == pytest.approx(
        0.2 - 2.5e-5 * 100**2, abs=resolution
    )
    assert values["test_accuracy_over_supply[5.5]"]["accuracy"] == pytest.approx(
        0.2 + 0.02 * (5.5 - 3.3), abs=resolution
    )
    assert values["test_conversion_time"]["t_conversion"] == pytest.approx(16.5e-3, abs=40e-6)
    assert values["test_supply_current_converting[3.3]"]["idd_active"] == pytest.approx(
        150e-6, rel=5e-3
    )
