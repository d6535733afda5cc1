"""Named baselines in the catalog: promotion with its history kept, the newest promotion wins,
listing, `compare --baseline NAME`, and the migration of a catalog made before baselines."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from compare_runs import IQ, write_run

from benchtest.cli.commands import main
from benchtest.results import Catalog
from benchtest.results.catalog import INDEX_NAME, BaselineError
from benchtest.results.catalog_sql import CATALOG_VERSION
from benchtest.values.errors import ResultFileError

#: The layout of the first catalogs (version 1), as they were created.
VERSION_1 = """
CREATE TABLE catalog (version INTEGER);
INSERT INTO catalog VALUES (1);
CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, run INTEGER,
    problem TEXT);
CREATE TABLE runs (id INTEGER PRIMARY KEY, path TEXT UNIQUE, run_id TEXT, part TEXT, serial TEXT,
    lot TEXT, station TEXT, operator TEXT, start REAL, start_time TEXT, end_time TEXT,
    outcome TEXT, schema_version INTEGER);
CREATE TABLE tests (run INTEGER, test_id TEXT, plan TEXT, outcome TEXT, duration REAL);
CREATE TABLE measurements (run INTEGER, test_id TEXT, name TEXT, value REAL, unit TEXT, low REAL,
    high REAL, outcome TEXT, time REAL, part TEXT, serial TEXT);
"""


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    for night, iq in (("27", 1.20e-6), ("28", 1.21e-6), ("29", 1.60e-6)):
        start = f"2026-11-{night}T22:00:00+00:00"
        write_run(results / f"nov{night}.h5", {IQ: {"iq_sleep": [iq]}}, start=start)
    return results


def _when(day: int) -> datetime:
    return datetime(2026, 11, day, 23, 0, tzinfo=UTC)


def test_the_newest_promotion_wins_and_the_history_is_kept(folder: Path) -> None:
    with Catalog(folder) as catalog:
        first = catalog.promote_baseline("nightly-ldo", folder / "nov27.h5", when=_when(27))
        catalog.promote_baseline("nightly-ldo", folder / "nov28.h5", note="new trim", by="ada",
                                 when=_when(28))  # fmt: skip
        catalog.promote_baseline("release_1.0", folder / "nov27.h5", when=_when(28))
        newest = catalog.baseline("nightly-ldo")
        assert (newest.path, newest.note, newest.promoted_by) == ("nov28.h5", "new trim", "ada")
        assert newest.promoted == "2026-11-28T23:00:00+00:00" and newest.serial == "U0001"
        assert catalog.baseline_path("nightly-ldo") == folder / "nov28.h5"
        assert [b.path for b in catalog.baseline_history("nightly-ldo")] == ["nov27.h5", "nov28.h5"]
        assert [(b.name, b.path) for b in catalog.baselines()] == [
            ("nightly-ldo", "nov28.h5"),
            ("release_1.0", "nov27.h5"),
        ]
        assert first.run_id.endswith("U0001-nov27") and first.part == "BT-LDO33"
    with Catalog(folder) as again:  # kept in the index
        assert len(again.baseline_history()) == 3


def test_promotion_refuses_bad_names_files_outside_and_damaged_runs(
    folder: Path, tmp_path: Path
) -> None:
    outside = write_run(tmp_path / "elsewhere" / "run.h5", {IQ: {"iq_sleep": [1e-6]}})
    (folder / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with Catalog(folder) as catalog:
        for name in ("", "-x", "has space", "a/b", "x" * 101):
            with pytest.raises(BaselineError, match="baseline name"):
                catalog.promote_baseline(name, folder / "nov27.h5")
        with pytest.raises(BaselineError, match="not under the catalog folder"):
            catalog.promote_baseline("n", outside)
        with pytest.raises(BaselineError, match=r"broken.h5: cannot be the baseline 'n': .*dam"):
            catalog.promote_baseline("n", folder / "broken.h5")
        with pytest.raises(BaselineError, match="not a run file"):
            catalog.promote_baseline("n", folder / "nothing.h5")
        with pytest.raises(BaselineError, match=r"no baseline called 'n' .*\(known: none yet\)"):
            catalog.baseline("n")
        assert catalog.baseline_history() == []


def test_a_replaced_or_removed_baseline_file_is_refused(folder: Path) -> None:
    with Catalog(folder) as catalog:
        catalog.promote_baseline("nightly", folder / "nov27.h5")
    (folder / "nov27.h5").unlink()
    write_run(folder / "nov27.h5", {IQ: {"iq_sleep": [1e-6]}}, serial="U0002")
    with Catalog(folder) as catalog, pytest.raises(BaselineError, match="not the promoted run"):
        catalog.baseline_path("nightly")
    (folder / "nov27.h5").unlink()
    with Catalog(folder) as catalog, pytest.raises(BaselineError, match="gone or cannot be read"):
        catalog.baseline_path("nightly")


def test_a_version_1_catalog_is_migrated_and_keeps_its_index(folder: Path) -> None:
    with Catalog(folder) as catalog:  # index the files as version 1 did, then turn it back
        assert catalog.version == CATALOG_VERSION == 2
    db = sqlite3.connect(folder / INDEX_NAME)
    rows = {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in ("files", "runs", "tests",
                                                                     "measurements")}  # fmt: skip
    db.close()
    (folder / INDEX_NAME).unlink()
    db = sqlite3.connect(folder / INDEX_NAME)
    db.executescript(VERSION_1)
    for table, content in rows.items():
        marks = ",".join("?" * len(content[0]))
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", content)
    db.commit()
    db.close()
    with Catalog(folder, update=False) as catalog:
        assert catalog.version == 2
        assert catalog.update() == (0, 0, 0, 3, 0)  # nothing read again
        assert catalog.values("iq_sleep")["value"].tolist() == [1.20e-6, 1.21e-6, 1.60e-6]
        catalog.promote_baseline("nightly", folder / "nov28.h5")
    with Catalog(folder) as catalog:
        assert catalog.baseline("nightly").path == "nov28.h5"


def test_a_newer_catalog_is_refused(folder: Path) -> None:
    with Catalog(folder):
        pass
    db = sqlite3.connect(folder / INDEX_NAME)
    db.execute("UPDATE catalog SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(ResultFileError, match="version 99, newer than this benchtest reads"):
        Catalog(folder)


def test_promote_list_and_compare_by_name_on_the_command_line(folder: Path) -> None:
    code, out, err = _cli("baseline", "promote", str(folder / "nov27.h5"), "--name", "nightly")
    assert (code, err) == (0, "") and "nov27.h5 is now the baseline 'nightly'" in out
    code, out, _ = _cli("baseline", "promote", str(folder / "nov28.h5"), "--name", "nightly",
                        "--note", "after trim")  # fmt: skip
    assert code == 0 and "1 earlier promotion kept" in out
    code, out, _ = _cli("baseline", "list", "--results-dir", str(folder))
    assert code == 0 and "nov28.h5" in out and "after trim" in out and "nov27.h5" not in out
    code, out, _ = _cli("baseline", "list", "--results-dir", str(folder), "--history")
    assert out.index("nov27.h5") < out.index("nov28.h5")
    # nov28 (1.21 uA) is the baseline: nov29 (1.60 uA) moved; nov27 (1.20 uA) did not
    code, out, _ = _cli("compare", "--baseline", "nightly", str(folder / "nov29.h5"))
    assert code == 1 and "baseline (nightly)" in out and "moved" in out
    code, out, _ = _cli("compare", "--baseline", "nightly", str(folder / "nov27.h5"))
    assert code == 0 and "no regression" in out
    code, _, err = _cli("compare", "--baseline", "weekly", str(folder / "nov27.h5"))
    assert code == 2 and "no baseline called 'weekly'" in err and "(known: nightly)" in err
    code, _, err = _cli("baseline", "list", "--results-dir", str(folder / "none"))
    assert code == 2 and "no such results folder" in err
