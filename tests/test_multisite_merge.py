"""Merging the per-site run files of a multi-site run into one run file (storage level)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from silx.io.nxdata import is_valid_nxdata

from benchtest.results import open_run
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


def _part(folder: Path, site: str, serial: str, *, family: bool = False) -> Path:
    path = folder / f"part_{site}.h5"
    wave = Waveform(np.arange(100, dtype=np.int16), dt=1e-6, scale=1e-3, unit="V")
    events: list[Event] = [
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
