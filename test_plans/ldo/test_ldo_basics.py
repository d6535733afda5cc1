"""BT-LDO33 basics: quiescent current in active and sleep mode, and the start-up ramp.

The SMU sources the input and measures the input current; the debug port switches the power
mode; the scope captures VOUT while the input is switched on. Every limit comes from the DUT
profile, every condition (VIN) from the profile's parameter conditions.
"""

from __future__ import annotations

import pytest

from benchtest import DutProfile, Measure
from benchtest.analysis import rise_time, top_level
from instruments.capabilities import DebugPort, Oscilloscope, SourceMeter

CURRENT_LIMIT = 10e-3  # A, SMU compliance while measuring quiescent current


@pytest.mark.requires("smu", "uart")
@pytest.mark.parametrize("mode", ["active", "sleep"])
def test_quiescent_current(
    mode: str, smu: SourceMeter, uart: DebugPort, dut: DutProfile, measure: Measure
) -> None:
    parameter = dut.parameter(f"iq_{mode}")
    smu.source_voltage(parameter.conditions["vin"], current_limit=CURRENT_LIMIT)
    smu.output_on()
    uart.command(dut.debug_port["commands"][mode])
    measure(parameter.name, smu.measure_current(nplc=1.0))


@pytest.mark.requires("smu", "scope")
def test_startup_ramp(
    smu: SourceMeter, scope: Oscilloscope, dut: DutProfile, measure: Measure
) -> None:
    vout = dut.parameter("vout")
    assert vout.typ is not None
    channel = dut.nets["vout"]["channel"]
    # VOUT fills 3 of the 8 divisions around mid-screen; the window shows the whole ramp.
    scope.configure_channel(channel, scale=vout.typ / 4, offset=-vout.typ / 2)
    scope.configure_timebase(scale=50e-6, position=200e-6)
    scope.configure_edge_trigger(source=channel, level=vout.typ / 2, slope="rising")
    scope.single()
    smu.source_voltage(vout.conditions["vin"], current_limit=CURRENT_LIMIT)
    smu.output_on()
    scope.wait_for_trigger(timeout=5.0)
    waveform = scope.fetch_waveform(channel, points="screen")
    measure.waveform("vout_startup", waveform, "VOUT at power-on")
    measure("vout", top_level(waveform))
    measure("t_startup", rise_time(waveform))
