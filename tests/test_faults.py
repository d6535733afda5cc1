"""Injected faults: slow, garbled and dropped instruments, a DUT that reboots mid-reply, a failing
unit. Each ends in a clear error, or in the right failing test naming parameter, value, limit
and unit."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest import open_instrument
from benchtest.config.dut import DutProfile
from benchtest.sim import SimulatedBench
from benchtest.values.errors import (
    ConnectionLostError,
    InstrumentTimeoutError,
    ProtocolError,
    SimulatorError,
)

REPO = Path(__file__).resolve().parents[1]
LDO = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")
SENSOR = REPO / "dut_profiles" / "bt_temp_s1.yaml"


def one_role(role: str, driver: str, query: str) -> dict[str, Any]:
    """A bench of one simulated instrument whose resource carries `query`."""
    resource = {"driver": driver, "resource": f"sim://{role}?{query}"}
    return {"schema_version": 1, "instruments": {role: resource}}


@pytest.fixture
def faulty_smu(request: pytest.FixtureRequest) -> Iterator[str]:
    """The address of a simulated SMU with the fault `request.param` (a resource query)."""
    with SimulatedBench(dict(LDO.data), one_role("smu", "keithley.k2450", request.param)) as sim:
        yield sim.addresses["smu"]


@pytest.mark.parametrize("faulty_smu", ["fault=slow&delay=0.3"], indirect=True)
def test_a_slow_instrument_times_out_naming_role_and_command(faulty_smu: str) -> None:
    with pytest.raises(
        InstrumentTimeoutError, match=r"\[smu\] no reply within 0\.1 s .*'\*LANG\?'"
    ):
        open_instrument("keithley.k2450", faulty_smu, role="smu", timeout=0.1)


@pytest.mark.parametrize("faulty_smu", ["fault=slow&delay=0.05"], indirect=True)
def test_a_slow_instrument_within_its_timeout_only_slows_the_test(faulty_smu: str) -> None:
    started = time.monotonic()
    with open_instrument("keithley.k2450", faulty_smu, role="smu", timeout=1.0) as smu:
        assert "MODEL 2450" in str(smu.identify())
    assert time.monotonic() - started >= 0.05 * 3  # *LANG?, *IDN? and the error query


@pytest.mark.parametrize("faulty_smu", ["fault=garbage&after=2"], indirect=True)
def test_garbage_bytes_are_a_protocol_error(faulty_smu: str) -> None:
    smu = open_instrument("keithley.k2450", faulty_smu, role="smu", timeout=0.5)  # 2 commands
    try:
        with pytest.raises(ProtocolError, match=r"\[smu\] .*'\*IDN\?'.*garbled"):
            smu.identify()
    finally:
        smu.close()


@pytest.mark.parametrize("faulty_smu", ["fault=drop&after=2"], indirect=True)
def test_a_dropped_connection_is_lost_and_stays_lost(faulty_smu: str) -> None:
    smu = open_instrument("keithley.k2450", faulty_smu, role="smu", timeout=0.5)
    try:
        with pytest.raises(ConnectionLostError, match=r"\[smu\] .*closed.*'\*IDN\?'"):
            smu.identify()
    finally:
        smu.close()
    with pytest.raises(ConnectionLostError):
        open_instrument("keithley.k2450", faulty_smu, role="smu", timeout=0.5)


def test_a_garbled_debug_port_times_out_showing_what_arrived() -> None:
    bench = one_role("uart", "serial.debug_port", "fault=garbage")
    with (
        SimulatedBench(dict(LDO.data), bench) as sim,
        open_instrument("serial.debug_port", sim.addresses["uart"], timeout=0.3) as uart,
        pytest.raises(InstrumentTimeoutError, match=r"did not arrive within 0\.3 s.*garbled"),
    ):
        uart.command("id")


@pytest.mark.parametrize(
    ("role", "driver", "query", "words"),
    [
        (
            "smu",
            "keithley.k2450",
            "fault=smoke",
            "unknown fault 'smoke'; faults: slow, garbage, drop",
        ),
        ("smu", "keithley.k2450", "fault=slow&delay=soon", "delay='soon': expected a time in s"),
        ("smu", "keithley.k2450", "fault=drop&delay=1", "fault drop takes no 'delay'"),
        ("uart", "serial.debug_port", "fault=drop", "fault drop is for SCPI instruments"),
        ("chamber", "temptronic.ats545", "time_constant=-1", "time_constant='-1': expected"),
        ("smu", "keithley.k2450", "fault", "cannot read the settings 'fault'"),
    ],
)
def test_a_bad_fault_setting_names_the_role_and_the_setting(
    role: str, driver: str, query: str, words: str
) -> None:
    with pytest.raises(SimulatorError, match=rf"instruments\.{role}\.resource: .*{words}"):
        SimulatedBench(dict(LDO.data), one_role(role, driver, query))


def sensor_with_faults(faults: dict[str, Any]) -> dict[str, Any]:
    profile = yaml.safe_load(SENSOR.read_text(encoding="utf-8"))
    profile["model"]["faults"] = faults
    return profile


def test_a_dut_that_reboots_mid_reply_shows_the_reboot() -> None:
    profile = sensor_with_faults({"reboot_during": {"command": "temp", "times": 1}})
    bench = yaml.safe_load((REPO / "benches" / "sim.yaml").read_text(encoding="utf-8"))
    bench["instruments"] = {r: bench["instruments"][r] for r in ("smu", "uart")}
    with SimulatedBench(profile, bench) as sim:
        sim.world.apply_supply(
            dataclasses.replace(sim.world.supply, output=True, voltage=3.3, current_limit=0.01)
        )
        with open_instrument("serial.debug_port", sim.addresses["uart"], role="uart") as uart:
            reply = uart.command("temp")
            assert reply.endswith("BT-TEMP-S1 rev C fw 1.0.3 ready, reset cause: watchdog")
            assert uart.command("rstcause") == "watchdog"
            assert float(uart.command("temp")) == pytest.approx(25.0, abs=1.0)  # once only


def run_plan(
    pytester: pytest.Pytester, plan: str, profile: dict[str, Any], *args: str
) -> pytest.RunResult:
    (pytester.path / "dut.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    return pytester.runpytest_inprocess(
        str(REPO / "test_plans" / plan), "--sim", "--dut", "dut.yaml",
        "--results-dir", str(pytester.path / "results"), "-p", "no:cacheprovider", *args,
    )  # fmt: skip


def test_a_failing_unit_fails_the_right_test_naming_parameter_value_limit_unit(
    pytester: pytest.Pytester,
) -> None:
    profile = sensor_with_faults({"out_of_spec": {"t_conversion": 0.0195}})
    result = run_plan(
        pytester, "sensor/test_sensor_characterisation.py", profile, "-k", "conversion or repeat"
    )
    result.assert_outcomes(passed=1, failed=1, deselected=13)
    result.stdout.fnmatch_lines(
        [
            "*test_conversion_time*",
            "*t_conversion = 0.019* s is above the high limit 0.0175 s*",
            "*= 1 parameter(s) out of limits =*",
        ]
    )


def test_a_dut_reboot_during_a_plan_is_a_clear_error(pytester: pytest.Pytester) -> None:
    profile = sensor_with_faults({"reboot_during": "temp"})
    result = run_plan(pytester, "sensor/test_sensor_characterisation.py", profile, "-k", "repeat")
    result.assert_outcomes(failed=1, deselected=14)
    result.stdout.fnmatch_lines(
        ["*ProtocolError: ?uart? the reply is not a temperature (command 'temp')*watchdog*"]
    )


def test_a_dropped_instrument_in_the_bench_file_errors_its_tests_only(
    pytester: pytest.Pytester, sim_bench_text: str
) -> None:
    bench = sim_bench_text.replace(
        "resource: sim://scope\n    options: {timeout: 10.0}",
        "resource: sim://scope?fault=drop&after=3\n    options: {timeout: 1.0}",
    )
    (pytester.path / "bench.yaml").write_text(bench, encoding="utf-8")
    result = run_plan(
        pytester, "ldo/test_ldo_characterisation.py", yaml.safe_load(LDO.text),
        "--bench", "bench.yaml", "-k", "startup or test_output_voltage",
    )  # fmt: skip
    result.assert_outcomes(passed=4, failed=1, deselected=12)
    result.stdout.fnmatch_lines(
        ["*ConnectionLostError: ?scope? connection closed by the instrument*"]
    )
