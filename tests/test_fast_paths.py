"""The fast paths of the writer and of `measure` store exactly what the slow ones did.

Entries built at close copy the tables' UTF-8 bytes without decoding them (non-ASCII text,
each row's own conditions or the test's); entries are copies of one template per outcome
(each keeps its own outcome, message and test id); `measure` looks the profile's limits up
once per name, and inline limits for the same name are never mixed up with them.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from benchtest import DutProfile, Measure
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import (
    MeasurementRecorded,
    RunFinished,
    TestFinished,
    TestStarted,
    utc_now,
)
from benchtest.values.measurement import Limits, Measurement, Outcome

REPO = Path(__file__).resolve().parents[1]


def _measurement(name: str, unit: str, conditions: dict[str, object]) -> Measurement:
    return Measurement.judge(name, 1.5, unit, Limits(1.0, 2.0, unit), conditions=conditions)


def _write(path: Path, tests: list[tuple[str, str, str, dict[str, object]]]) -> None:
    """A closed run file; each test: id, outcome, message, conditions; two measurements,
    the second with conditions of its own."""
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        for test_id, outcome, message, conditions in tests:
            writer(TestStarted(test_id, utc_now(), conditions))
            own = {**conditions, "vin": "3.6 V (µ-range)"}
            writer(MeasurementRecorded(test_id, _measurement("iq_µ", "µA", conditions)))
            writer(MeasurementRecorded(test_id, _measurement("vout", "V", own)))
            writer(TestFinished(test_id, outcome, utc_now(), 0.1, message))
        writer(RunFinished(utc_now(), "failed"))


def _entries(file: h5py.File) -> dict[str, h5py.Group]:
    """The file's NXentry groups by test id."""
    groups = [file[name] for name in file]
    return {group.attrs["test_id"]: group for group in groups if "test_id" in group.attrs}


def test_entries_built_at_close_keep_non_ascii_text_and_conditions(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    tests = [
        ("plan.py::test_µ[25°C]", "passed", "", {"temperature": "25°C"}),
        ("plan.py::test_plain", "passed", "", {}),
    ]
    _write(path, tests)
    with h5py.File(path, "r") as file:
        entries = {
            file[name].attrs["test_id"]: file[name]
            for name in file
            if "test_id" in file[name].attrs
        }
        assert set(entries) == {t[0] for t in tests}
        for test_id, _, _, conditions in tests:
            table = entries[test_id]["measurements"][...]
            names = [n.decode("utf-8") for n in table["name"]]
            units = [u.decode("utf-8") for u in table["unit"]]
            assert names == ["iq_µ", "vout"]
            assert units == ["µA", "V"]
            test_conditions = table["conditions"][0].decode("utf-8")
            assert (json.loads(test_conditions) if test_conditions else {}) == conditions
            row_conditions = json.loads(table["conditions"][1].decode("utf-8"))
            assert row_conditions == {**conditions, "vin": "3.6 V (µ-range)"}


def test_each_entry_keeps_its_own_outcome_and_message(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    tests = [
        ("plan.py::test_a", "passed", "", {}),
        ("plan.py::test_b", "failed", "vout = 3.5 V is above 3.4 V", {}),
        ("plan.py::test_c", "passed", "", {}),
        ("plan.py::test_d", "skipped", "no chamber on this bench", {}),
        ("plan.py::test_e", "failed", "iq too high", {}),
    ]
    _write(path, tests)
    with h5py.File(path, "r") as file:
        entries = {
            file[name].attrs["test_id"]: file[name]
            for name in file
            if "test_id" in file[name].attrs
        }
        for test_id, outcome, message, _ in tests:
            attrs = entries[test_id].attrs
            assert attrs["NX_class"] == "NXentry"
            assert attrs["outcome"] == outcome
            assert attrs.get("message", "") == message


@pytest.fixture
def dut() -> DutProfile:
    return DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml")


def test_measure_keeps_profile_and_inline_limits_apart(dut: DutProfile) -> None:
    events: list[object] = []
    measure = Measure("plan.py::test_x", dut, events.append)
    profile = dut.parameter("vout").limits
    first = measure("vout", 3.3)
    inline = measure("vout", 3.3, low=3.5, high=4.0)
    again = measure("vout", 3.3)
    assert first.limits == profile and again.limits == profile
    assert (inline.limits.low, inline.limits.high) == (3.5, 4.0)
    assert inline.outcome is Outcome.FAIL
    assert first.description == dut.parameters["vout"].description
    assert len(events) == 3


def test_measure_of_an_unknown_name_is_refused_every_time(dut: DutProfile) -> None:
    measure = Measure("plan.py::test_x", dut, lambda event: None)
    for _ in range(2):  # a failed look-up is not cached as if it had succeeded
        with pytest.raises(Exception, match="no_such_parameter"):
            measure("no_such_parameter", 1.0)
