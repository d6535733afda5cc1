"""Current profilers as bench-file roles: the simulated bench's `profiler`, and the Joulescope,
PPK2 and Otii drivers opened by name from a bench file.

The MCU energy plan runs through the `profiler` role of a simulated bench (a SCPI server on
loopback TCP reached through PyVISA) on 30 units with their spread: the stop current within 2 %
of the model's value and the charge per wake-up within 1 % of the model's integral. The library
drivers are opened through the registry against fakes of their libraries' documented APIs, and
without the library a bench check names the extra to install.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import yaml
from profiler_fakes import FakeArc, FakeJoulescope, FakeOtiiProject, FakePPK2, FakeRecording, Feed
from test_energy_plan import T, plan

from benchtest import DutProfile
from benchtest.cli.discovery import check_bench
from benchtest.config.assets import asset
from benchtest.config.bench import Bench
from benchtest.driver.registry import driver_class, open_instrument
from benchtest.driver.testing import expected_protocol
from benchtest.results import open_run
from benchtest.run.measuring import Measure
from benchtest.run.recorder import RunRecorder
from benchtest.sim import SimulatedBench
from benchtest.sim.models.mcu import McuModel
from benchtest.sim.models.power_profile import ProfileSource, WakeSchedule
from benchtest.sim.models.sensor import SensorModel
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.errors import ConfigError, InstrumentError, InstrumentReportedError
from benchtest.values.events import RunFinished, TestFinished, TestStarted
from benchtest.values.profile import CaptureError
from instruments.capabilities import CurrentProfiler, conformance_problems
from instruments.jetperch.joulescope import Joulescope
from instruments.nordic.ppk2 import PPK2
from instruments.qoitech.otii import Otii
from instruments.simulated.profiler import SimProfiler

MCU = asset("dut_profiles/bt_mcu_l0.yaml")
PROFILER_ROLE = {"driver": "sim.profiler", "resource": "sim://profiler"}
BENCH = {"schema_version": 1, "instruments": {"profiler": PROFILER_ROLE}}
UNITS = 30
SCHEDULE = WakeSchedule.of(McuModel.from_mapping(DutProfile.load(MCU).model), 3.0)


def test_the_profiler_drivers_are_registered_by_name() -> None:
    for name, cls in (
        ("jetperch.joulescope", Joulescope),
        ("nordic.ppk2", PPK2),
        ("qoitech.otii", Otii),
        ("sim.profiler", SimProfiler),
    ):
        assert driver_class(name) is cls
        assert conformance_problems(cls) == []


# -- the simulated bench's profiler role -----------------------------------------------------


def test_the_mcu_plan_meets_the_bars_through_the_bench_profiler_on_thirty_units(
    tmp_path: Path,
) -> None:
    energy = plan()
    dut = DutProfile.load(MCU)
    raw = yaml.safe_load(MCU.read_text(encoding="utf-8"))
    path = tmp_path / "run.h5"
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(path))
    recorder.emit(run_started())
    expected = {}
    for k in range(UNITS):
        serial = f"L0-{k:04d}"
        test_id = f"mcu/test_mcu_energy.py::test_sleep_current_and_energy_per_event[{serial}]"
        with (
            SimulatedBench(raw, BENCH, serial=serial, seed=k) as sim,
            open_instrument(
                "sim.profiler", sim.addresses["profiler"], role="profiler", timeout=5.0
            ) as profiler,
        ):
            assert isinstance(profiler, CurrentProfiler)
            measure = Measure(test_id, dut, recorder.emit)
            recorder.emit(TestStarted(test_id, T))
            energy.test_sleep_current_and_energy_per_event(
                profiler=profiler, dut=dut, measure=measure
            )
            assert not measure.failures, [m.explain() for m in measure.failures]
            recorder.emit(TestFinished(test_id, "passed", T, 0.1))
        expected[test_id] = WakeSchedule.of(McuModel.from_mapping(dut.model, serial), 3.0)
    recorder.emit(RunFinished(T, "passed"))

    sleep_errors, charge_errors = [], []
    with open_run(path) as run:
        for test_id, model in expected.items():
            table = run.test(test_id).measurements
            values = dict(zip(table["name"].tolist(), table["value"].tolist(), strict=True))
            sleep_errors.append(values["iq_sleep"] / model.sleep_current - 1)
            charge_errors.append(values["charge_per_wakeup"] / model.event_charge - 1)
        stored = run.test(next(iter(expected))).waveforms["idd_wakeups"]
        assert stored.group.attrs["complete"] == 1 and len(stored.group["events"]) >= 4
        assert len(stored.group["ranges"]) > 10  # the autoranging is recorded
    assert max(map(abs, sleep_errors)) < 0.02
    assert max(map(abs, charge_errors)) < 0.01
    spread = [m.sleep_current for m in expected.values()]
    assert max(spread) / min(spread) > 1.05  # the units differ: the bars hold across a spread


def test_the_sensor_plan_measures_the_model_through_the_bench_profiler(tmp_path: Path) -> None:
    sensor_file = asset("dut_profiles/bt_temp_s1.yaml")
    sensor = DutProfile.load(sensor_file)
    recorder = RunRecorder()
    recorder.subscribe(Hdf5RunWriter(tmp_path / "run.h5"))
    recorder.emit(run_started())
    test_id = "sensor/test_sensor_energy.py::test_standby_current_and_energy_per_conversion"
    with (
        SimulatedBench(yaml.safe_load(sensor_file.read_text("utf-8")), BENCH, serial="S1-4") as sim,
        open_instrument("sim.profiler", sim.addresses["profiler"], role="profiler") as profiler,
    ):
        measure = Measure(test_id, sensor, recorder.emit)
        recorder.emit(TestStarted(test_id, T))
        plan(
            "test_plans/sensor/test_sensor_energy.py"
        ).test_standby_current_and_energy_per_conversion(
            profiler=profiler, dut=sensor, measure=measure
        )
        recorder.emit(TestFinished(test_id, "passed", T, 0.1))
    recorder.emit(RunFinished(T, "passed"))
    model = WakeSchedule.of(SensorModel.from_mapping(sensor.model, "S1-4"), 3.3)
    values = {m.name: m.value for m in measure.recorded}
    assert not measure.failures, [m.explain() for m in measure.failures]
    assert values["iq_sleep"] == pytest.approx(model.sleep_current, rel=0.02)
    assert values["energy_per_conversion"] == pytest.approx(3.3 * model.event_charge, rel=0.01)


def test_the_bench_profiler_delivers_the_model_samples_with_their_ranges() -> None:
    with (
        SimulatedBench(yaml.safe_load(MCU.read_text("utf-8")), BENCH, seed=7) as sim,
        open_instrument("sim.profiler", sim.addresses["profiler"], role="profiler") as opened,
    ):
        assert isinstance(opened, SimProfiler)
        opened.poll_interval = 0.0
        chunks = list(opened.stream(0.03, sample_rate=np.float64(2e5), chunk_points=1000))
        again = opened.capture(0.001, sample_rate=1e6)  # a second capture is a new one
    source = ProfileSource(SCHEDULE, 2e5, seed=(7, 1))
    whole = source.chunk(0, 6000)
    assert [c.start for c in chunks] == list(range(0, 6000, 1000))
    np.testing.assert_allclose(
        np.concatenate([c.current for c in chunks]), whole.current, rtol=1e-9, atol=1e-15
    )
    changes = np.concatenate([c.ranges for c in chunks])
    assert changes.tolist() == whole.ranges.tolist()
    assert len(again) == 1000 and again.settings["ranges"] == "auto"


def test_a_rate_the_bench_profiler_cannot_do_is_refused_before_anything_is_sent() -> None:
    with expected_protocol(SimProfiler, [], role="profiler") as profiler:
        with pytest.raises(InstrumentError, match=r"3e\+05 S/s divided|not one this profiler"):
            profiler.capture(0.01, sample_rate=3e5)
        with pytest.raises(InstrumentError, match="beyond this profiler"):
            profiler.capture(0.01, sample_rate=2e6)


def test_the_bench_profiler_sends_plain_numbers_and_reads_its_blocks() -> None:
    table = np.column_stack((np.full(4, 1e-6), np.full(4, 3.0), np.full(4, 18e-6)))
    block = table.astype("<f8").tobytes()
    with expected_protocol(
        SimProfiler,
        [
            (":SENSe:RATE 1000000.0", None),
            (":ACQuire:POINts 4", None),
            (":SYSTem:ERRor?", '+0,"No error"'),
            (":INITiate", None),
            (":SYSTem:ERRor?", '+0,"No error"'),
            (":ACQuire:COUNt?", "4"),
            (":FETCh:DATA? 0,4", block),  # the payload of its block
        ],
        role="profiler",
    ) as profiler:
        profile = profiler.capture(4e-6, sample_rate=np.float64(1e6))
    assert profile.current.values.tolist() == [1e-6] * 4
    assert profile.ranges.tolist() == [(0, 18e-6)]


def test_a_part_without_a_power_profile_is_the_instruments_error() -> None:
    ldo = yaml.safe_load(asset("dut_profiles/bt_ldo33.yaml").read_text("utf-8"))
    with (
        SimulatedBench(ldo, BENCH) as sim,
        open_instrument("sim.profiler", sim.addresses["profiler"], role="profiler") as profiler,
        pytest.raises(CaptureError, match=r"after 0 samples.*-221 'Settings conflict'") as info,
    ):
        profiler.capture(0.001, sample_rate=1e6)
    assert isinstance(info.value.__cause__, InstrumentReportedError)
    assert info.value.role == "profiler" and info.value.partial is None


def test_the_default_bench_has_a_profiler_role() -> None:
    bench = Bench.load(asset("benches/sim.yaml"))
    assert bench.roles["profiler"].driver == "sim.profiler"


# -- the library drivers from a bench file ---------------------------------------------------


class OpenableJoulescope(FakeJoulescope):
    opened = False

    def open(self) -> None:
        self.opened = True


@pytest.fixture
def libraries(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Fakes of the three libraries' modules, as `import` finds them."""
    made: dict[str, Any] = {
        "joulescope": OpenableJoulescope(Feed(SCHEDULE, 1e6, batch=5000)),
        "ppk2": FakePPK2(Feed(SCHEDULE, 1e5, batch=2000)),
        "otii": FakeArc(4000.0, settable=False),
    }
    made["recording"] = FakeRecording(Feed(SCHEDULE, 4000.0, batch=1000))
    joulescope = ModuleType("joulescope")
    joulescope.scan = lambda config: [made["joulescope"]]  # type: ignore[attr-defined]
    joulescope.scan_require_one = lambda config: made["joulescope"]  # type: ignore[attr-defined]
    ppk2_api = ModuleType("ppk2_api.ppk2_api")

    def ppk2(port: str, **settings: Any) -> FakePPK2:
        made["ppk2_port"], made["ppk2_settings"] = port, settings
        return made["ppk2"]  # type: ignore[no-any-return]

    ppk2.list_devices = lambda: [("/dev/ttyACM0", "C5A3")]  # type: ignore[attr-defined]
    ppk2_api.PPK2_API = ppk2  # type: ignore[attr-defined]
    otii_client = ModuleType("otii_tcp_client.otii_client")

    class Client:
        def connect(self, host: str, port: int) -> Client:
            made["otii_address"] = (host, port)
            return self

        def get_devices(self) -> list[FakeArc]:
            return [made["otii"]]

        def get_active_project(self) -> FakeOtiiProject:
            return FakeOtiiProject(made["recording"])

    otii_client.OtiiClient = Client  # type: ignore[attr-defined]
    for name, module in (
        ("joulescope", joulescope),
        ("ppk2_api", ModuleType("ppk2_api")),
        ("ppk2_api.ppk2_api", ppk2_api),
        ("otii_tcp_client", ModuleType("otii_tcp_client")),
        ("otii_tcp_client.otii_client", otii_client),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    yield made


def test_the_library_profilers_open_from_their_bench_resources(
    libraries: dict[str, Any],
) -> None:
    with open_instrument(
        "jetperch.joulescope", "joulescope://001234", role="profiler", stall_timeout=1.0
    ) as js:
        assert isinstance(js, Joulescope) and libraries["joulescope"].opened
        assert len(js.capture(0.01, sample_rate=1e6)) == 10_000
    assert libraries["joulescope"].log[-1] == "close"
    with open_instrument("nordic.ppk2", "ppk2://", role="profiler", source_voltage=3.0) as kit:
        assert isinstance(kit, PPK2)
        kit.poll_interval = 0.0
        assert len(kit.capture(0.02, sample_rate=1e5)) == 2000
    assert libraries["ppk2_port"] == "/dev/ttyACM0" and libraries["ppk2_settings"]["exclusive"]
    assert "set_source_voltage 3000" in libraries["ppk2"].log
    with open_instrument("qoitech.otii", "otii://192.168.1.40:1906/Arc", role="profiler") as otii:
        assert isinstance(otii, Otii)
        otii.poll_interval = 0.0
        assert len(otii.capture(0.5, sample_rate=4000)) == 2000
    assert libraries["otii_address"] == ("192.168.1.40", 1906)


@pytest.mark.parametrize(
    ("driver", "resource", "options", "message"),
    [
        ("jetperch.joulescope", "COM5", {}, r"reads joulescope:// \(the one connected\)"),
        ("jetperch.joulescope", "joulescope://", {"timeout": 5.0}, "unknown option.*timeout"),
        ("nordic.ppk2", "TCPIP::1.2.3.4::INSTR", {}, r"reads ppk2://"),
        ("qoitech.otii", "otii://host:port/Arc", {}, r"reads otii://<host>\[:<port>\]"),
        ("qoitech.otii", "otii://127.0.0.1/Ace", {}, "0 Otii devices match 'Ace'"),
    ],
)
def test_a_bad_resource_or_option_names_the_syntax(
    libraries: dict[str, Any], driver: str, resource: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InstrumentError, match=message):
        driver_class(driver).open(resource, role="profiler", **options)


def test_a_bench_check_names_the_extra_when_the_library_is_missing(tmp_path: Path) -> None:
    bench = {
        "schema_version": 1,
        "name": "energy bench",
        "instruments": {
            "joulescope": {"driver": "jetperch.joulescope", "resource": "joulescope://001234"},
            "ppk2": {
                "driver": "nordic.ppk2",
                "resource": "ppk2:///dev/ttyACM0",
                "options": {"source_voltage": 3.0, "stall_timeout": 1.0},
            },
            "otii": {
                "driver": "qoitech.otii",
                "resource": "otii://127.0.0.1/Arc",
                "options": {"supply_voltage": 3.0},
            },
        },
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench), encoding="utf-8")
    _, results = check_bench(path)
    problems = {r.role: r.problem for r in results}
    for role, module in (("joulescope", "joulescope"), ("ppk2", "ppk2_api"),
                         ("otii", "otii_tcp_client")):  # fmt: skip
        if importlib.util.find_spec(module) is not None:
            continue  # the library is installed here: the check goes on to the device
        assert f"pip install 'benchtest[{role}]'" in problems[role], problems[role]
    bench["instruments"]["ppk2"]["options"] = {"source_volts": 3.0}  # type: ignore[index]
    path.write_text(yaml.safe_dump(bench), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"instruments\.ppk2\.options"):
        Bench.load(path)
