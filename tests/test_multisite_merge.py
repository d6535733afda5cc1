"""Merging the per-site run files of a multi-site run into one run file (storage level)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from silx.io.nxdata import is_valid_nxdata  # type: ignore[attr-defined]

from benchtest.plugin.sites import _PartReader
from benchtest.results import open_run
from benchtest.results.run import Run
from benchtest.run import site_merge
from benchtest.run.site_merge import merge_runs, verify_merge
from benchtest.storage.hdf5_writer import Hdf5RunWriter
from benchtest.values.errors import ResultFileError
from benchtest.values.events import (
    ConfigSnapshot,
    Event,
    InstrumentIdentified,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    SafeStateApplied,
    SweepRecorded,
    TestFinished,
    TestStarted,
    WaveformFamilyRecorded,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement, Outcome
from benchtest.values.waveform import Waveform

PLAN = "plan.py::test_vout"


def nxdata_groups(path: Path) -> int:
    """How many NXdata groups the run file `path` has; every one must pass silx's validation."""
    groups: list[h5py.Group] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _, o: groups.append(o) if o.attrs.get("NX_class") == "NXdata" else None)
        invalid = [g.name for g in groups if not is_valid_nxdata(g)]
    assert not invalid, f"invalid NXdata groups: {invalid}"
    return len(groups)


def _site_start(site: str, serial: str) -> list[Event]:
    """A site's run starting (a second apart per site), with its SMU identified."""
    return [
        RunStarted(
            run_id=f"run-{site}",
            started=f"2026-11-28T10:00:0{ord(site) - 65}+00:00",
            framework_version="0.1.0",
            bench=ConfigSnapshot("bench.yaml", "name: b\n", "0" * 64),
            dut=ConfigSnapshot("ldo.yaml", "name: d\n", "1" * 64),
            part="LDO",
            serial_number=serial,
            site=site,
        ),
        InstrumentIdentified("smu", "keithley.k2450", "sim://smu", f"SMU {site}"),
    ]


def _part(folder: Path, site: str, serial: str, *, family: bool = False) -> Path:
    path = folder / f"part_{site}.h5"
    wave = Waveform(np.arange(100, dtype=np.int16), dt=1e-6, scale=1e-3, unit="V")
    events: list[Event] = [
        *_site_start(site, serial),
        TestStarted(PLAN, "2026-11-28T10:00:05+00:00", {"site": site}),
        MeasurementRecorded(
            PLAN,
            Measurement("vout", 3.3, "V", Limits(3.2, 3.4, "V"), Outcome.PASS, 1.0, {"site": site}),
        ),
        WaveformRecorded(PLAN, "ramp", wave, "VOUT at power-on"),
        SweepRecorded(
            PLAN,
            "line_reg",
            np.linspace(4, 6, 5),
            np.full(5, 3.3),
            "vin",
            "V",
            "V",
            Limits(3.2, 3.4, "V"),
            "pass",
        ),
        TestFinished(PLAN, "passed", "2026-11-28T10:00:06+00:00", 1.0),
        TestStarted("plan.py::test_cut", "2026-11-28T10:00:07+00:00", {"site": site}),
    ]
    if family:
        events.append(
            WaveformFamilyRecorded(
                "plan.py::test_cut", "steps", (wave, wave), np.array([1.0, 2.0]), "load", "A"
            )
        )
    with Hdf5RunWriter(path) as writer:
        for event in events:
            writer.handle(event)
        writer.handle(RunFinished("2026-11-28T10:00:09+00:00", "interrupted"))
    return path


def test_sites_become_one_record_with_the_site_and_serial_of_every_row(tmp_path: Path) -> None:
    parts = [_part(tmp_path, "A", "U1"), _part(tmp_path, "B", "U2")]
    merged = merge_runs(parts, tmp_path / "merged.h5")
    verify_merge(parts, merged)
    with open_run(merged) as run:
        assert not run.problems and run.outcome == "interrupted"
        assert json.loads(run.metadata["sites"]) == {"A": "U1", "B": "U2"}
        assert (run.metadata["site"], run.metadata["serial_number"]) == ("A,B", "U1,U2")
        assert [(t.id, t.conditions["site"], t.conditions["serial_number"]) for t in run.tests] == [
            (PLAN, "A", "U1"),
            (PLAN, "B", "U2"),
            ("plan.py::test_cut", "A", "U1"),
            ("plan.py::test_cut", "B", "U2"),
        ]
        assert [t.outcome for t in run.tests[2:]] == ["incomplete", "incomplete"]
        rows = [json.loads(c) for c in run.measurements["conditions"]]
        sites = [(c["site"], c["serial_number"]) for c in rows]  # vout and the sweep's row
        assert sites == [("A", "U1"), ("A", "U1"), ("B", "U2"), ("B", "U2")]
        assert sorted(str(r) for r in run.instruments["role"]) == ["A:smu", "B:smu"]
        first = run.tests[0]
        assert first.waveforms["ramp"].values()[99] == pytest.approx(0.099)
        assert list(first.sweeps["line_reg"].x.values[...]) == list(np.linspace(4, 6, 5))
    assert nxdata_groups(merged) == 4


def test_a_merge_that_would_lose_something_is_refused(tmp_path: Path) -> None:
    parts = [_part(tmp_path, "A", "U1"), _part(tmp_path, "B", "U2", family=True)]
    with pytest.raises(ResultFileError, match="waveform families"):
        merge_runs(parts, tmp_path / "merged.h5")
    good = merge_runs(parts[:1], tmp_path / "only_a.h5")
    with pytest.raises(ResultFileError, match="missing or differs"):
        verify_merge(parts, good)


def _site_run(folder: Path, site: str, serial: str, *, failing: bool) -> Path:
    """A site's run: a test with a measurement after its sweep and a waveform (out of limits
    on a failing site), and a skipped test."""
    path = folder / f"site_{site}.h5"
    wave = Waveform(np.arange(50, dtype=np.int16) * (2 if failing else 1), dt=2e-6, scale=1e-3)
    vout = 3.5 if failing else 3.3
    outcome = Outcome.FAIL if failing else Outcome.PASS
    events: list[Event] = [
        *_site_start(site, serial),
        TestStarted(PLAN, f"2026-11-28T10:00:1{ord(site) - 65}+00:00", {"site": site}),
        MeasurementRecorded(
            PLAN, Measurement("vout", vout, "V", Limits(3.2, 3.4, "V"), outcome, 1.5, {})
        ),
        SweepRecorded(
            PLAN,
            "line_reg",
            np.linspace(4, 6, 5),
            np.linspace(3.29, 3.31, 5),
            "vin",
            "V",
            "V",
            Limits(3.2, 3.4, "V"),
            "pass",
        ),
        MeasurementRecorded(
            PLAN, Measurement("iq", 2e-6, "A", Limits(None, 5e-6, "A"), Outcome.PASS, 1.7, {})
        ),
        WaveformRecorded(PLAN, "ramp", wave, "VOUT at power-on"),
        TestFinished(
            PLAN,
            "failed" if failing else "passed",
            f"2026-11-28T10:00:2{ord(site) - 65}+00:00",
            1.25,
            "vout 3.5 V above 3.4 V" if failing else "",
        ),
        TestStarted("plan.py::test_chamber", "2026-11-28T10:00:30+00:00", {"site": site}),
        TestFinished("plan.py::test_chamber", "skipped", "2026-11-28T10:00:30+00:00", 0.0, "no"),
        SafeStateApplied("smu", True, "2026-11-28T10:00:31+00:00", "output off"),
    ]
    with Hdf5RunWriter(path) as writer:
        for event in events:
            writer.handle(event)
        writer.handle(
            RunFinished("2026-11-28T10:00:32+00:00", "failed" if failing else "passed", 1, "no")
        )
    return path


def _columns(table: Any) -> list[list[Any]]:
    """A measurement table's rows without their conditions (JSON, checked on their own)."""
    return [[str(v) for v in row[:6]] for row in table.tolist()]


def test_the_merged_file_holds_every_site_as_recorded(tmp_path: Path) -> None:
    """Waveforms, sweeps, a measurement after a sweep, skips and a failing site: every test of
    the merged file is its site's test (rows in their order), with the site's serial number."""
    parts = [
        _site_run(tmp_path, "A", "U1", failing=False),
        _site_run(tmp_path, "B", "U2", failing=True),
    ]
    merged = merge_runs(parts, tmp_path / "merged.h5")
    verify_merge(parts, merged)
    with open_run(merged) as run, open_run(parts[0]) as a, open_run(parts[1]) as b:
        assert not run.problems
        assert (run.outcome, run.metadata["skipped"], run.metadata["skip_reasons"]) == (
            "failed", 2, "no",
        )  # fmt: skip
        assert [str(r) for r in run.safe_state_log["role"]] == ["A:smu", "B:smu"]
        merged_tests = {(t.conditions["site"], t.id): t for t in run.tests}
        chamber = "plan.py::test_chamber"
        assert [(t.conditions["site"], t.id) for t in run.tests] == [
            ("A", PLAN), ("B", PLAN), ("A", chamber), ("B", chamber),
        ]  # fmt: skip
        for site, part in (("A", a), ("B", b)):
            for test in part.tests:
                got = merged_tests[(site, test.id)]
                assert (got.outcome, got.message, got.start, got.end, got.duration) == (
                    test.outcome, test.message, test.start, test.end, test.duration,
                )  # fmt: skip
                assert _columns(got.measurements) == _columns(test.measurements)
                serial = {"A": "U1", "B": "U2"}[site]
                for row in got.measurements["conditions"]:
                    assert json.loads(row)["serial_number"] == serial
                for name, wave in test.waveforms.items():
                    assert np.array_equal(got.waveforms[name].values(), wave.values())
                    assert got.waveforms[name].description == wave.description
                for name, sweep in test.sweeps.items():
                    assert np.array_equal(got.sweeps[name].y.values[...], sweep.y.values[...])
                    assert got.sweeps[name].outcome == sweep.outcome
        assert [str(n) for n in merged_tests[("B", PLAN)].measurements["name"]] == [
            "vout", "line_reg", "iq",
        ]  # fmt: skip
    assert nxdata_groups(merged) == 4


@pytest.mark.parametrize("loss", ["row", "value"])
def test_a_merge_whose_tables_differ_from_the_sites_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loss: str
) -> None:
    """The check after the merge compares the merged tables with the sites' rows."""
    parts = [
        _site_run(tmp_path, "A", "U1", failing=False),
        _site_run(tmp_path, "B", "U2", failing=True),
    ]
    events = site_merge._test_events

    def lossy(part: Any, test: Any) -> Iterator[Any]:
        for event in events(part, test):
            if isinstance(event, MeasurementRecorded) and event.measurement.name == "iq":
                if loss == "row":
                    continue
                event = MeasurementRecorded(
                    event.test_id, replace(event.measurement, value=event.measurement.value * 2)
                )
            yield event

    monkeypatch.setattr(site_merge, "_test_events", lossy)
    expected = "measurement_count" if loss == "row" else "measurement values"
    with pytest.raises(ResultFileError, match=f"differs from the sites' run files in .*{expected}"):
        merge_runs(parts, tmp_path / "merged.h5")


def test_sites_read_ahead_are_merged_and_closed(tmp_path: Path) -> None:
    """The controller reads each site's run file when the site is done; a file that cannot be
    read is left to the merge (which says why), and what is not taken is closed."""
    parts = [_part(tmp_path, "A", "U1"), _part(tmp_path, "B", "U2"), _part(tmp_path, "C", "U3")]
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"not a run file")
    files_open = h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)
    reader = _PartReader()
    reader.read([*parts, damaged])
    taken = [reader.take(p) for p in parts[:2]]
    assert all(isinstance(run, Run) for run in taken)
    assert (
        reader.take(damaged) == damaged
        and reader.take(tmp_path / "other.h5") == tmp_path / "other.h5"
    )
    try:
        merged = merge_runs([*taken, parts[2]], tmp_path / "merged.h5")
    finally:
        for run in taken:
            assert isinstance(run, Run)
            run.close()
    verify_merge(parts, merged)
    with pytest.raises(ResultFileError, match=r"damaged\.h5"):
        merge_runs([parts[0], damaged], tmp_path / "refused.h5")
    reader.read([parts[0]])
    reader.close()  # closes the runs read and not taken (parts[2] and this one)
    assert h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE) == files_open
    assert not any(t.name.startswith("benchtest-site-read") for t in threading.enumerate())
