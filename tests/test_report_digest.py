"""The report's own SHA-256 and its run file's: written into the report under a rule anyone can
check, verified by `benchtest report --verify`, and no run string can forge a digest field."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import report_runs
from markupsafe import escape

from benchtest.cli.commands import main
from benchtest.report import write_report
from benchtest.report.digest import PLACEHOLDER, RULE, seal, verify
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started
from benchtest.values.errors import ResultFileError
from benchtest.values.events import RunFinished, TestFinished, TestStarted, WaveformRecorded
from benchtest.values.waveform import Waveform

FIELD = re.compile(rb'<code id="report-sha256">([0-9a-f]{64})</code>')


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path]:
    run = report_runs.write_run(tmp_path / "run.h5", report_runs.passing_events())
    return run, write_report(run, tmp_path / "out" / "report.html")


def test_the_digests_follow_the_printed_rule(written: tuple[Path, Path]) -> None:
    run, report = written
    data = report.read_bytes()
    (stated,) = FIELD.findall(data)
    zeroed = FIELD.sub(b'<code id="report-sha256">' + PLACEHOLDER.encode() + b"</code>", data)
    assert hashlib.sha256(zeroed).hexdigest() == stated.decode()  # by hand, as the rule says
    run_digest = hashlib.sha256(run.read_bytes()).hexdigest()
    assert f'<code id="run-sha256">{run_digest}</code>' in data.decode()
    assert str(escape(RULE)) in data.decode()  # the rule is printed in the report
    assert not list(report.parent.glob("*.part"))  # nothing half-written left behind


def test_verify_accepts_the_report_and_its_run(written: tuple[Path, Path]) -> None:
    run, report = written
    checks = verify(report, run)
    assert [(c.what, c.ok) for c in checks] == [("report", True), ("run file", True)]
    assert "matches the digest it states" in checks[0].line()


def test_verify_finds_one_changed_byte(written: tuple[Path, Path]) -> None:
    _, report = written
    text = report.read_text(encoding="utf-8")
    assert "2 passed, 0 failed" in text
    report.write_text(text.replace("2 passed, 0 failed", "2 passed, 1 failed"), encoding="utf-8")
    (check,) = verify(report)
    assert not check.ok and "does NOT match" in check.line()


def test_verify_finds_another_run_file(tmp_path: Path, written: tuple[Path, Path]) -> None:
    _, report = written
    other = report_runs.write_run(tmp_path / "other.h5", report_runs.failing_events())
    report_check, run_check = verify(report, other)
    assert report_check.ok and not run_check.ok
    assert run_check.actual == hashlib.sha256(other.read_bytes()).hexdigest()


def test_cli_verify_exit_status(
    tmp_path: Path, written: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run, report = written
    assert main(["report", "--verify", str(report), str(run)]) == 0
    assert capsys.readouterr().out.count("matches") == 2
    other = report_runs.write_run(tmp_path / "other.h5", report_runs.failing_events())
    assert main(["report", "--verify", str(report), str(other)]) == 1
    assert "run file sha256 does NOT match" in capsys.readouterr().err
    assert main(["report", "--verify", str(run)]) == 2  # not a report: one clear line
    err = capsys.readouterr().err
    assert f"benchtest report: {run}: no report-sha256 field" in err
    assert main(["report", "--verify", str(tmp_path / "missing.html")]) == 2
    assert "cannot read the report" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["report", "--verify", str(report), "-o", str(tmp_path / "x.html")])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        main(["report"])
    assert "name the run file" in capsys.readouterr().err


def test_a_run_string_cannot_forge_a_digest_field(tmp_path: Path) -> None:
    forged = '<code id="report-sha256">' + "a" * 64 + "</code>"
    path = tmp_path / "forged.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(TestStarted(f"p.py::test[{forged}]", "t"))
        wf = Waveform(np.arange(10, dtype=np.int16), dt=1.0, unit="V")
        writer(WaveformRecorded(f"p.py::test[{forged}]", forged, wf))
        writer(TestFinished(f"p.py::test[{forged}]", "failed", "t", 1.0, forged))
        writer(RunFinished("t", "failed"))
    report = write_report(path)
    assert len(FIELD.findall(report.read_bytes())) == 1
    assert all(c.ok for c in verify(report, path))


def test_seal_and_verify_refuse_reports_without_one_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly once"):
        seal(b"<html>no field</html>")
    two = tmp_path / "two.html"
    field = b'<code id="report-sha256">' + b"0" * 64 + b"</code>"
    two.write_bytes(field + field)
    with pytest.raises(ResultFileError, match=r"two\.html: 2 report-sha256 fields"):
        verify(two)
