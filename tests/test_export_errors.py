"""Bad input to `benchtest export` gets one line naming what and where, exit code 2, and
nothing written: not a run file, a damaged one, an unknown format, a missing library, an
output that cannot be written. A write that fails half-way leaves no half file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import h5py
import pytest

from benchtest.cli.commands import main
from benchtest.storage.example import write_example_run

OK = b"an export that was there before\n"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "run.h5"
    return write_example_run(path, points=200).read_bytes()


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(
    folder: Path, before: set[str], result: tuple[int, str, str], *words: str
) -> None:
    """Exit 2, nothing on stdout, one line on stderr with `words`, no file added."""
    code, out, err = result
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("benchtest export: ") and err.count("\n") == 1, err
    assert all(word in err for word in words), (words, err)
    assert {p.name for p in folder.iterdir()} == before


def test_a_file_that_is_not_a_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5 at all\n")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1, 2, 3]
    before = {p.name for p in tmp_path.iterdir()}
    for path in (text, plain, tmp_path / "missing.h5"):
        result = export(capsys, str(path), "--format", "stdf", "-o", str(tmp_path / "o.stdf"))
        assert_refused(tmp_path, before, result, str(path))
    result = export(capsys, str(plain), "--format", "csv", "-o", str(tmp_path / "o.csv"))
    assert_refused(tmp_path, before, result, str(plain), "not a benchtest run")


def test_a_damaged_run_file_is_refused_before_anything_is_written(
    good: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    intact, damaged, cut = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    intact.write_bytes(good)
    with h5py.File(intact, "r") as f:
        chunk = f["summary/measurements"].id.get_chunk_info(0)
    data = bytearray(good)
    data[chunk.byte_offset + 10] ^= 0x01  # a value of the first measurement row
    damaged.write_bytes(bytes(data))
    cut.write_bytes(good[: len(good) // 2])
    out = tmp_path / "lot.stdf"
    out.write_bytes(OK)
    before = {p.name for p in tmp_path.iterdir()}
    for bad in (damaged, cut):
        for fmt in ("stdf", "csv"):
            result = export(capsys, str(intact), str(bad), "--format", fmt, "-o", str(out))
            assert_refused(tmp_path, before, result, str(bad), "damaged")
            assert out.read_bytes() == OK  # the earlier export is left as it was


def test_an_unknown_or_unnamed_format_is_refused(
    good: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run.h5"
    run.write_bytes(good)
    before = {"run.h5"}
    result = export(capsys, str(run), "--format", "xls")
    assert_refused(tmp_path, before, result, "unknown export format 'xls'", "stdf or csv")
    result = export(capsys, str(run), "-o", str(tmp_path / "run.txt"))
    assert_refused(tmp_path, before, result, "run.txt", "--format")
    result = export(capsys, str(run))
    assert_refused(tmp_path, before, result, "--format stdf or --format csv")


def test_an_output_that_would_overwrite_an_input_or_is_ambiguous_is_refused(
    good: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    one.write_bytes(good)
    two.write_bytes(good)
    before = {"one.h5", "two.h5"}
    result = export(capsys, str(one), str(two), "--format", "csv", "-o", str(two))
    assert_refused(tmp_path, before, result, str(two), "is one of the run files")
    assert two.read_bytes() == good
    result = export(capsys, str(one), str(two), "--format", "csv")
    assert_refused(tmp_path, before, result, "2 run files", "-o")
    result = export(capsys, str(one), "--format", "csv", "-o", str(tmp_path))
    assert_refused(tmp_path, before, result, str(tmp_path), "is a folder")


def test_a_missing_stdf_library_says_how_to_install_it(
    good: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run.h5"
    run.write_bytes(good)
    monkeypatch.setitem(sys.modules, "stdfast", None)
    monkeypatch.setitem(sys.modules, "stdfast.records", None)
    result = export(capsys, str(run), "--format", "stdf")
    assert_refused(tmp_path, {"run.h5"}, result, "pip install 'benchtest[stdf]'")
    assert export(capsys, str(run), "--format", "csv")[0] == 0  # CSV needs no extra


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_half_way_leaves_no_half_file(
    failure: BaseException,
    good: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stdfast

    run, out = tmp_path / "run.h5", tmp_path / "run.stdf"
    run.write_bytes(good)
    out.write_bytes(OK)

    def half_then_fail(name: str, records: list[Any]) -> None:
        Path(name).write_bytes(b"\x02\x00\x00\x0a\x02\x04" * 10)  # part of a file
        raise failure

    monkeypatch.setattr(stdfast, "write_stdf", half_then_fail)
    code, _, err = export(capsys, str(run), "--format", "stdf")
    if isinstance(failure, OSError):
        assert code == 2 and "cannot write the export" in err and str(out) in err
    else:
        assert code == 130
    assert out.read_bytes() == OK
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5", "run.stdf"]
