"""CSV export: one row per measurement with every condition a column, read back with the
csv module: the text survives quoting, numbers read back to the same float."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from export_cases import (
    LONG,
    LONG_NAME,
    Test,
    edge_tests,
    judge,
    read_stdf_convert,
    records_of,
    write_run,
)

from benchtest.cli.commands import main
from benchtest.export.formats import export_runs
from benchtest.results import open_run

FIXED = [
    "run_file", "run_id", "serial", "site", "test", "attempt", "test_outcome", "test_number",
    "parameter", "value", "unit", "low", "high", "outcome", "time",
]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("runs")
    other = [
        Test(
            "plans/test_a.py::test_vout",
            "passed",
            [judge("vout", 3.3, "V", 3.2, 3.4, conditions={"temperature": -40})],
            {"vin": 5.0},
        )
    ]
    return [
        write_run(folder / "edges.h5", edge_tests(), serial="E1", outcome="error", minute=1),
        write_run(folder / "cold.h5", other, serial="C1", outcome="passed", minute=2),
    ]


@pytest.fixture(scope="module")
def table(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    out = export_runs(runs, "csv", tmp_path_factory.mktemp("out") / "lot.csv")
    with out.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        assert header[: len(FIXED)] == FIXED
        conditions = [name.removeprefix("condition:") for name in header[len(FIXED) :]]
        assert conditions == sorted(conditions)  # by name
        return [dict(zip(header, line, strict=True)) for line in reader]


def test_one_row_per_measurement_with_value_limits_and_outcome(
    runs: list[Path], table: list[dict[str, str]]
) -> None:
    expected = []
    for path in runs:
        with open_run(path) as run:
            expected += [
                (path.name, t.id, str(t.attempt), t.outcome, *row[:6])
                for t in run.tests
                for row in t.measurements.tolist()
            ]
    assert len(table) == len(expected) == 14  # both attempts of the retried test
    for line, (file, test, attempt, test_outcome, name, value, unit, low, high, outcome) in zip(
        table, expected, strict=True
    ):
        assert (line["run_file"], line["test"], line["attempt"]) == (file, test, attempt)
        assert (line["test_outcome"], line["parameter"], line["unit"]) == (test_outcome, name, unit)
        assert line["outcome"] == outcome
        read = float(line["value"])
        assert read == value or (math.isnan(read) and math.isnan(value))  # exact, not rounded
        assert line["low"] == ("" if math.isnan(low) else repr(low))
        assert line["high"] == ("" if math.isnan(high) else repr(high))
        assert line["serial"] == ("E1" if file == "edges.h5" else "C1")
        assert line["time"].endswith("+00:00") and line["run_id"] == f"run-{Path(file).stem}"


def test_every_condition_is_a_column(table: list[dict[str, str]]) -> None:
    one_sided = [r for r in table if r["test"].endswith("test_one_sided")]
    assert {(r["vin"], r["load"]) for r in one_sided} == {("3.6", "1 mA")}  # numpy scalar too
    loads = [r["iload"] for r in table if r["test"].endswith("test_load")]
    assert loads == ["0.01", "0.1"]
    cold = [r for r in table if r["serial"] == "C1"]
    assert [(r["temperature"], r["vin"], r["iload"]) for r in cold] == [("-40", "5.0", "")]
    # a condition named like a fixed column gets a prefix instead of overwriting it
    (text,) = [r for r in table if r["test"].endswith("test_text")]
    assert text["condition:unit"] == "q" and text["unit"] == "V"


def test_text_survives_quoting_and_utf8(table: list[dict[str, str]]) -> None:
    (text,) = [r for r in table if r["test"].endswith("test_text")]
    assert text["parameter"] == "vout_Δ"
    assert text["note"] == 'quoted "x", and\nnewline'
    long = [r for r in table if LONG in r["test"]]
    assert [r["parameter"] for r in long] == [f"a{LONG_NAME}", f"b{LONG_NAME}"]
    assert len(long[0]["test"]) > 300  # never cut in CSV
    nan = [r for r in table if r["test"].endswith("test_nan")]
    assert [(r["value"], r["outcome"]) for r in nan] == [("NaN", "fail")]


def test_test_numbers_match_the_stdf_export(
    runs: list[Path], table: list[dict[str, str]], tmp_path: Path
) -> None:
    stdf = read_stdf_convert(export_runs(runs, "stdf", tmp_path / "lot.stdf"))
    numbers = {p["TEST_NUM"] for p in records_of(stdf, "PTR")}
    finals = {int(r["test_number"]) for r in table if not r["test"].endswith("test_retry")}
    assert finals <= numbers
    retry = {int(r["test_number"]) for r in table if r["test"].endswith("test_retry")}
    assert len(retry) == 1 and retry <= numbers  # both attempts: the same test


def test_command_line_infers_the_format_from_the_output(
    runs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "edges.CSV"
    assert main(["export", str(runs[0]), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    data = out.read_bytes()
    # the header and 13 rows end in CRLF; the note's newline inside its quotes stays "\n"
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1 + 13
    assert "vout_Δ".encode() in data and not data.startswith(b"\xef\xbb\xbf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edges.CSV"]
