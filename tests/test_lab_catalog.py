"""The lab catalog in a real PostgreSQL server: publishing, migrations, queries, baselines.

Every test here gets an empty database of its own on a throw-away server (`pg_server`); the
tests are skipped, with the reason, on a machine where no server can be started.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_server import Server

from benchtest.results import Catalog
from benchtest.results.catalog import BaselineError
from benchtest.results.lab import open_catalog
from benchtest.results.lab_catalog import CatalogError, redact
from benchtest.results.lab_postgres import PostgresCatalog
from benchtest.results.lab_schema import LAB_CATALOG_VERSION
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.events import MeasurementRecorded, RunFinished, TestFinished, TestStarted
from benchtest.values.measurement import Limits, Measurement


def write_run(
    path: Path, serial: str, start: str, iq: float, *, part: str = "LDO-3V3", station: str = "b1"
) -> Path:
    """A finished run of two plans started at `start`: iq, and a dropout test out of limits."""
    moment = datetime.fromisoformat(start).timestamp()
    event = dataclasses.replace(
        run_started(f"run-{path.stem}"), serial_number=serial, started=start, part=part,
        station=station,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(event)
        for test_id, name, value, outcome in (
            ("plans/test_power.py::test_iq", "iq", iq, "passed"),
            ("plans/test_ldo.py::test_dropout", "dropout", 1.3, "failed"),
            ("plans/test_ldo.py::test_nan", "dropout", math.nan, "failed"),
        ):
            writer(TestStarted(test_id, start))
            m = Measurement.judge(name, value, "A", Limits(None, 1.0, "A"))
            writer(MeasurementRecorded(test_id, dataclasses.replace(m, timestamp=moment)))
            writer(TestFinished(test_id, outcome, start, 0.1))
        writer(RunFinished(start, "failed"))
    return path


def _rows(table: Any) -> list[list[str]]:
    """A table's rows as text, so that NaN equals NaN."""
    return [[repr(v) for v in row] for row in table.tolist()]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    write_run(runs / "a.h5", "SN2", "2026-11-27T22:00:00+00:00", 2e-6)
    write_run(runs / "b.h5", "SN1", "2026-11-28T01:30:00+00:00", 1e-6, station="b2")
    write_run(runs / "c.h5", "SN1", "2026-11-28T22:00:00+00:00", 1.5e-6)
    write_run(runs / "d.h5", "SN9", "2026-11-28T23:00:00+00:00", 9e-6, part="MCU")
    return runs


def test_both_catalogs_answer_the_same_questions(folder: Path, lab_url: str) -> None:
    with PostgresCatalog(lab_url) as lab:
        for run in sorted(folder.glob("*.h5")):
            assert not lab.publish(run).already
        with Catalog(folder) as local:
            assert len(lab) == len(local) == 4
            for parameter, part in (("iq", "LDO-3V3"), ("iq", None), ("dropout", None)):
                want, got = local.values(parameter, part=part), lab.values(parameter, part=part)
                assert got.dtype == want.dtype
                assert _rows(got) == _rows(want)  # paths too: the files are at the folder's top
            window = {"start": "2026-11-28T00:00:00+00:00", "end": datetime(2026, 11, 29)}
            assert _rows(lab.values("iq", **window)) == _rows(local.values("iq", **window))
            assert len(lab.values("iq", **window)) == 3
            assert lab.nightly("iq") == local.nightly("iq")
            assert lab.nightly("iq", part="LDO-3V3", bench="b1") == local.nightly(
                "iq", part="LDO-3V3", bench="b1"
            )
            assert lab.pass_rate() == local.pass_rate()
            assert list(lab.runs()) == list(local.runs())
        nights = [(n.part, n.bench, n.night, n.readings) for n in lab.nightly("iq")]
        assert nights == [
            ("LDO-3V3", "b1", "2026-11-27", 1), ("LDO-3V3", "b1", "2026-11-28", 1),
            ("LDO-3V3", "b2", "2026-11-27", 1), ("MCU", "b1", "2026-11-28", 1),
        ]  # fmt: skip
        [dropout] = lab.nightly("dropout", part="MCU")
        assert (dropout.readings, dropout.failed, dropout.mean) == (1, 2, 1.3)  # NaN not a value


def test_publishing_a_run_again_stores_it_once(folder: Path, lab_url: str) -> None:
    run = folder / "a.h5"
    with PostgresCatalog(lab_url) as lab:
        first = lab.publish(run)
        again = lab.publish(run)
        assert (first.already, again.already) == (False, True)
        assert (first.tests, first.measurements) == (3, 3)
        assert again.run_id == first.run_id and again.sha256 == first.sha256
    with PostgresCatalog(lab_url) as other_host:  # another connection: still once
        assert other_host.publish(run).already
        assert len(other_host) == 1
        assert len(other_host.values("iq")) == 1
    with psycopg.connect(lab_url) as db:
        assert db.execute("SELECT count(*) FROM tests").fetchone() == (3,)


def test_a_run_that_did_not_finish_is_not_published(tmp_path: Path, lab_url: str) -> None:
    path = tmp_path / "killed.h5"
    writer = Hdf5RunWriter(path, sync="never")
    writer(run_started())
    writer.close()  # closed without RunFinished: the run never finished
    with PostgresCatalog(lab_url) as lab:
        with pytest.raises(CatalogError, match=r"killed\.h5: not published: .*incomplete"):
            lab.publish(path)
        with pytest.raises(
            CatalogError,
            match=r"missing\.h5: not published: cannot read it: No such file or directory$",
        ):
            lab.publish(tmp_path / "missing.h5")
        assert len(lab) == 0


def test_migrations_from_an_empty_database_and_from_the_previous_version(
    folder: Path,
    lab_url: str,
) -> None:
    with PostgresCatalog(lab_url, migrate=False) as empty:
        assert empty.version == 0
        assert empty.migrate(to=1) == [1]
        assert empty.version == 1
        empty.publish(folder / "a.h5")  # a catalog of version 1 takes runs
    with PostgresCatalog(lab_url, migrate=False) as unchanged:
        assert unchanged.version == 1
    with PostgresCatalog(lab_url) as upgraded:  # opening migrates, keeping what was there
        assert upgraded.version == LAB_CATALOG_VERSION == 2
        assert upgraded.values("iq")["serial"].tolist() == ["SN2"]
        upgraded.promote_baseline("nightly", folder / "a.h5")
        assert upgraded.migrate() == []
    with psycopg.connect(lab_url) as db:
        rows = db.execute("SELECT version, description FROM benchtest_migrations ORDER BY 1")
        assert [v for v, _ in rows] == [1, 2]
        db.execute("INSERT INTO benchtest_migrations VALUES (99, 'from the future')")
    with pytest.raises(CatalogError, match="version 99, newer than this benchtest knows"):
        PostgresCatalog(lab_url)


def test_a_failed_migration_leaves_the_database_as_it_was(
    lab_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchtest.results import lab_schema

    failing = lab_schema.Migration(2, "broken", "CREATE TABLE baselines (id int); SELECT 1/0")
    broken = (*lab_schema.MIGRATIONS[:1], failing)
    monkeypatch.setattr("benchtest.results.lab_postgres.MIGRATIONS", broken)
    with pytest.raises(
        CatalogError, match=r"cannot bring the lab catalog up to date: division by zero"
    ):
        PostgresCatalog(lab_url)
    with psycopg.connect(lab_url) as db:
        assert db.execute("SELECT max(version) FROM benchtest_migrations").fetchone() == (1,)
        assert db.execute("SELECT to_regclass('baselines')").fetchone() == (None,)


def test_baselines_are_named_and_promoted_in_the_lab_catalog(
    folder: Path,
    lab_url: str,
) -> None:
    when = datetime(2026, 12, 1, 8, tzinfo=UTC)
    with PostgresCatalog(lab_url) as lab:
        for name in ("a", "c"):
            lab.publish(folder / f"{name}.h5")
        first = lab.promote_baseline("nightly-ldo", folder / "a.h5", by="ana", when=when)
        second = lab.promote_baseline("nightly-ldo", folder / "c.h5", note="new board", by="bo")
        assert (first.path, first.serial, first.promoted) == ("a.h5", "SN2", when.isoformat())
        assert lab.baseline("nightly-ldo") == second
        assert [b.path for b in lab.baseline_history("nightly-ldo")] == ["a.h5", "c.h5"]
        assert lab.baselines() == [second]
        with pytest.raises(BaselineError) as unknown:
            lab.baseline("nightly-mcu")
        assert str(unknown.value) == (
            f"no baseline called 'nightly-mcu' in the lab catalog {redact(lab_url)} "
            "(known: nightly-ldo)"
        )
        with pytest.raises(BaselineError, match=r"b\.h5: .*not published in the lab catalog"):
            lab.promote_baseline("other", folder / "b.h5")
        with pytest.raises(BaselineError, match="baseline name 'bad name'"):
            lab.promote_baseline("bad name", folder / "a.h5")
    with open_catalog(lab_url) as same:  # the same questions, through the neutral opener
        assert same.baseline("nightly-ldo").note == "new board"


def test_a_wrong_url_gets_one_clear_message_without_the_password(
    postgres_server: Server,
) -> None:
    secret = postgres_server.password
    wrong = postgres_server.url().replace(secret, "not-" + secret)
    with pytest.raises(CatalogError) as caught:
        PostgresCatalog(wrong)
    message = str(caught.value)
    assert message.startswith(f"postgresql://benchtest:***@127.0.0.1:{postgres_server.port}/")
    assert "cannot connect to the lab catalog" in message and "password" in message
    assert secret not in message
    with pytest.raises(CatalogError, match="cannot connect to the lab catalog"):
        PostgresCatalog(postgres_server.url().replace(str(postgres_server.port), "1"))
    with pytest.raises(CatalogError, match='database "nope" does not exist'):
        PostgresCatalog(postgres_server.url("nope"))
    for malformed in (
        f"postgresql://u:{secret}@127.0.0.1:notaport/db",
        f"postgresql://u:{secret}@[::1/db",
        f"postgresql://u:{secret}@127.0.0.1:1/db?bogus=1",
    ):
        with pytest.raises(CatalogError, match="cannot connect to the lab catalog") as caught:
            PostgresCatalog(malformed)
        assert secret not in str(caught.value) and "***" in str(caught.value)


def test_the_password_may_come_from_the_environment(
    postgres_server: Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bare = postgres_server.url(password=False)
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    with PostgresCatalog(bare) as lab:
        assert lab.version == LAB_CATALOG_VERSION
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_server.port}:*:benchtest:{postgres_server.password}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with PostgresCatalog(bare) as lab:
        assert lab.where == bare


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:s3cret@h:5432/lab", "postgresql://u:***@h:5432/lab"),
        ("postgresql://u@h/lab", "postgresql://u@h/lab"),
        ("postgres://u:p%40ss@h/lab?sslmode=require", "postgres://u:***@h/lab?sslmode=require"),
        ("postgresql://h/lab?user=u&password=s3cret", "postgresql://h/lab?user=u&password=***"),
        ("host=h password='s3 cret' dbname=lab", "host=h password=*** dbname=lab"),
    ],
)
def test_a_password_is_redacted_wherever_a_url_is_shown(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_embedded_catalog_answers_the_lab_history_by_part_bench_and_night(
    folder: Path,
) -> None:
    with open_catalog(folder) as local:  # a folder: the SQLite index, no server needed
        assert isinstance(local, Catalog)
        assert local.nightly("iq", part="LDO-3V3") == [
            ("LDO-3V3", "b1", "2026-11-27", 1, 2e-6, 2e-6, 2e-6, 0),
            ("LDO-3V3", "b1", "2026-11-28", 1, 1.5e-6, 1.5e-6, 1.5e-6, 0),
            ("LDO-3V3", "b2", "2026-11-27", 1, 1e-6, 1e-6, 1e-6, 0),
        ]
        assert [n.night for n in local.nightly("iq", bench="b1", start="2026-11-28")] == [
            "2026-11-28", "2026-11-28",
        ]  # fmt: skip
        [dropout] = local.nightly("dropout", part="MCU")
        assert (dropout.readings, dropout.failed, dropout.mean) == (1, 2, 1.3)
        assert local.nightly("no_such_parameter") == []
    with pytest.raises(CatalogError, match="no such results folder, and not a postgresql"):
        open_catalog(folder / "missing")


def test_without_server_programs_the_server_tests_are_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pg_server

    monkeypatch.setattr(pg_server, "_bindir", lambda: None)
    missing = r"no PostgreSQL server programs .* apt-get install postgresql"
    with pytest.raises(pg_server.NoServer, match=missing), pg_server.throwaway_server():
        pass


def test_another_file_of_a_published_run_is_refused(tmp_path: Path, lab_url: str) -> None:
    first = write_run(tmp_path / "one" / "a.h5", "SN1", "2026-11-27T22:00:00+00:00", 2e-6)
    changed = write_run(tmp_path / "two" / "a.h5", "SN1", "2026-11-27T22:00:00+00:00", 3e-6)
    with PostgresCatalog(lab_url) as lab:
        published = lab.publish(first)
        with pytest.raises(CatalogError) as caught:
            lab.publish(changed)
        assert str(caught.value).startswith(
            f"{changed}: not published: run {published.run_id} is in the lab catalog already, "
            f"from a file with other content (sha256 {published.sha256[:16]}..."
        )
        assert lab.values("iq")["value"].tolist() == [2e-6]
