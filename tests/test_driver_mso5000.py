"""Rigol MSO5000 driver against scripted conversations: the DS1000Z dialect, MSO5000 limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_driver_ds1000z import (
    END_OF_READOUT,
    ERR,
    OK,
    checked,
    chunk,
    settings_queries,
    unchecked,
)

from benchtest.driver.scpi import InvalidValueError
from benchtest.driver.testing import expected_protocol
from benchtest.values.errors import InstrumentReportedError
from instruments.capabilities import Oscilloscope
from instruments.rigol.ds1000z import RigolDS1000Z
from instruments.rigol.mso5000 import RigolMSO5000

# 10 divisions of 50 us around a 200 us delay: XINC = TimeScale/100, 1000 points.
SCREEN_PREAMBLE = "0,0,1000,1,5.000000e-07,-5.000000e-05,0,2.000000e-02,-75,127"


def test_driver_provides_the_oscilloscope_capability() -> None:
    with expected_protocol(RigolMSO5000, []) as scope:
        assert isinstance(scope, Oscilloscope)
    assert (
        RigolMSO5000.driver_name == "rigol.mso5000" and "Oscilloscope" in RigolMSO5000.capabilities
    )
    assert RigolMSO5000.max_points_per_read == 250_000  # undocumented: the DS1000Z's chunk


@pytest.mark.parametrize("probe", [0.0001, 50000])
def test_mso5000_probe_ratios(probe: float) -> None:
    conversation = checked(
        ":CHANnel1:DISPlay 1",
        f":CHANnel1:PROBe {probe}",
        ":CHANnel1:SCALe 1.0",
        ":CHANnel1:OFFSet 0.0",
        ":CHANnel1:COUPling DC",
    )
    with expected_protocol(RigolMSO5000, conversation) as scope:
        scope.configure_channel(1, scale=1.0, probe=probe)
    with expected_protocol(RigolDS1000Z, []) as ds, pytest.raises(InvalidValueError):
        ds.configure_channel(1, scale=1.0, probe=probe)  # the DS1000Z has no such ratio


def test_timebase_reaches_1_ns_and_1000_s() -> None:
    conversation = checked(":TIMebase:MAIN:SCALe 1e-09", ":TIMebase:MAIN:OFFSet 0.0")
    conversation += checked(":TIMebase:MAIN:SCALe 1000.0", ":TIMebase:MAIN:OFFSet 0.0")
    with expected_protocol(RigolMSO5000, conversation) as scope:
        scope.configure_timebase(scale=1e-9)
        scope.configure_timebase(scale=1000.0)
        with pytest.raises(InvalidValueError):
            scope.configure_timebase(scale=2000.0)


def test_edge_trigger_and_single() -> None:
    conversation = checked(
        ":TRIGger:MODE EDGE",
        ":TRIGger:EDGe:SOURce CHANnel1",
        ":TRIGger:EDGe:SLOPe POSitive",
        ":TRIGger:EDGe:LEVel 0.1",
        ":TRIGger:SWEep SINGle",
    )
    conversation += [(":TRIGger:STATus?", "WAIT"), (":TRIGger:STATus?", "STOP")]
    with expected_protocol(RigolMSO5000, conversation) as scope:
        scope.poll_interval = 0.0
        scope.configure_edge_trigger(source=1, level=0.1, sweep="single")
        scope.wait_for_trigger(timeout=5.0)


def test_screen_has_1000_points_on_10_divisions() -> None:
    codes = np.full(1000, 127 - 75 + 165, dtype=np.uint8)  # 3.3 V with a -1.5 V offset
    conversation = [
        *unchecked(":WAVeform:SOURce CHANnel1", ":WAVeform:MODE NORMal", ":WAVeform:FORMat BYTE"),
        (":WAVeform:PREamble?", SCREEN_PREAMBLE),
        *settings_queries(),
        *chunk(1, 1000, codes.tobytes()),
        *END_OF_READOUT,
    ]
    with expected_protocol(RigolMSO5000, conversation) as scope:
        wf = scope.fetch_waveform(1)
    assert len(wf) == 1000 and wf.dt == pytest.approx(50e-6 / 100)
    assert wf.t0 == pytest.approx(200e-6 - 5 * 50e-6)
    assert wf.values[0] == pytest.approx(3.3)


def test_guide_conversion_example_and_deep_memory_chunks() -> None:
    """The guide's preamble (yinc 0.4132813 V, yref 122) and first byte 0x8E; the record is
    longer than a DS1000Z memory and is read in 250 000-point chunks."""
    total = 30_000_000
    preamble = f"0,2,{total},1,1.000000e-09,-3.000000e-03,0,4.132813e-01,0,122"
    conversation = [
        *unchecked(":STOP", ":WAVeform:SOURce CHANnel2", ":WAVeform:MODE RAW"),
        *unchecked(":WAVeform:FORMat BYTE"),
        (":WAVeform:PREamble?", preamble),
        *settings_queries(2),
    ]
    for start in (1, 250_001):
        conversation += chunk(start, start + 249_999, b"\x8e" * 250_000)
    conversation += chunk(500_001, 500_010, b"\x8e" * 10) + END_OF_READOUT
    with expected_protocol(RigolMSO5000, conversation) as scope:
        wf = scope.fetch_waveform(2, points=500_010)
    assert len(wf) == 500_010 and wf.samples[0] == 0x8E
    assert wf.values[0] == pytest.approx((0x8E - 0 - 122) * 0.4132813)


def test_a_start_beyond_24_mpts_is_allowed() -> None:
    with expected_protocol(RigolMSO5000, checked(":WAVeform:STOP 30000000")) as scope:
        scope.waveform_stop = 30_000_000
    with expected_protocol(RigolDS1000Z, []) as ds, pytest.raises(InvalidValueError):
        ds.waveform_stop = 30_000_000


def test_measurement_no_value_and_a_queued_error() -> None:
    conversation = [
        (":MEASure:ITEM? RTIMe,CHANnel1", "9.9E37"),
        (":TIMebase:MAIN:OFFSet 5.0", None),
        (ERR, '-222,"Data out of range"'),
        (ERR, OK),
    ]
    with expected_protocol(RigolMSO5000, conversation, role="scope") as scope:
        assert math.isnan(scope.measure_item("RTIMe", 1))
        with pytest.raises(InstrumentReportedError, match="Data out of range") as info:
            scope.timebase_offset = 5.0
    assert info.value.command == ":TIMebase:MAIN:OFFSet 5.0"
