"""Probe scaling from the DUT profile: a current probe's channel is set up, stored and shown in A.

The simulated scope sees the idd net as volts across the probe's transimpedance, so a driver
that only relabelled the trace would be off by that factor.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest import DutProfile
from benchtest.driver.registry import open_instrument
from benchtest.driver.testing import ScriptedTransport, expected_protocol
from benchtest.report import write_report
from benchtest.results import open_run
from benchtest.sim import SimulatedBench
from benchtest.values.errors import ConfigError, InstrumentError
from benchtest.values.probe import Probe, probes_of
from instruments.rigol.ds1000z import RigolDS1000Z
from instruments.siglent.sds1000xe import SiglentSDS1000XE

ROOT = Path(__file__).parents[1]
PROFILE_PATH = ROOT / "dut_profiles" / "bt_mcu_l0.yaml"
MCU: dict[str, Any] = yaml.safe_load(PROFILE_PATH.read_text(encoding="utf-8"))
SCOPES = ["rigol.ds1000z", "rigol.mso5000", "siglent.sds1000xe", "siglent.sds2000xp"]
TRANSIMPEDANCE = 10.0  # V/A: a probe ratio of 0.1 A/V, which every scope model takes
IDD_ACTIVE = MCU["model"]["idd_active"]["typ"]  # A at the nominal VDD


def mcu_profile(**probe: float) -> dict[str, Any]:
    profile = copy.deepcopy(MCU)
    profile["nets"]["idd"] = {"role": "scope", "channel": 2, "probe": probe}
    return profile


@pytest.fixture(params=SCOPES)
def bench(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any], SimulatedBench]]:
    profile = mcu_profile(transimpedance=TRANSIMPEDANCE)
    instruments = {
        "smu": {"driver": "keithley.k2450", "resource": "sim://smu"},
        "scope": {"driver": request.param, "resource": "sim://scope"},
    }
    with SimulatedBench(profile, {"schema_version": 1, "instruments": instruments}) as sim:
        yield request.param, profile, sim


def active_current_trace(sim: SimulatedBench, driver: str, **options: Any) -> Any:
    """Power the MCU (it boots into run mode) and read channel 2 at 0.5 mA/div."""
    smu = open_instrument("keithley.k2450", sim.addresses["smu"], role="smu")
    scope = open_instrument(driver, sim.addresses["scope"], role="scope", **options)
    try:
        smu.source_voltage(3.0, current_limit=0.02)  # type: ignore[attr-defined]
        smu.output_on()  # type: ignore[attr-defined]
        scale = 0.5e-3 if "probes" in options else 0.5e-3 * TRANSIMPEDANCE
        scope.configure_channel(2, scale=scale, offset=-4 * scale)  # type: ignore[attr-defined]
        scope.configure_timebase(scale=1e-6)  # type: ignore[attr-defined]
        return scope.fetch_waveform(2, points="screen")  # type: ignore[attr-defined]
    finally:
        smu.close()
        scope.close()


def test_a_current_probe_channel_reads_amperes(
    bench: tuple[str, dict[str, Any], SimulatedBench],
) -> None:
    driver, profile, sim = bench
    probes = probes_of(profile["nets"], "scope")
    assert probes == {2: Probe(unit="A", ratio=1 / TRANSIMPEDANCE)}
    trace = active_current_trace(sim, driver, probes=probes)
    assert trace.unit == "A"
    assert float(np.mean(trace.values)) == pytest.approx(IDD_ACTIVE, rel=0.03)
    assert trace.settings["probe_ratio"] == pytest.approx(1 / TRANSIMPEDANCE)


def test_without_the_probe_the_scope_sees_volts_across_it(
    bench: tuple[str, dict[str, Any], SimulatedBench],
) -> None:
    driver, _, sim = bench
    trace = active_current_trace(sim, driver)
    assert trace.unit == "V"
    assert float(np.mean(trace.values)) == pytest.approx(IDD_ACTIVE * TRANSIMPEDANCE, rel=0.03)


def test_a_probe_ratio_the_scope_cannot_take_is_refused_before_sending() -> None:
    probe = Probe.from_spec({"transimpedance": 100.0})
    with (
        expected_protocol(SiglentSDS1000XE, [], probes={2: probe}) as scope,
        pytest.raises(InstrumentError, match=r"channel 2.*100 V/A.*0\.01"),
    ):
        scope.configure_channel(2, scale=1e-3)


def test_a_plan_probe_ratio_that_disagrees_with_the_profile_is_refused() -> None:
    probe = Probe.from_spec({"transimpedance": 100.0})
    with (
        expected_protocol(RigolDS1000Z, [], probes={2: probe}) as scope,
        pytest.raises(InstrumentError, match=r"probe=10.*DUT profile"),
    ):
        scope.configure_channel(2, scale=1e-3, probe=10)


def test_probe_specs() -> None:
    assert Probe.from_spec({"attenuation": 10}) == Probe(unit="V", ratio=10.0)
    assert Probe.from_spec({"transimpedance": 100.0}) == Probe(unit="A", ratio=0.01)
    assert Probe.from_spec({"amps_per_volt": 0.5}) == Probe(unit="A", ratio=0.5)
    assert Probe.from_spec({"transimpedance": 100.0}).describe() == "current probe, 100 V/A"
    assert Probe.from_spec({"attenuation": 10}).describe() == "10x voltage probe"
    for bad in (math.nan, math.inf, -1.0, 0, True, "100"):
        with pytest.raises(
            ConfigError, match=r"probe\.transimpedance: expected a finite number > 0"
        ):
            Probe.from_spec({"transimpedance": bad})


@pytest.mark.parametrize(
    ("probe", "field", "problem"),
    [
        ({"transimpedance": math.nan}, "nets.idd.probe.transimpedance", "finite number"),
        ({"transimpedance": math.inf}, "nets.idd.probe.transimpedance", "finite number"),
        ({"attenuation": 0}, "nets.idd.probe.attenuation", "> 0"),
        ({"amps_per_volt": -1.0}, "nets.idd.probe.amps_per_volt", "> 0"),
        ({"attenuation": 10, "transimpedance": 1.0}, "nets.idd.probe", "one of"),
        ({}, "nets.idd.probe", "one of"),
        ({"gain": 2.0}, "nets.idd.probe", "gain"),
    ],
)
def test_a_bad_probe_is_refused_when_the_profile_loads(
    tmp_path: Path, probe: dict[str, float], field: str, problem: str
) -> None:
    path = tmp_path / "mcu.yaml"
    path.write_text(yaml.safe_dump(mcu_profile(**probe)), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        DutProfile.load(path)
    assert str(path) in str(caught.value) and field in str(caught.value)
    assert problem in str(caught.value)


def test_a_probe_needs_a_channel(tmp_path: Path) -> None:
    profile = mcu_profile(transimpedance=100.0)
    del profile["nets"]["idd"]["channel"]
    path = tmp_path / "mcu.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nets\.idd"):
        DutProfile.load(path)


def test_the_wakeup_plan_stores_and_shows_the_current_in_amperes(pytester: pytest.Pytester) -> None:
    results = pytester.path / "results"
    result = pytester.runpytest_inprocess(
        str(ROOT / "test_plans" / "mcu"), "--sim", "--dut", str(PROFILE_PATH),
        "--results-dir", str(results), "-p", "no:cacheprovider", "-k", "wakeup",
    )  # fmt: skip
    result.assert_outcomes(passed=3)
    (path,) = results.glob("*.h5")
    with open_run(path) as run:
        test = next(t for t in run.tests if t.id.endswith("[3.0]"))
        current, pin = test.waveforms["idd_wakeup"], test.waveforms["wake_pin"]
        assert current.unit == "A" and pin.unit == "V"
        values = current.to_waveform().values
        assert 0.5 * IDD_ACTIVE < float(np.max(values)) < 2 * IDD_ACTIVE
    html = write_report(path).read_text(encoding="utf-8")
    assert "idd_wakeup (mA)" in html and "idd_wakeup (mV)" not in html


def test_probes_given_as_driver_options_are_checked() -> None:
    """A bench file's `options: {probes: {2: {transimpedance: 100}}}` reaches the driver as
    plain YAML: it is read as the profile's entry would be, and a bad one is refused."""
    with expected_protocol(RigolDS1000Z, [], probes={"2": {"transimpedance": 100.0}}) as scope:
        assert scope.unit_of(2) == "A" and scope.unit_of(1) == "V"
    with pytest.raises(InstrumentError, match="no channel"):
        RigolDS1000Z(ScriptedTransport([]), probes={9: Probe(unit="A", ratio=0.01)})
    with pytest.raises(ConfigError, match=r"probes\.2"):
        RigolDS1000Z(ScriptedTransport([]), probes={2: {"gain": 1.0}})
