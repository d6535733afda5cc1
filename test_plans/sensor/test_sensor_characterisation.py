"""BT-TEMP-S1 electrical characteristics: accuracy against the reference, repeatability,
conversion time and supply current.

The chamber holds the part and reads the reference temperature on its DUT sensor; the sensor
is read through its console; the SMU supplies VDD and measures IDD; the scope sees a one-shot
conversion as a pulse of supply current (through a current probe). Every limit and fixed
condition comes from the DUT profile; temperature and VDD are swept across their ranges.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from benchtest import DutProfile, Measure, MeasurementError, ProtocolError
from benchtest.analysis import pulse_width
from instruments.capabilities import Chamber, DebugPort, Oscilloscope

pytestmark = [pytest.mark.dut_kind("sensor"), pytest.mark.usefixtures("junction_temperature")]

PowerOn = Callable[[float, float], None]  # the `power_on` fixture
ModeCurrent = Callable[[str, float, float], float]  # the `mode_current` fixture
IDD_COMPLIANCE = 10e-3  # A
READINGS = 8  # conversions averaged per accuracy point
ACCURACY_ROWS = ("accuracy", "accuracy_wide")  # tightest first


def nominal_vdd(dut: DutProfile) -> float:
    return float(dut.data["recommended_operating"]["vdd"]["typ"])


def read_temperature(uart: DebugPort, dut: DutProfile) -> float:
    """One conversion's result, degC, as the console prints it."""
    command = dut.debug_port["commands"]["read"]
    reply = uart.command(command)
    match = re.search(dut.debug_port["replies"]["read"], reply)
    if match is None:
        raise ProtocolError(
            "the reply is not a temperature", role=uart.role, command=command, received=reply
        )
    return float(match["value"])


def accuracy_row(dut: DutProfile, celsius: float) -> str:
    """The tightest accuracy row whose temperature range covers `celsius`."""
    for row in ACCURACY_ROWS:
        low, high = dut.parameter(row).conditions["temperature"]
        if low <= celsius <= high:
            return row
    raise MeasurementError(f"no accuracy row of {dut.name} covers {celsius} degC")


def accuracy(uart: DebugPort, chamber: Chamber, dut: DutProfile) -> float:
    """Mean reading minus the chamber's reference temperature, degC."""
    readings = [read_temperature(uart, dut) for _ in range(READINGS)]
    return float(np.mean(readings)) - chamber.temperature


@pytest.mark.requires("smu", "uart", "chamber")
@pytest.mark.parametrize("temperature", [-40.0, -20.0, 25.0, 85.0, 125.0])
def test_accuracy_over_temperature(
    temperature: float,
    uart: DebugPort,
    chamber: Chamber,
    dut: DutProfile,
    measure: Measure,
    power_on: PowerOn,
) -> None:
    power_on(nominal_vdd(dut), IDD_COMPLIANCE)
    measure(accuracy_row(dut, temperature), accuracy(uart, chamber, dut))


@pytest.mark.requires("smu", "uart", "chamber")
@pytest.mark.parametrize("vdd", [1.8, 3.3, 5.5])
def test_accuracy_over_supply(
    vdd: float,
    uart: DebugPort,
    chamber: Chamber,
    dut: DutProfile,
    measure: Measure,
    power_on: PowerOn,
) -> None:
    power_on(vdd, IDD_COMPLIANCE)
    measure("accuracy", accuracy(uart, chamber, dut))


@pytest.mark.requires("smu", "uart")
def test_repeatability(
    uart: DebugPort, dut: DutProfile, measure: Measure, power_on: PowerOn
) -> None:
    conditions = dut.parameter("repeatability").conditions
    power_on(conditions["vdd"], IDD_COMPLIANCE)
    readings = [read_temperature(uart, dut) for _ in range(conditions["conversions"])]
    measure("repeatability", float(np.std(readings, ddof=1)))


@pytest.mark.requires("smu", "scope", "uart")
def test_conversion_time(
    scope: Oscilloscope,
    uart: DebugPort,
    dut: DutProfile,
    measure: Measure,
    power_on: PowerOn,
) -> None:
    channel = dut.nets["idd"]["channel"]
    full_scale = 2 * (dut.parameter("idd_active").max or 0.0)
    power_on(dut.parameter("t_conversion").conditions["vdd"], IDD_COMPLIANCE)
    # The profile's current probe on this channel: scale and offset in A, the trace in A.
    scope.configure_channel(channel, scale=full_scale / 8, offset=-full_scale / 2)
    scope.configure_timebase(scale=2e-3, position=8e-3)
    scope.configure_edge_trigger(source=channel, level=full_scale / 4, slope="rising")
    scope.single()
    uart.command(dut.debug_port["commands"]["convert"])
    scope.wait_for_trigger(timeout=5.0)
    waveform = scope.fetch_waveform(channel, points="screen")
    measure.waveform("idd_conversion", waveform, "IDD during a one-shot conversion")
    measure("t_conversion", pulse_width(waveform))


@pytest.mark.requires("smu", "uart")
@pytest.mark.parametrize("vdd", [1.8, 3.3, 5.5])
def test_supply_current_converting(vdd: float, measure: Measure, mode_current: ModeCurrent) -> None:
    measure("idd_active", mode_current("continuous", vdd, IDD_COMPLIANCE))


@pytest.mark.requires("smu", "uart", "chamber")
@pytest.mark.parametrize(
    ("temperature", "row"), [(25.0, "idd_standby"), (125.0, "idd_standby_hot")]
)
def test_standby_current(
    temperature: float, row: str, dut: DutProfile, measure: Measure, mode_current: ModeCurrent
) -> None:
    conditions = dut.parameter(row).conditions
    assert conditions["temperature"] == temperature, f"{row} holds at {conditions['temperature']}"
    measure(row, mode_current("standby", conditions["vdd"], IDD_COMPLIANCE))
