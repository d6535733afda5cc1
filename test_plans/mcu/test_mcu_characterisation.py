"""BT-MCU-L0 electrical characteristics: supply current by power mode, wake-up, brown-out reset.

The SMU supplies VDD and measures IDD, the debug console switches the power mode, the supply's
second channel drives the WKUP pin while the scope watches it and the supply current (through
a current probe), and the chamber sets the junction temperature. Every limit and fixed
condition comes from the DUT profile; VDD and temperature are swept across their ranges.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchtest import DutProfile, Measure
from benchtest.analysis import threshold_crossing, transitions
from instruments.capabilities import DebugPort, Oscilloscope, PowerSupply, SourceMeter

pytestmark = [pytest.mark.dut_kind("mcu"), pytest.mark.usefixtures("junction_temperature")]

IDD_COMPLIANCE = 20e-3  # A
BOOT = 5e-3  # s the firmware takes to start after power-on
VDD = (1.8, 3.0, 3.6)  # V: the recommended range and the nominal supply
BOR_STEP = 2e-3  # V between the points of the brown-out sweep
BOR_MARGIN = 0.1  # V swept beyond the threshold limits
PROBE = 0.01  # current probe: the scope's channel shows amperes


def power(smu: SourceMeter, vdd: float) -> None:
    smu.source_voltage(vdd, current_limit=IDD_COMPLIANCE)
    smu.output_on()
    time.sleep(BOOT)


@pytest.mark.requires("smu", "uart")
@pytest.mark.parametrize("vdd", VDD)
@pytest.mark.parametrize("mode", ["active", "sleep"])
def test_supply_current(
    mode: str, vdd: float, smu: SourceMeter, uart: DebugPort, dut: DutProfile, measure: Measure
) -> None:
    power(smu, vdd)
    uart.command(dut.debug_port["commands"][mode])
    measure(f"idd_{mode}", smu.measure_current(nplc=1))


@pytest.mark.requires("smu", "uart", "chamber")
@pytest.mark.parametrize(
    ("temperature", "row"),
    [(-40.0, "idd_deepsleep_cold"), (25.0, "idd_deepsleep"), (85.0, "idd_deepsleep_hot")],
)
def test_deep_sleep_current(
    temperature: float,
    row: str,
    smu: SourceMeter,
    uart: DebugPort,
    dut: DutProfile,
    measure: Measure,
) -> None:
    conditions = dut.parameter(row).conditions
    assert conditions["temperature"] == temperature, f"{row} holds at {conditions['temperature']}"
    power(smu, conditions["vdd"])
    uart.command(dut.debug_port["commands"]["deepsleep"])
    measure(row, smu.measure_current(nplc=1))


@pytest.mark.requires("smu", "psu", "scope", "uart")
@pytest.mark.parametrize("vdd", VDD)
def test_wakeup_time_from_stop(
    vdd: float,
    smu: SourceMeter,
    psu: PowerSupply,
    scope: Oscilloscope,
    uart: DebugPort,
    dut: DutProfile,
    measure: Measure,
) -> None:
    """WKUP rising edge (50 %) to the supply current's rise (50 %), out of stop mode."""
    pin, current = dut.nets["wake_scope"]["channel"], dut.nets["idd"]["channel"]
    wake = dut.nets["wake"]["channel"]
    full_scale = 2 * (dut.parameter("idd_active").max or 0.0)
    power(smu, vdd)
    psu.set_voltage(wake, vdd)
    uart.command(dut.debug_port["commands"]["deepsleep"])
    scope.configure_channel(pin, scale=vdd / 4, offset=-vdd / 2)
    scope.configure_channel(current, scale=full_scale / 8, offset=-full_scale / 2, probe=PROBE)
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
    smu: SourceMeter, uart: DebugPort, dut: DutProfile, measure: Measure
) -> None:
    """VDD swept down through the brown-out threshold and back up: IDD falls to the reset
    current and returns when the firmware boots again, reporting a brown-out reset."""
    low = (dut.parameter("v_bor_falling").min or 0.0) - BOR_MARGIN
    high = (dut.parameter("v_bor_rising").max or 0.0) + BOR_MARGIN
    down = np.arange(high, low, -BOR_STEP)
    power(smu, high)
    swept = smu.sweep_voltage(np.concatenate([down, down[::-1]]), current_limit=IDD_COMPLIANCE)
    span = float(np.max(swept.measured) - np.min(swept.measured))
    middle = float(np.min(swept.measured)) + span / 2
    thresholds = threshold_crossing(swept, level=middle, hysteresis=span / 4)
    measure("v_bor_falling", thresholds.falling)
    measure("v_bor_rising", thresholds.rising)
    measure("v_bor_hysteresis", thresholds.hysteresis)
    cause = uart.command(dut.debug_port["commands"]["reset_cause"])
    assert cause == "bor", f"after the brown-out the firmware reports reset cause {cause!r}"
    banner = dut.debug_port["boot_banner"].format(
        firmware_id=uart.identify().model, reset_cause="bor"
    )
    received = "".join(text for _, direction, text in uart.traffic if direction == "rx")
    assert banner in received, f"the console never showed {banner!r}"


@pytest.mark.requires("smu", "uart")
def test_register_map(smu: SourceMeter, uart: DebugPort, dut: DutProfile, measure: Measure) -> None:
    """The device identifier reads as the register map gives it; stop mode entered by a
    register write shows in the status register and in the supply current."""
    registers = dut.debug_port["registers"]
    power(smu, dut.parameter("idd_deepsleep").conditions["vdd"])
    devid = uart.read_register("DEVID")
    assert devid == registers["DEVID"]["reset"], f"DEVID reads {devid:#010x}"
    uart.write_field("PWR_CTRL", "MODE", "deepsleep")
    stop = registers["PWR_STATUS"]["fields"]["MODE"]["values"]["deepsleep"]
    assert uart.read_field("PWR_STATUS", "MODE") == stop, "PWR_STATUS.MODE is not stop"
    measure("idd_deepsleep", smu.measure_current(nplc=1))
