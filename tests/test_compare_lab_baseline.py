"""`compare --baseline NAME` with a lab catalog: the name is looked up in the PostgreSQL
catalog, and the file is the published one found in the results folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_lab_catalog import write_run

from benchtest.cli.commands import main
from benchtest.results import Catalog
from benchtest.results.lab_catalog import CATALOG_VARIABLE
from benchtest.results.lab_postgres import PostgresCatalog


@pytest.fixture
def runs(tmp_path: Path, lab_url: str) -> Path:
    """A results folder of two runs, both published; `a.h5` promoted as `nightly-ldo` in the
    lab catalog only (the folder's own catalog has no baselines)."""
    folder = tmp_path / "results"
    write_run(folder / "a.h5", "SN2", "2026-11-27T22:00:00+00:00", 2e-6)
    write_run(folder / "c.h5", "SN1", "2026-11-28T22:00:00+00:00", 1.5e-6)
    with PostgresCatalog(lab_url) as lab:
        for name in ("a", "c"):
            lab.publish(folder / f"{name}.h5")
        lab.promote_baseline("nightly-ldo", folder / "a.h5", by="ana")
    return folder


def compare(*args: str) -> list[str]:
    return ["compare", "--trends", "none", *args]


def test_a_baseline_of_the_lab_catalog_is_compared_with(
    runs: Path, lab_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(compare("--baseline", "nightly-ldo", "--catalog", lab_url, str(runs / "c.h5")))
    out = capsys.readouterr()
    assert code == 1, out.err  # iq moved from 2 uA to 1.5 uA
    assert f"baseline (nightly-ldo): {runs / 'a.h5'}" in out.out
    with Catalog(runs) as local:
        assert local.baselines() == []  # the name came from the lab catalog


def test_the_lab_catalog_may_come_from_the_environment(
    runs: Path, lab_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CATALOG_VARIABLE, lab_url)
    nested = runs / "nightly" / "2026-11-28"  # the run elsewhere; the baseline under --results-dir
    nested.mkdir(parents=True)
    shutil.move(runs / "c.h5", nested / "c.h5")
    code = main(compare("--baseline", "nightly-ldo", "--results-dir", str(runs),
                        str(nested / "c.h5")))  # fmt: skip
    out = capsys.readouterr()
    assert code == 1, out.err
    assert f"baseline (nightly-ldo): {runs / 'a.h5'}" in out.out


def test_a_baseline_file_changed_since_it_was_published_is_refused(
    runs: Path, lab_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copyfile(runs / "c.h5", runs / "a.h5")  # another run under the promoted file's name
    code = main(compare("--baseline", "nightly-ldo", "--catalog", lab_url, str(runs / "c.h5")))
    err = capsys.readouterr().err
    assert code == 2
    assert "baseline 'nightly-ldo' of the lab catalog" in err
    assert "differs from the published run file" in err and lab_url not in err  # redacted


def test_a_baseline_file_not_in_the_results_folder_is_named(
    runs: Path, lab_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(runs / "c.h5", elsewhere / "c.h5")
    code = main(compare("--baseline", "nightly-ldo", "--catalog", lab_url, str(elsewhere / "c.h5")))
    err = capsys.readouterr().err
    assert code == 2
    assert f"its run file a.h5 is not under {elsewhere}" in err and "--results-dir" in err


def test_a_name_the_lab_catalog_lacks_lists_the_names_it_has(
    runs: Path, lab_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(compare("--baseline", "nightly-mcu", "--catalog", lab_url, str(runs / "c.h5")))
    err = capsys.readouterr().err
    assert code == 2
    assert "no baseline called 'nightly-mcu' in the lab catalog" in err
    assert "(known: nightly-ldo)" in err


def test_without_a_lab_catalog_the_results_folder_names_baselines(
    runs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CATALOG_VARIABLE, raising=False)
    with Catalog(runs) as local:
        local.promote_baseline("nightly-ldo", runs / "c.h5")
    code = main(compare("--baseline", "nightly-ldo", str(runs / "a.h5")))
    out = capsys.readouterr()
    assert code == 1, out.err
    assert f"baseline (nightly-ldo): {runs / 'c.h5'}" in out.out


def test_a_name_promoted_in_the_results_folder_wins_over_the_lab_catalog(
    runs: Path, lab_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CATALOG_VARIABLE, lab_url)  # a nightly job that also publishes
    with Catalog(runs) as local:
        local.promote_baseline("nightly-ldo", runs / "c.h5")  # the lab catalog says a.h5
    code = main(compare("--baseline", "nightly-ldo", str(runs / "a.h5")))
    out = capsys.readouterr()
    assert code == 1, out.err
    assert f"baseline (nightly-ldo): {runs / 'c.h5'}" in out.out
