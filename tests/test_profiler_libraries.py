"""The Joulescope, PPK2 and Otii drivers against fakes of their libraries' documented APIs.

No unit of any of them was at hand: each driver is checked on a fake that plays back the
simulated MCU's current (tests/profiler_fakes.py). Each must capture what the fake delivers,
in order and in SI units, refuse a rate its device cannot do before starting, and end a capture
whose device is unplugged or goes quiet in one error that keeps the samples so far.
"""

from __future__ import annotations

import numpy as np
import pytest
from profiler_fakes import (
    FakeArc,
    FakeJoulescope,
    FakeOtiiProject,
    FakePPK2,
    FakeRecording,
    Feed,
)

from benchtest.config.assets import asset
from benchtest.config.dut import DutProfile
from benchtest.driver.library_profiler import import_library
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.power_profile import RANGES, ProfileSource, WakeSchedule
from benchtest.values.errors import InstrumentError, SafetyError
from benchtest.values.profile import CaptureError
from benchtest.values.ratings import Rating, SourceGuard
from instruments.capabilities import conformance_problems
from instruments.jetperch.joulescope import Joulescope
from instruments.nordic.ppk2 import PPK2
from instruments.qoitech.otii import Otii

SCHEDULE = WakeSchedule.of(
    McuModel.from_mapping(DutProfile.load(asset("dut_profiles/bt_mcu_l0.yaml")).model), 3.0
)


def expected(rate: float, points: int) -> np.ndarray:
    return ProfileSource(SCHEDULE, rate).chunk(0, points).current


def test_every_library_driver_provides_the_profiler_capability() -> None:
    for driver in (Joulescope, PPK2, Otii):
        assert conformance_problems(driver) == [], driver


def test_a_missing_library_names_the_extra_to_install() -> None:
    with pytest.raises(InstrumentError, match=r"pip install 'benchtest\[ppk2\]'") as info:
        import_library("no_such_ppk2_library", "ppk2", "profiler")
    assert info.value.role == "profiler"


def test_joulescope_streams_current_voltage_and_its_range_changes() -> None:
    device = FakeJoulescope(Feed(SCHEDULE, 1e6, batch=12_345))
    js = Joulescope(device, role="profiler")
    profile = js.capture(0.025, sample_rate=np.float64(1e6))
    assert device.log[:3] == [
        "parameter_set i_range auto",
        "parameter_set sampling_frequency 1000000",
        "start 0.025",
    ]
    assert device.log[-1] == "stop" and not device.processes
    truth = expected(1e6, 25_000)
    np.testing.assert_allclose(profile.current.values, truth, rtol=1e-6, atol=1e-12)  # float32
    assert profile.voltage is not None and profile.voltage.values.mean() == pytest.approx(
        3.0, abs=1e-3
    )
    ranges = profile.ranges
    assert ranges[0]["index"] == 0 and ranges[0]["range"] == pytest.approx(18e-6)
    rise = ProfileSource(SCHEDULE, 1e6).range_index(truth)
    assert len(ranges) == 1 + np.count_nonzero(np.diff(rise))
    assert np.isin(ranges["range"], np.asarray(RANGES, dtype=np.float64)).all()


def test_joulescope_refuses_a_rate_it_does_not_deliver() -> None:
    device = FakeJoulescope(Feed(SCHEDULE, 1e6, batch=1000))
    with pytest.raises(InstrumentError, match=r"300000 S/s is not one the Joulescope delivers"):
        Joulescope(device, role="profiler").capture(0.01, sample_rate=300_000)
    assert device.log == []


def test_joulescope_unplugged_mid_capture_keeps_the_samples_so_far() -> None:
    device = FakeJoulescope(Feed(SCHEDULE, 1e6, batch=4096, fail_after=10_000))
    with pytest.raises(CaptureError, match="No such device") as info:
        Joulescope(device, role="profiler").capture(0.025, sample_rate=1e6)
    partial = info.value.partial
    assert partial is not None and len(partial) == 10_000
    np.testing.assert_allclose(partial.current.values, expected(1e6, 10_000), rtol=1e-6, atol=1e-12)


def test_joulescope_that_goes_quiet_is_a_stall() -> None:
    device = FakeJoulescope(Feed(SCHEDULE, 1e6, batch=4096, stall_after=6000))
    with pytest.raises(CaptureError, match="stopped streaming") as info:
        Joulescope(device, role="profiler", stall_timeout=0.05).capture(0.025, sample_rate=1e6)
    assert info.value.partial is not None and len(info.value.partial) == 6000


def test_ppk2_sources_the_dut_and_streams_microamperes_as_amperes() -> None:
    device = FakePPK2(Feed(SCHEDULE, 1e5, batch=3000))
    kit = PPK2(device, role="profiler", source_voltage=np.float64(3.0))
    kit.poll_interval = 0.0
    profile = kit.capture(0.05, sample_rate=1e5)
    assert device.log == [
        "use_source_meter",
        "set_source_voltage 3000",
        "toggle_DUT_power ON",
        "start_measuring",
        "stop_measuring",
    ]
    np.testing.assert_allclose(profile.current.values, expected(1e5, 5000), rtol=1e-9, atol=1e-13)
    assert profile.voltage is None and profile.settings["source_voltage"] == 3.0
    kit.safe_state()
    assert device.log[-1] == "toggle_DUT_power OFF"


def test_ppk2_refuses_a_source_voltage_beyond_the_kit_or_the_dut() -> None:
    with pytest.raises(InstrumentError, match=r"sources 0.8 V to 5 V, not 6.0 V"):
        PPK2(FakePPK2(Feed(SCHEDULE, 1e5, batch=1)), role="profiler", source_voltage=6.0)
    guard = SourceGuard((Rating("vdd", "voltage", "V", min=-0.3, max=4.0, part="BT-MCU-L0"),))
    with pytest.raises(SafetyError, match="4"):
        PPK2(FakePPK2(Feed(SCHEDULE, 1e5, batch=1)), source_voltage=4.5, guard=guard)
    with pytest.raises(
        InstrumentError, match=r"50000.0 S/s is not one the PPK2 delivers \(100000 S/s\)"
    ):
        PPK2(FakePPK2(Feed(SCHEDULE, 1e5, batch=1))).capture(0.01, sample_rate=5e4)


def test_ppk2_unplugged_mid_capture_keeps_the_samples_so_far() -> None:
    device = FakePPK2(Feed(SCHEDULE, 1e5, batch=1500, fail_after=4500))
    kit = PPK2(device, role="profiler")
    kit.poll_interval = 0.0
    with pytest.raises(CaptureError, match=r"PPK2 failed while streaming, after 4500") as info:
        kit.capture(0.1, sample_rate=1e5)
    assert info.value.partial is not None and len(info.value.partial) == 4500
    assert device.log[0] == "use_ampere_meter" and device.log[-1] == "stop_measuring"


def test_otii_records_and_reads_the_recording_while_it_grows() -> None:
    recording = FakeRecording(Feed(SCHEDULE, 4000.0, batch=700))
    project, arc = FakeOtiiProject(recording), FakeArc(4000.0, settable=False)
    otii = Otii(arc, project=project, role="profiler", supply_voltage=3.0)
    otii.poll_interval = 0.0
    profile = otii.capture(1.0, sample_rate=4000)
    assert project.log == ["start_recording", "stop_recording"]
    assert arc.log == [
        "enable_channel mc True",
        "enable_channel mv True",
        "set_main_voltage 3",
        "set_main True",
    ]
    np.testing.assert_allclose(
        profile.current.values, expected(4000.0, 4000), rtol=1e-9, atol=1e-13
    )
    assert profile.voltage is not None and len(profile.voltage) == 4000


def test_otii_arc_cannot_take_another_rate() -> None:
    arc = FakeArc(4000.0, settable=False)
    otii = Otii(arc, project=FakeOtiiProject(FakeRecording(Feed(SCHEDULE, 4e3, batch=1))))
    with pytest.raises(InstrumentError, match="samples its main current at 4000 S/s and cannot"):
        otii.capture(0.5, sample_rate=50_000)
    ace = FakeArc(4000.0, settable=True)
    recording = FakeRecording(Feed(SCHEDULE, 5e4, batch=10_000))
    on_ace = Otii(ace, project=FakeOtiiProject(recording))
    on_ace.poll_interval = 0.0
    assert len(on_ace.capture(0.2, sample_rate=50_000)) == 10_000 and ace.rate == 50_000


def test_otii_server_gone_mid_recording_keeps_the_samples_so_far() -> None:
    recording = FakeRecording(Feed(SCHEDULE, 4000.0, batch=500, fail_after=1500))
    project = FakeOtiiProject(recording)
    otii = Otii(FakeArc(4000.0, settable=False), project=project, role="profiler")
    otii.poll_interval = 0.0
    with pytest.raises(CaptureError, match="after 1500 samples") as info:
        otii.capture(1.0, sample_rate=4000)
    assert info.value.partial is not None and len(info.value.partial) == 1500
    assert project.log[-1] == "stop_recording"
