"""`benchtest characterise`: statistics across units that match the textbook, the spread of 30
simulated units as the profile states it, CSV and terminal output, catalog queries, and one
clear error (exit 2, nothing written) for every kind of bad input."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import shutil
from datetime import timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
from characterise_units import (
    FIRST_START,
    PLAN,
    PROFILE,
    SimulatedUnit,
    unit_events,
    write_unit,
    write_units,
)

from benchtest.cli.commands import main
from benchtest.review.characterise import Characterisation, Row, characterise
from benchtest.review.characterise_read import CharacteriseError, _read_full, read_unit
from benchtest.review.characterise_table import COLUMNS, csv_text
from benchtest.review.stats import spread
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import write_example_run
from benchtest.values.errors import BenchtestError
from benchtest.values.events import (
    MeasurementRecorded,
    RunFinished,
    TestFinished,
    TestStarted,
)
from benchtest.values.measurement import Limits, Measurement

UNITS = 30


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run files of 30 simulated units (lots L1 and L2) in a folder."""
    folder = tmp_path_factory.mktemp("units")
    write_units(folder, UNITS)
    return folder


@pytest.fixture(scope="module")
def result(units: Path) -> Characterisation:
    return characterise([units], sweeps=True)


def _row(result: Characterisation, name: str, group: str = "", **conditions: float) -> Row:
    wanted = {"temperature": 25.0, **conditions}
    (row,) = [
        r for r in result.rows
        if r.parameter == name and dict(r.conditions) == wanted and r.group == group
    ]  # fmt: skip
    return row


def _values_by_h5py(folder: Path, name: str, vdd: float) -> np.ndarray:
    """The values of `name` at `vdd`, read straight from the files with h5py (not benchtest)."""
    values = []
    for path in sorted(folder.glob("*.h5")):
        with h5py.File(path, "r") as f:
            for row in f["summary/measurements"][()]:
                if row["name"] == name.encode() and f'"vdd": {vdd}'.encode() in row["conditions"]:
                    values.append(float(row["value"]))
    return np.array(values)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["characterise", *argv])
    return code, out.getvalue(), err.getvalue()


# -- statistics -------------------------------------------------------------------------------


def test_cpk_of_a_two_sided_limit_is_the_textbook_formula() -> None:
    values = [1.02, 0.98, 1.05, 0.99, 1.01, 0.97, 1.03]
    s = spread(values, 0.9, 1.2)
    mean, sigma = np.mean(values), np.std(values, ddof=1)  # sample sigma, n - 1
    assert s.mean == pytest.approx(mean) and s.sigma == pytest.approx(sigma)
    assert s.cpk == pytest.approx(min(1.2 - mean, mean - 0.9) / (3 * sigma))
    assert s.cp == pytest.approx(0.3 / (6 * sigma))
    assert (s.count, s.minimum, s.typical, s.maximum) == (7, 0.97, 1.01, 1.05)
    assert s.passed == 7 and s.yield_fraction == 1.0


def test_one_sided_limits_give_cpu_or_cpl_and_no_cp() -> None:
    values = np.array([130e-6, 140e-6, 135e-6, 128e-6, 142e-6])
    mean, sigma = values.mean(), values.std(ddof=1)
    upper = spread(values, None, 220e-6)
    assert upper.cpk == pytest.approx((220e-6 - mean) / (3 * sigma)) and math.isnan(upper.cp)
    lower = spread(values, np.float32(100e-6), math.nan)  # numpy scalar limits, NaN: none
    assert lower.cpk == pytest.approx((mean - float(np.float32(100e-6))) / (3 * sigma))
    assert math.isnan(lower.cp) and math.isnan(lower.high)
    unbounded = spread(values)
    assert math.isnan(unbounded.cpk) and unbounded.passed == 5


def test_yield_counts_values_on_a_limit_as_inside_and_nan_values_not_at_all() -> None:
    s = spread(np.array([0.0, 0.5, 0.51, -0.5, np.nan, -0.6]), -0.5, 0.5)
    assert s.count == 5 and s.passed == 3 and s.yield_fraction == pytest.approx(0.6)


def test_too_few_values_or_no_spread_leave_cpk_undefined() -> None:
    single = spread([1.0], 0.0, 2.0)
    assert math.isnan(single.sigma) and math.isnan(single.cpk) and single.count == 1
    flat = spread([1.0, 1.0, 1.0], 0.0, 2.0)
    assert flat.sigma == 0.0 and math.isnan(flat.cpk) and math.isnan(flat.cp)
    empty = spread([], 0.0, 2.0)
    assert empty.count == 0 and math.isnan(empty.yield_fraction) and not empty.below(1.33)


# -- thirty simulated units -------------------------------------------------------------------


def test_thirty_units_reproduce_the_profile_spread(result: Characterisation) -> None:
    model = PROFILE["model"]
    accuracy = _row(result, "accuracy", vdd=3.3)
    assert accuracy.spread.count == UNITS and accuracy.units == UNITS
    assert accuracy.spread.sigma == pytest.approx(model["offset"]["sigma"], rel=0.25)
    idd = _row(result, "idd_active", vdd=3.3)
    assert idd.spread.sigma == pytest.approx(model["idd_active"]["sigma"], rel=0.25)
    assert idd.spread.mean == pytest.approx(model["idd_active"]["typ"], rel=0.05)


def test_cpk_matches_the_textbook_on_the_values_in_the_files(
    units: Path, result: Characterisation
) -> None:
    cases: list[tuple[str, float, float | None, float]] = [
        ("accuracy", 3.3, -0.5, 0.5),
        ("idd_active", 3.3, None, 220e-6),  # one-sided: Cpu
    ]
    for name, vdd, low, high in cases:
        values = _values_by_h5py(units, name, vdd)
        assert len(values) == UNITS
        mean, sigma = values.mean(), values.std(ddof=1)
        sides = [high - mean] + ([] if low is None else [mean - low])
        row = _row(result, name, vdd=vdd)
        assert row.spread.cpk == pytest.approx(min(sides) / (3 * sigma), rel=1e-12)
        assert row.spread.sigma == pytest.approx(sigma, rel=1e-12)
        assert sorted(row.values) == pytest.approx(sorted(values))


def test_rows_split_by_condition_and_lot(result: Characterisation) -> None:
    assert {r.group for r in result.rows} == {"", "lot=L1", "lot=L2"}
    l1, l2 = (_row(result, "accuracy", f"lot={lot}", vdd=5.5) for lot in ("L1", "L2"))
    both = _row(result, "accuracy", vdd=5.5)
    assert l1.spread.count == l2.spread.count == UNITS // 2
    assert sorted([*l1.values, *l2.values]) == pytest.approx(sorted(both.values))
    assert _row(result, "accuracy", vdd=3.3).spread.mean != both.spread.mean  # a 2nd condition
    assert [u.serial for u in result.units] == [f"SN{n:04d}" for n in range(1, UNITS + 1)]


def test_the_cpk_flag_follows_the_threshold(units: Path, result: Characterisation) -> None:
    cpk = _row(result, "accuracy", vdd=3.3).spread.cpk
    assert not _row(characterise([units], cpk_min=cpk * 0.99), "accuracy", vdd=3.3).flagged
    strict = characterise([units], cpk_min=cpk * 1.01)
    assert _row(strict, "accuracy", vdd=3.3).flagged
    assert all(r.flagged == (r.spread.cpk < cpk * 1.01) for r in strict.rows)


def test_sweeps_are_overlaid_with_a_min_max_band(result: Characterisation) -> None:
    (band,) = result.sweeps
    assert len(band.curves) == UNITS and band.x_unit == "V" and band.y_unit == "degC"
    ys = np.vstack([c.y for _, c in band.curves])
    assert band.band_low == pytest.approx(ys.min(axis=0))
    assert band.band_high == pytest.approx(ys.max(axis=0))
    assert (band.low, band.high) == (-0.5, 0.5)


def test_a_retried_test_counts_by_its_last_attempt(tmp_path: Path) -> None:
    path = tmp_path / "retried.h5"
    (tmp_path / "one").mkdir()
    source = write_unit(tmp_path / "one", "SN0099", "L9", FIRST_START)
    start = read_unit(source)
    with Hdf5RunWriter(path, sync="never") as writer:
        events = list(unit_events(SimulatedUnit.measure("SN0099"), "L9", FIRST_START))
        *body, finished = events
        for event in body:
            writer(event)
        test_id = f"{PLAN}::test_accuracy_over_supply[3.3]"
        for attempt, value in ((2, 0.25), (3, 0.125)):
            writer(TestStarted(test_id, "2026-11-02T08:00:00+00:00", {"vdd": 3.3}, attempt))
            m = Measurement.judge("accuracy", value, "degC", Limits(-0.5, 0.5, "degC"))
            where = {"vdd": 3.3, "temperature": 25.0}
            writer(MeasurementRecorded(test_id, dataclasses.replace(m, conditions=where)))
            writer(TestFinished(test_id, "passed", "2026-11-02T08:00:01+00:00", 0.1, "", attempt))
        writer(finished)
    unit = read_unit(path)
    accuracy = [v for n, v, c in zip(unit.names, unit.values, unit.conditions, strict=True)
                if n == "accuracy" and c.get("vdd") == 3.3]  # fmt: skip
    assert accuracy == [0.125] and len(unit.names) == len(start.names)


# -- command line -----------------------------------------------------------------------------


def test_the_command_prints_the_table_and_writes_csv_and_html(
    units: Path, result: Characterisation, tmp_path: Path
) -> None:
    html, table = tmp_path / "char.html", tmp_path / "char.csv"
    code, out, err = _run(str(units), "-o", str(html), "--csv", str(table), "--cpk-min", "1.67")
    assert (code, err) == (0, "")
    assert out.startswith(f"BT-TEMP-S1: {UNITS} units, {UNITS} run files") and "Cpk < 1.67" in out
    assert f"CSV: {table}" in out and f"HTML: {html}" in out and html.is_file()
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == len(result.rows)
    wanted = ("accuracy", "temperature=25, vdd=3.3", "all")
    (accuracy,) = [r for r in rows if (r["parameter"], r["conditions"], r["group"]) == wanted]
    expected = _row(result, "accuracy", vdd=3.3).spread
    assert float(accuracy["Cpk"]) == expected.cpk and float(accuracy["sigma"]) == expected.sigma
    assert accuracy["N"] == str(UNITS) and accuracy["flag"] == (
        "Cpk < 1.67" if expected.cpk < 1.67 else ""
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["char.csv", "char.html"]


def test_the_catalog_selects_by_lot_date_and_plan(units: Path, tmp_path: Path) -> None:
    folder = tmp_path / "catalogued"
    shutil.copytree(units, folder)
    code, out, err = _run("--catalog", str(folder), "--lot", "L2", "--part", "BT-TEMP-S1")
    assert (code, err) == (0, "") and out.startswith(f"BT-TEMP-S1: {UNITS // 2} units")
    since = (FIRST_START + timedelta(hours=3)).isoformat()
    until = (FIRST_START + timedelta(hours=8)).isoformat()
    code, out, err = _run("--catalog", str(folder), "--since", since, "--until", until,
                          "--plan", "test_sensor_characterisation.py")  # fmt: skip
    assert (code, err) == (0, "") and out.startswith("BT-TEMP-S1: 5 units"), out + err
    code, _, err = _run("--catalog", str(folder), "--plan", "test_other.py")
    assert code == 2 and err.count("\n") == 1 and "no run files match" in err


# -- bad input: one clear line, exit 2, nothing written ---------------------------------------


def _fails_cleanly(tmp_path: Path, *sources: str, says: str) -> None:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    code, _, err = _run(*sources, "-o", str(out / "c.html"), "--csv", str(out / "c.csv"))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("benchtest characterise: "), err
    assert says in err, err
    assert list(out.iterdir()) == []


def test_a_file_that_is_not_a_run_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.h5"
    notes.write_text("not hdf5", encoding="utf-8")
    _fails_cleanly(tmp_path, str(notes), says=f"{notes}: not an HDF5 file")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1, 2, 3]
    _fails_cleanly(tmp_path, str(plain), says=f"{plain}")


def test_a_damaged_run_file_is_named(units: Path, tmp_path: Path) -> None:
    folder = tmp_path / "damaged"
    shutil.copytree(units, folder, ignore=shutil.ignore_patterns(".*"))
    victim = sorted(folder.glob("*.h5"))[7]
    data = bytearray(victim.read_bytes())
    with h5py.File(victim, "r") as f:
        table = f["summary/measurements"]
        offset = table.id.get_offset()
        if offset is None:  # chunked: the first chunk
            offset = table.id.get_chunk_info(0).byte_offset
    data[offset + 20] ^= 0x10  # one bit of a measured value
    victim.write_bytes(bytes(data))
    _fails_cleanly(tmp_path, str(folder), says=f"{victim}: damaged")


def test_runs_of_different_parts_are_refused(units: Path, tmp_path: Path) -> None:
    other = write_example_run(tmp_path / "ldo.h5", points=200)
    _fails_cleanly(tmp_path, str(units), str(other), says="2 different parts")


def test_an_empty_folder_or_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _fails_cleanly(tmp_path, str(tmp_path / "empty"), says="no run files (*.h5, *.hdf5)")
    _fails_cleanly(tmp_path, str(tmp_path / "missing"), says="no such file or folder")
    code, _, err = _run()
    assert code == 2 and "no run files given" in err


def test_a_run_without_measurements(tmp_path: Path) -> None:
    path = tmp_path / "empty_run.h5"
    first, *_ = unit_events(SimulatedUnit.measure("SN0001"), "L1", FIRST_START)
    with Hdf5RunWriter(path, sync="never") as writer:
        writer(first)
        writer(RunFinished("2026-11-02T09:00:00+00:00", "passed"))
    _fails_cleanly(tmp_path, str(path), says="hold no measurements")


def test_filters_without_a_catalog_and_a_bad_minimum_cpk(units: Path, tmp_path: Path) -> None:
    _fails_cleanly(tmp_path, str(units), "--lot", "L1", says="add --catalog FOLDER")
    _fails_cleanly(tmp_path, str(units), "--catalog", str(units), says="not both")
    _fails_cleanly(tmp_path, "--catalog", str(tmp_path / "nowhere"), says="no such folder")
    with pytest.raises(CharacteriseError, match="minimum Cpk"):
        characterise([units], cpk_min=0.0)
    with contextlib.redirect_stderr(io.StringIO()) as err, pytest.raises(SystemExit) as exit_:
        main(["characterise", str(units), "--cpk-min", "nan"])
    assert exit_.value.code == 2 and "expected a number > 0" in err.getvalue()


def test_an_output_folder_that_does_not_exist_writes_nothing(units: Path, tmp_path: Path) -> None:
    table = tmp_path / "char.csv"
    code, _, err = _run(str(units), "--csv", str(table), "-o", str(tmp_path / "no" / "c.html"))
    assert code == 2 and "the folder" in err and "does not exist" in err
    assert list(tmp_path.iterdir()) == []  # not even the CSV, whose folder is there


def test_the_error_is_a_benchtest_error() -> None:
    assert issubclass(CharacteriseError, BenchtestError)


def test_csv_text_keeps_full_precision(result: Characterisation) -> None:
    lines = list(csv.reader(io.StringIO(csv_text(result))))
    row = _row(result, "idd_active", vdd=3.3)
    (line,) = [x for x in lines[1:] if x[0] == "idd_active" and x[2] == "all"]
    assert float(line[COLUMNS.index("mean")]) == row.spread.mean
    assert line[COLUMNS.index("LSL")] == "" and float(line[COLUMNS.index("USL")]) == 220e-6


def test_older_schemas_read_with_the_conditions_of_their_tests() -> None:
    data = Path(__file__).parent / "data"
    old = characterise([data / "run_schema_v1.h5", data / "run_schema_v2.h5"])
    assert old.part == "LDO-3V3" and old.unit_count == 1 and len(old.units) == 2
    (iq,) = [r for r in old.rows if r.parameter == "iq"]
    assert iq.conditions == (("vin", 3.6),)  # schema 1 keeps them with the test
    assert sorted(iq.values) == [4.51e-05, 4.51e-05, 7.13e-05, 7.13e-05]
    assert iq.spread.passed == 2 and iq.flagged


def test_an_intact_file_is_read_from_its_tables_alone(
    units: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed, sealed run file needs no full reader; only a file that is not takes it."""
    path = sorted(units.glob("*.h5"))[0]
    expected = _read_full(path, sweeps=True)  # through open_run

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the full reader was used for an intact file")

    monkeypatch.setattr("benchtest.review.characterise_read.open_run", refuse)
    fast = read_unit(path, sweeps=True)
    assert [(c.test_id, list(c.y)) for c in fast.curves] == [
        (c.test_id, list(c.y)) for c in expected.curves
    ]
    assert fast.names == expected.names and list(fast.values) == list(expected.values)
    assert fast.conditions == expected.conditions and fast.identity["lot"] == "L1"
    assert dict(fast.conditions[0]) == {
        "vdd": 3.3, "temperature": 25.0, "temperature_held_by": "chamber",
    }  # fmt: skip


def test_rows_without_conditions_take_their_tests_from_the_tables_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example run records its conditions with its tests only (vin, load)."""
    path = write_example_run(tmp_path / "example.h5", points=200)
    expected = _read_full(path, sweeps=False)
    monkeypatch.setattr("benchtest.review.characterise_read.open_run", None)  # not needed
    fast = read_unit(path)
    assert fast.names == expected.names == ["iq", "dropout", "iq", "dropout"]
    assert fast.conditions == expected.conditions
    assert all(dict(c) == {"vin": 3.6, "load": "1 mA"} for c in fast.conditions)
    (iq,) = [r for r in characterise([path]).rows if r.parameter == "iq"]
    assert iq.conditions == (("vin", 3.6),)  # the text-valued "load" is a label
