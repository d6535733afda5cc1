"""BT-MCU-L0 electrical characteristics: supply current by power mode, wake-up, brown-out reset.

The SMU supplies VDD and measures IDD, the debug console switches the power mode, the supply's
second channel drives the WKUP pin while the scope watches it and the supply current (through
a current probe), and the chamber sets the junction temperature. Every limit and fixed
condition comes from the DUT profile; VDD and temperature are swept across their ranges.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from benchtest import DutProfile, Measure
from benchtest.analysis import threshold_crossing, transitions
from instruments.capabilities import DebugPort, Oscilloscope, PowerSupply, SourceMeter

pytestmark = [pytest.mark.dut_kind("mcu"), pytest.mark.usefixtures("junction_temperature")]

PowerOn = Callable[[float, float], None]  # the `power_on` fixture
ModeCurrent = Callable[[str, float, float], float]  # the `mode_current` fixture
IDD_COMPLIANCE = 20e-3  # A
VDD = (1.8, 3.0, 3.6)  # V: the recommended range and the nominal supply
BOR_STEP = 2e-3  # V between the points of the brown-out sweep
BOR_MARGIN = 0.1  # V swept beyond the threshold limits


@pytest.mark.requires("smu", "uart")
@pytest.mark.parametrize("vdd", VDD)
@pytest.mark.parametrize("mode", ["active", "sleep"])
def test_supply_current(mode: str, vdd: float, measure: Measure, mode_current: ModeCurrent) -> None:
    measure(f"idd_{mode}", mode_current(mode, vdd, IDD_COMPLIANCE))


@pytest.mark.requires("smu", "uart", "chamber")
@pytest.mark.parametrize(
    ("temperature", "row"),
    [(-40.0, "idd_deepsleep_cold"), (25.0, "idd_deepsleep"), (85.0, "idd_deepsleep_hot")],
)
def test_deep_sleep_current(
    temperature: float, row: str, dut: DutProfile, measure: Measure, mode_current: ModeCurrent
) -> None:
    conditions = dut.parameter(row).conditions
    assert conditions["temperature"] == temperature, f"{row} holds at {conditions['temperature']}"
    measure(row, mode_current("deepsleep", conditions["vdd"], IDD_COMPLIANCE))


@pytest.mark.requires("smu", "psu", "scope", "uart")
@pytest.mark.parametrize("vdd", VDD)
def test_wakeup_time_from_stop(
    vdd: float,
    psu: PowerSupply,
    scope: Oscilloscope,
    uart: DebugPort,
    dut: DutProfile,
    measure: Measure,
    power_on: PowerOn,
) -> None:
    """WKUP rising edge (50 %) to the supply current's rise (50 %), out of stop mode."""
    pin, current = dut.nets["wake_scope"]["channel"], dut.nets["idd"]["channel"]
    wake = dut.nets["wake"]["channel"]
    full_scale = 2 * (dut.parameter("idd_active").max or 0.0)
    power_on(vdd, IDD_COMPLIANCE)
    psu.set_voltage(wake, vdd)
    uart.command(dut.debug_port["commands"]["deepsleep"])
    scope.configure_channel(pin, scale=vdd / 4, offset=-vdd / 2)
    # The profile's current probe on this channel: scale and offset in A, the trace in A.
    scope.configure_channel(current, scale=full_scale / 8, offset=-full_scale / 2)
    scope.configure_timebase(scale=2e-6, position=8e-6)
    scope.configure_edge_trigger(source=pin, level=vdd / 2, slope="rising")
    scope.single()
    psu.output_on(wake)
    scope.wait_for_trigger(timeout=5.0)
    edge = scope.fetch_waveform(pin, points="screen")
    supply = scope.fetch_waveform(current, points="screen")
    measure.waveform("wake_pin", edge, "WKUP at the wake-up")
    measure.waveform("idd_wakeup", supply, "IDD at the wake-up (current probe)")
    measure("t_wakeup", transitions(supply)[0].middle - transitions(edge)[0].middle)


@pytest.mark.requires("smu", "uart")
def test_brownout_reset(
    smu: SourceMeter,
    uart: DebugPort,
    dut: DutProfile,
    measure: Measure,
    power_on: PowerOn,
    boot_banner: Callable[[str], str],
) -> None:
    """VDD swept down through the brown-out threshold and back up: IDD falls to the reset
    current and returns when the firmware boots again, reporting a brown-out reset."""
    low = (dut.parameter("v_bor_falling").min or 0.0) - BOR_MARGIN
    high = (dut.parameter("v_bor_rising").max or 0.0) + BOR_MARGIN
    down = np.arange(high, low, -BOR_STEP)
    power_on(high, IDD_COMPLIANCE)
    swept = smu.sweep_voltage(np.concatenate([down, down[::-1]]), current_limit=IDD_COMPLIANCE)
    span = float(np.max(swept.measured) - np.min(swept.measured))
    middle = float(np.min(swept.measured)) + span / 2
    thresholds = threshold_crossing(swept, level=middle, hysteresis=span / 4)
    measure("v_bor_falling", thresholds.falling)
    measure("v_bor_rising", thresholds.rising)
    measure("v_bor_hysteresis", thresholds.hysteresis)
    uart.expect(boot_banner("bor"), timeout=1.0)  # the console shows the reboot
    cause = uart.command(dut.debug_port["commands"]["reset_cause"])
    assert cause == "bor", f"after the brown-out the firmware reports reset cause {cause!r}"


@pytest.mark.requires("smu", "uart")
def test_register_map(
    smu: SourceMeter, uart: DebugPort, dut: DutProfile, measure: Measure, power_on: PowerOn
) -> None:
    """The device identifier reads as the register map gives it; stop mode entered by a
    register write shows in the status register and in the supply current."""
    registers = dut.debug_port["registers"]
    power_on(dut.parameter("idd_deepsleep").conditions["vdd"], IDD_COMPLIANCE)
    devid = uart.read_register("DEVID")
    assert devid == registers["DEVID"]["reset"], f"DEVID reads {devid:#010x}"
    uart.write_field("PWR_CTRL", "MODE", "deepsleep")
    stop = registers["PWR_STATUS"]["fields"]["MODE"]["values"]["deepsleep"]
    assert uart.read_field("PWR_STATUS", "MODE") == stop, "PWR_STATUS.MODE is not stop"
    measure("idd_deepsleep", smu.measure_current(nplc=1))
