"""A damaged run file never reads as a clean one, and says where it is damaged.

The files are real run files made by the writer here, then cut short at many lengths or with
one bit flipped at many offsets. Every one must come back from `open_run` and from
`benchtest report` as damaged (never a traceback, never a clean read), naming where and what
is still readable; a report is still written where anything can be read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import random
import struct
from pathlib import Path

import h5py
import pytest

from benchtest.cli.commands import main
from benchtest.results import open_run
from benchtest.results.padded import lookup3
from benchtest.runfile.seal import SEAL_BYTES, changed_regions, read_seal_at
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import example_events, write_example_run
from benchtest.values.errors import ResultFileError
from benchtest.values.events import RunFinished

POINTS = 2000  # a small real run file (~290 KB): three tests, two waveforms
TRUNCATIONS = 32
FLIPS = 64


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("original") / "run.h5"
    write_example_run(path, points=POINTS)
    return path.read_bytes()


def _report(path: Path) -> tuple[int, str, Path]:
    """`benchtest report` of `path`: exit code, what it wrote to stderr, the report's path."""
    out = path.with_suffix(".html")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", str(path), "-o", str(out)])
    return code, err.getvalue(), out


def _check_damaged(path: Path, what: str) -> None:
    """`path` reads as damaged everywhere: open_run, and the report command."""
    try:
        run = open_run(path)
    except ResultFileError as exc:
        assert "damaged" in str(exc) and "nothing is readable" in str(exc), (what, str(exc))
        code, err, out = _report(path)
        assert code == 2 and "damaged" in err and not out.exists(), (what, err)
        return
    with run:
        assert run.damaged and run.outcome == "damaged", (what, run.problems)
        assert all("damaged" in d for d in run.damage), (what, run.damage)
        readable = run.readable()
    code, err, out = _report(path)
    assert code == 1, (what, code, err)
    assert "is damaged" in err and f"still readable: {readable}" in err, (what, err)
    html = out.read_text(encoding="utf-8")
    assert "This run file is damaged." in html and "DAMAGED" in html, what


def test_the_intact_file_reads_clean(original: bytes, tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    path.write_bytes(original)
    with open_run(path) as run:
        assert not run.damaged and run.problems == [] and run.outcome == "failed"
    code, err, _ = _report(path)
    assert code == 0 and err == ""


def test_every_truncation_reads_as_damaged(original: bytes, tmp_path: Path) -> None:
    lengths = {0, 1, 7, 8, 47, 48, 100, 2048, len(original) - 1}
    lengths |= set(range(0, len(original), len(original) // TRUNCATIONS))
    for length in sorted(lengths):
        path = tmp_path / f"cut{length}.h5"
        path.write_bytes(original[:length])
        _check_damaged(path, f"cut to {length} bytes")


def test_every_single_bit_flip_reads_as_damaged(original: bytes, tmp_path: Path) -> None:
    rng = random.Random(11)
    offsets = {0, 5, 8, 12, 28, 44, 47, 48, 100, len(original) - 1}  # superblock and the ends
    offsets |= {rng.randrange(len(original)) for _ in range(FLIPS)}
    for offset in sorted(offsets):
        bit = rng.randrange(8)
        data = bytearray(original)
        data[offset] ^= 1 << bit
        path = tmp_path / f"flip{offset}.h5"
        path.write_bytes(bytes(data))
        _check_damaged(path, f"bit {bit} of byte {offset} flipped")


def test_damage_is_located_by_object(original: bytes, tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    path.write_bytes(original)
    with h5py.File(path, "r") as f:
        chunk = f["summary/measurements"].id.get_chunk_info(0)
    data = bytearray(original)
    data[chunk.byte_offset + 10] ^= 0x01  # a value of the first measurement row
    path.write_bytes(bytes(data))
    with open_run(path) as run:
        assert run.outcome == "damaged"
        assert any(
            "changed since the run closed" in d and "/summary/measurements (rows 0-" in d
            for d in run.damage
        ), run.damage


def test_text_that_is_not_utf8_is_reported_not_raised(original: bytes, tmp_path: Path) -> None:
    data = bytearray(original)
    data[original.index(b"LDO-3V3") + 1] ^= 0x80  # the part name in the root attributes
    path = tmp_path / "run.h5"
    path.write_bytes(bytes(data))
    code, err, out = _report(path)  # was: UnicodeEncodeError writing the report
    assert code == 1 and "is damaged" in err
    assert "\ufffd" in out.read_text(encoding="utf-8")


def _tests_table_index(path: Path) -> int:
    """The offset of the chunk index node (a version-1 B-tree, "TREE") of /summary/tests."""
    with h5py.File(path, "r") as f:
        chunk = f["summary/tests"].id.get_chunk_info(0).byte_offset
    data = path.read_bytes()
    address = struct.pack("<Q", chunk)
    position = data.find(b"TREE")
    while position >= 0:
        if address in data[position : position + 96]:
            return position
        position = data.find(b"TREE", position + 1)
    raise AssertionError("no chunk index of /summary/tests found")


def _passed_run(path: Path) -> Path:
    """A run whose tests passed (or were skipped), and so did the run."""
    with Hdf5RunWriter(path) as writer:
        for event in example_events(POINTS):
            if isinstance(event, RunFinished):
                event = dataclasses.replace(event, outcome="passed")
            if "test_iq[active]" not in getattr(event, "test_id", ""):
                writer(event)
    return path


@pytest.mark.parametrize("sealed", [True, False])
def test_an_unreadable_tests_table_is_damage_not_a_clean_empty_run(
    tmp_path: Path, sealed: bool
) -> None:
    path = _passed_run(tmp_path / "run.h5")
    with open_run(path) as run:
        assert run.outcome == "passed" and len(run.tests) == 2
    node = _tests_table_index(path)
    with h5py.File(path, "r") as f:
        seal = f["summary/seal"].id.get_offset()
    with path.open("r+b") as raw:
        raw.seek(node)
        raw.write(b"XXXX")  # the table's rows can no longer be found
        if not sealed:  # as a file written before run files were sealed
            raw.seek(seal)
            raw.write(bytes(SEAL_BYTES))
    with open_run(path) as run:
        assert run.outcome == "damaged" and run.tests == []  # was: "passed", no problem
        assert any("/summary/tests: none of its 2 rows can be read" in p for p in run.damage)
    _check_damaged(path, "tests table unreadable")


def test_a_sealed_file_names_the_changed_regions(original: bytes, tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    path.write_bytes(original)
    with h5py.File(path, "r") as f:
        seal = read_seal_at(path, f["summary/seal"].id.get_offset())
    assert seal is not None and seal.length == len(original)
    assert changed_regions(path, seal) == []
    data = bytearray(original)
    data[seal.region * 3 + 5] ^= 0x10
    path.write_bytes(bytes(data))
    assert changed_regions(path, seal) == [(seal.region * 3, seal.region * 4)]


def test_a_superblock_behind_the_data_of_its_last_flush_still_reads(
    original: bytes, tmp_path: Path
) -> None:
    """A writer killed within a flush after the objects and before the superblock (HDF5
    writes it last) leaves a superblock whose end of file is before those objects."""
    path = tmp_path / "run.h5"
    path.write_bytes(original)
    with h5py.File(path, "r") as f:
        end = h5py.h5o.get_info(f["t0003_test_psrr"].id).addr  # the last entry's header
    data = bytearray(original)
    struct.pack_into("<Q", data, 28, end)  # superblock version 2: end-of-file address
    struct.pack_into("<I", data, 44, lookup3(bytes(data[:44])))  # and its checksum
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as f, pytest.raises((KeyError, OSError, RuntimeError)):
        f["t0003_test_psrr"].attrs["outcome"]  # libhdf5 alone cannot reach it
    with open_run(path, verify=False) as run:  # (the seal would say: changed since closed)
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
        assert len(run.tests[1].waveforms["vout_startup"].codes[...]) == POINTS


def test_a_flipped_schema_version_is_damage_not_a_newer_file(
    original: bytes, tmp_path: Path
) -> None:
    name = original.index(b"benchtest_schema_version")
    value = original.index(struct.pack("<q", 3), name)  # the attribute's value, after its name
    data = bytearray(original)
    data[value] ^= 0x04  # 3 -> 7
    path = tmp_path / "run.h5"
    path.write_bytes(bytes(data))
    with pytest.raises(ResultFileError, match=r"damaged: .*nothing is readable") as caught:
        open_run(path)  # whatever HDF5 makes of it, never "newer: upgrade benchtest"
    assert "upgrade" not in str(caught.value)


@pytest.mark.parametrize("version", ["three", 2.5, 0, True])
def test_a_schema_version_that_is_no_version_is_damage_read_by_layout(
    tmp_path: Path, version: object
) -> None:
    path = _passed_run(tmp_path / "run.h5")
    with open_run(path) as run:
        outcomes = [t.outcome for t in run.tests]
    with h5py.File(path, "r+") as f:  # breaks the seal too: changed since the run closed
        f.attrs["benchtest_schema_version"] = version
    with open_run(path) as run:
        assert run.damaged
        assert any(
            f"@benchtest_schema_version reads {version!r}); read as schema 3" in d
            for d in run.damage
        ), run.damage
        assert [t.outcome for t in run.tests] == outcomes  # read all the same
    assert "upgrade" not in " ".join(run.problems)


def test_a_finished_run_killed_before_its_seal_reads_whole_and_says_so(
    original: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "run.h5"
    path.write_bytes(original)
    with h5py.File(path, "r") as f:
        seal = f["summary/seal"].id.get_offset()
    with path.open("r+b") as raw:  # as the writer leaves it when killed before sealing
        raw.seek(seal)
        raw.write(bytes(SEAL_BYTES))
    with open_run(path) as run:
        assert not run.damaged and run.outcome != "damaged"
        assert run.problems == [
            f"{path}: not sealed: the run finished, but its writer was stopped before it "
            "sealed the file (killed while closing it); what it holds cannot be checked "
            "against a seal"
        ]
        unsealed = ([t.id for t in run.tests], len(run.measurements), run.outcome)
    intact = tmp_path / "intact.h5"
    intact.write_bytes(original)
    with open_run(intact) as run:
        assert unsealed == ([t.id for t in run.tests], len(run.measurements), run.outcome)
        assert run.problems == []
    status, _, _ = _report(path)
    assert status == 0
