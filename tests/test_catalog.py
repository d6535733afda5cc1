"""`benchtest.results.Catalog`: indexing a folder of run files and querying across them."""

from __future__ import annotations

import dataclasses
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from benchtest.results import Catalog
from benchtest.results.catalog import CatalogWarning
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import MeasurementRecorded, RunFinished, TestFinished, TestStarted
from benchtest.values.measurement import Limits, Measurement


def _write_run(path: Path, serial: str, start: str, iq: float, part: str = "LDO-3V3") -> None:
    """A run of two plans started at `start` (ISO, UTC): iq and a failing dropout test."""
    moment = datetime.fromisoformat(start).timestamp()
    event = dataclasses.replace(run_started(), serial_number=serial, started=start, part=part)
    path.parent.mkdir(parents=True, exist_ok=True)
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(event)
        for test_id, name, value, outcome in (
            ("plans/test_power.py::test_iq", "iq", iq, "passed"),
            ("plans/test_ldo.py::test_dropout", "dropout", 0.3, "failed"),
        ):
            writer(TestStarted(test_id, start))
            m = Measurement.judge(name, value, "A", Limits(None, 1.0, "A"))
            writer(MeasurementRecorded(test_id, dataclasses.replace(m, timestamp=moment)))
            writer(TestFinished(test_id, outcome, start, 0.1))
        writer(RunFinished(start, "failed"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _write_run(tmp_path / "nov27" / "a.h5", "SN2", "2026-11-27T22:00:00+00:00", 2e-6)
    _write_run(tmp_path / "nov27" / "b.h5", "SN1", "2026-11-28T01:30:00+00:00", 1e-6)
    _write_run(tmp_path / "nov28" / "c.h5", "SN1", "2026-11-28T22:00:00+00:00", 1.5e-6)
    _write_run(tmp_path / "other.h5", "SN9", "2026-11-28T23:00:00+00:00", 9e-6, part="MCU")
    (tmp_path / "nov28" / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    return tmp_path


def test_values_of_a_parameter_for_a_part_between_dates_by_serial(folder: Path) -> None:
    with Catalog(folder) as catalog:
        values = catalog.values(
            "iq", part="LDO-3V3", start="2026-11-27T00:00:00+00:00", end=datetime(2026, 11, 29)
        )
        assert values["serial"].tolist() == ["SN1", "SN1", "SN2"]
        assert values["value"].tolist() == [1e-6, 1.5e-6, 2e-6]
        assert values["unit"].tolist() == ["A"] * 3
        assert values["path"].tolist() == ["nov27/b.h5", "nov28/c.h5", "nov27/a.h5"]
        assert np.all(np.diff(values["time"][:2]) > 0)
        early = catalog.values("iq", end=datetime(2026, 11, 28, 12, tzinfo=UTC))
        assert sorted(early["serial"].tolist()) == ["SN1", "SN2"]
        assert catalog.values("iq", serial="SN9")["value"].tolist() == [9e-6]
        assert len(catalog.values("no_such_parameter")) == 0


def test_pass_rate_per_plan_per_night(folder: Path) -> None:
    with Catalog(folder) as catalog:
        rates = catalog.pass_rate(part="LDO-3V3")
    assert [(r.night, r.plan, r.passed, r.failed, r.rate) for r in rates] == [
        ("2026-11-27", "plans/test_ldo.py", 0, 2, 0.0),  # a.h5 at 22:00 and b.h5 at 01:30
        ("2026-11-27", "plans/test_power.py", 2, 0, 1.0),
        ("2026-11-28", "plans/test_ldo.py", 0, 1, 0.0),
        ("2026-11-28", "plans/test_power.py", 1, 0, 1.0),
    ]


def test_unreadable_files_are_skipped_with_their_reason(folder: Path) -> None:
    with Catalog(folder) as catalog:
        assert len(catalog) == 4
        [(path, reason)] = catalog.skipped
        assert path == "nov28/broken.h5"
        assert "broken.h5: damaged: HDF5 cannot open it" in reason  # a signature, then zeros


def test_indexing_is_incremental(folder: Path) -> None:
    with Catalog(folder) as catalog:
        assert catalog.update() == (0, 0, 0, 5, 0)
    (folder / "nov27" / "a.h5").unlink()
    _write_run(folder / "nov27" / "a.h5", "SN2", "2026-11-27T22:00:00+00:00", 3e-6)
    (folder / "other.h5").unlink()
    _write_run(folder / "nov29" / "d.h5", "SN3", "2026-11-29T22:00:00+00:00", 4e-6)
    with Catalog(folder, update=False) as catalog:
        report = catalog.update()
        assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 3)
        assert catalog.values("iq", serial="SN2")["value"].tolist() == [3e-6]
        assert catalog.values("iq", serial="SN9").size == 0
        assert len(catalog) == 4


def test_the_index_can_live_elsewhere(
    folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    index = tmp_path_factory.mktemp("index") / "catalog.sqlite3"
    with Catalog(folder, index) as catalog:
        assert len(catalog) == 4
    assert index.exists() and not (folder / ".benchtest-catalog.sqlite3").exists()
    with Catalog(folder, index, update=False) as catalog:
        assert [p for p, *_ in catalog.runs()] == [
            "nov27/a.h5",
            "nov27/b.h5",
            "nov28/c.h5",
            "other.h5",
        ]


def test_an_index_emptied_to_zero_bytes_is_rebuilt_with_a_warning(folder: Path) -> None:
    with Catalog(folder) as catalog:
        assert len(catalog) == 4
    index = folder / ".benchtest-catalog.sqlite3"
    index.write_bytes(b"")  # truncated
    emptied = "was an empty file .* baselines promoted in it before are lost"
    with pytest.warns(CatalogWarning, match=emptied), Catalog(folder) as catalog:
        assert len(catalog) == 4  # the run files indexed again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Catalog(folder) as catalog:  # an index with content: nothing to say
            assert len(catalog) == 4
