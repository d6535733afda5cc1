"""BT-LDO33 electrical characteristics, row by row as the datasheet table lists them.

The SMU sources VIN, the DMM reads VOUT at its sense point, a second SMU (`load`) sinks the
output current or forces VOUT, the scope captures the start-up and the chamber sets the
junction temperature. Every limit, and every condition the table fixes, comes from the DUT
profile; the plan sweeps VIN, IOUT and temperature across the ranges the conditions give.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchtest import DutProfile, Measure
from benchtest.analysis import (
    dropout_voltage,
    line_regulation,
    load_regulation,
    overshoot,
    rise_time,
)
from instruments.capabilities import DebugPort, Multimeter, Oscilloscope, SourceMeter

pytestmark = [pytest.mark.dut_kind("ldo"), pytest.mark.usefixtures("junction_temperature")]

VIN_COMPLIANCE = 0.49  # A: above the current limit, inside the 0.5 A input rating
LOAD_COMPLIANCE = 6.0  # V, the load SMU's voltage limit while it sinks current
TEMPERATURES = (-40.0, 25.0, 125.0)  # degC, held by `junction_temperature`
POINTS = 11  # points of a regulation sweep


def power(smu: SourceMeter, vin: float, dut: DutProfile) -> None:
    """VIN on, then ten times the longest start-up time for VOUT to settle."""
    smu.source_voltage(vin, current_limit=VIN_COMPLIANCE)
    smu.output_on()
    time.sleep(10 * (dut.parameter("t_startup").max or 0.0))


def sink(load: SourceMeter, amperes: float) -> None:
    load.source_current(-amperes, voltage_limit=LOAD_COMPLIANCE)
    load.output_on()


@pytest.mark.requires("smu", "dmm")
def test_output_voltage(
    smu: SourceMeter, dmm: Multimeter, dut: DutProfile, measure: Measure
) -> None:
    power(smu, dut.parameter("vout").conditions["vin"], dut)
    measure("vout", dmm.measure_voltage_dc(nplc=10))


@pytest.mark.requires("smu", "dmm", "chamber")
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_output_voltage_over_temperature(
    temperature: float, smu: SourceMeter, dmm: Multimeter, dut: DutProfile, measure: Measure
) -> None:
    power(smu, dut.parameter("vout_over_temperature").conditions["vin"], dut)
    measure("vout_over_temperature", dmm.measure_voltage_dc(nplc=10))


@pytest.mark.requires("smu", "dmm", "load")
def test_line_regulation(
    smu: SourceMeter, dmm: Multimeter, load: SourceMeter, dut: DutProfile, measure: Measure
) -> None:
    conditions = dut.parameter("line_regulation").conditions
    vin = np.linspace(*conditions["vin"], POINTS)
    power(smu, float(vin[-1]), dut)
    sink(load, conditions["iout"])
    vout = []
    for level in vin:
        smu.source_voltage(float(level), current_limit=VIN_COMPLIANCE)
        vout.append(dmm.measure_voltage_dc(nplc=1))
    measure("line_regulation", line_regulation(vin, vout))


@pytest.mark.requires("smu", "load")
@pytest.mark.parametrize("vin", [3.6, 5.0, 5.5])
def test_load_regulation(
    vin: float, smu: SourceMeter, load: SourceMeter, dut: DutProfile, measure: Measure
) -> None:
    low, high = dut.parameter("load_regulation").conditions["iout"]
    power(smu, vin, dut)
    swept = load.sweep_current(-np.linspace(low, high, POINTS), voltage_limit=LOAD_COMPLIANCE)
    measure("load_regulation", load_regulation(-swept.source, swept.measured))


@pytest.mark.requires("smu", "dmm", "load", "chamber")
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_dropout_voltage(
    temperature: float,
    smu: SourceMeter,
    dmm: Multimeter,
    load: SourceMeter,
    dut: DutProfile,
    measure: Measure,
) -> None:
    conditions = dut.parameter("dropout").conditions
    vout = dut.parameter("vout")
    assert vout.typ is not None
    vin = np.arange(vout.typ + 0.45, vout.typ - 0.15, -0.01)  # from regulation into dropout
    power(smu, float(vin[0]), dut)
    sink(load, conditions["iout"])
    readings = []
    for level in vin:
        smu.source_voltage(float(level), current_limit=VIN_COMPLIANCE)
        readings.append(dmm.measure_voltage_dc(nplc=1))
    measure("dropout", dropout_voltage(vin, readings, drop=conditions["drop"]))


@pytest.mark.requires("smu", "load")
@pytest.mark.parametrize("vin", [4.0, 5.0, 5.5])
def test_current_limit(
    vin: float, smu: SourceMeter, load: SourceMeter, dut: DutProfile, measure: Measure
) -> None:
    fraction = dut.parameter("current_limit").conditions["vout_fraction"]
    vout = dut.parameter("vout")
    assert vout.typ is not None
    power(smu, vin, dut)
    load.source_voltage(fraction * vout.typ, current_limit=VIN_COMPLIANCE)
    load.output_on()
    measure("current_limit", -load.measure_current(nplc=1))


@pytest.mark.requires("smu", "uart")
@pytest.mark.parametrize("mode", ["active", "sleep"])
def test_quiescent_current_by_register(
    mode: str, smu: SourceMeter, uart: DebugPort, dut: DutProfile, measure: Measure
) -> None:
    """The power mode set through the register map: CTRL.MODE."""
    power(smu, dut.parameter(f"iq_{mode}").conditions["vin"], dut)
    uart.write_field("CTRL", "MODE", mode)
    assert uart.read_field("STATUS", "PG") == 1, "STATUS.PG: the output is not in regulation"
    measure(f"iq_{mode}", smu.measure_current(nplc=1))


@pytest.mark.requires("smu", "scope")
def test_startup(smu: SourceMeter, scope: Oscilloscope, dut: DutProfile, measure: Measure) -> None:
    vout = dut.parameter("vout")
    assert vout.typ is not None
    channel = dut.nets["vout"]["channel"]
    # The finest scale that keeps the whole ramp and a 7 % overshoot on the screen.
    scope.configure_channel(channel, scale=vout.typ / 7, offset=-vout.typ / 2)
    scope.configure_timebase(scale=50e-6, position=200e-6)
    scope.configure_edge_trigger(source=channel, level=vout.typ / 2, slope="rising")
    scope.single()
    power(smu, dut.parameter("t_startup").conditions["vin"], dut)
    scope.wait_for_trigger(timeout=5.0)
    waveform = scope.fetch_waveform(channel, points="screen")
    measure.waveform("vout_startup", waveform, "VOUT at power-on")
    measure("t_startup", rise_time(waveform))
    measure("startup_overshoot", overshoot(waveform))
