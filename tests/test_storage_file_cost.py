"""What makes a run file cheap to write, checked for what it must still store.

The seal's CRCs are read in large steps and computed with zlib-ng; every run file starts as a
copy of one skeleton image per process; attributes and text are written through the low-level
API; waveforms are written without a chunk cache; `sync="never"` fsyncs nothing. Each must
leave the file as it was: the same CRCs as plain zlib, the same attribute types as h5py's
`attrs`, the same samples, and no state carried from one run file to the next.
"""

from __future__ import annotations

import dataclasses
import zlib
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.runfile import schema, seal
from benchtest.runfile.codecs import GZIP
from benchtest.runfile.seal import SEAL_BYTES, region_crcs
from benchtest.storage import Hdf5RunWriter, finalize, hdf5_writer
from benchtest.storage.example import run_started
from benchtest.storage.header import create_run_file, skeleton, write_header
from benchtest.storage.lowlevel import AttrValue, rewrite_attrs, rewrite_text, set_attrs, write_text
from benchtest.storage.nexus import chunk_points
from benchtest.values.events import (
    InstrumentIdentified,
    RunFinished,
    WaveformRecorded,
)
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.waveform import Waveform

T0 = "2026-11-28T15:43:00+00:00"
TEST = "plan.py::test_capture"


def _plain_crcs(data: bytes, offset: int, length: int, region: int) -> list[int]:
    """What the seal must hold: zlib's CRC-32 of each region, the seal's bytes as zeros."""
    copy = bytearray(data[:length])
    stop = min(offset + SEAL_BYTES, len(copy))
    copy[offset:stop] = bytes(max(0, stop - offset))
    return [zlib.crc32(copy[start : start + region]) for start in range(0, length, region)]


@pytest.mark.parametrize("read_bytes", [4096, 3 * 4096, 1 << 20])
def test_region_crcs_are_zlib_crcs_whatever_the_read_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_bytes: int
) -> None:
    monkeypatch.setattr(seal, "READ_BYTES", read_bytes)
    data = np.random.default_rng(5).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    for offset in (0, 4000, 90_000):  # the seal at the start, across regions, near the end
        expected = _plain_crcs(data, offset, len(data), 4096)
        assert region_crcs(path, offset, len(data), 4096) == expected


@pytest.mark.parametrize("offset", [0, 4000, 8190, 40_960, 95_000])
def test_a_seal_holds_zlib_crcs_wherever_it_is(tmp_path: Path, offset: int) -> None:
    data = np.random.default_rng(6).integers(0, 256, 100_001, dtype=np.uint8).tobytes()
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    expected = _plain_crcs(data, offset, len(data), 4096)
    seal.seal_file(path, offset, sync=False)  # the seal's own bytes still count as zeros
    written = seal.read_seal_at(path, offset)
    assert written is not None and list(written.crcs) == expected
    assert seal.changed_regions(path, written) == []


def test_region_crcs_of_a_shortened_file_count_missing_bytes_as_absent(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100  # 25 600 bytes
    path = tmp_path / "file.bin"
    path.write_bytes(data[:10_000])
    crcs = region_crcs(path, 20_000, len(data), 4096)
    assert len(crcs) == 7  # one per region of the sealed length, missing ones included
    assert crcs[:2] == [zlib.crc32(data[0:4096]), zlib.crc32(data[4096:8192])]
    assert crcs[2] == zlib.crc32(data[8192:10_000])  # the region cut short: what is left
    assert crcs[3:] == [0, 0, 0, 0]  # regions past the end: the CRC of no bytes


def _run(path: Path, *, sync: str = "background", run_id: str = "R1", **extra: object) -> None:
    with Hdf5RunWriter(path, compression="fast", sync=sync) as writer:  # type: ignore[arg-type]
        writer(run_started(run_id))
        writer(InstrumentIdentified("smu", "keithley.k2450", "TCPIP::x", "KEITHLEY,2450"))
        writer(Started(TEST, T0))
        for name, waveform in extra.items():
            assert isinstance(waveform, Waveform)
            writer(WaveformRecorded(TEST, name, waveform))
        writer(Finished(TEST, "passed", T0, 1.0))
        writer(RunFinished(T0, "passed"))


def test_run_files_from_one_skeleton_share_nothing_but_their_layout(tmp_path: Path) -> None:
    image = skeleton()
    first, second = tmp_path / "first.h5", tmp_path / "second.h5"
    _run(first, run_id="R1")
    _run(second, run_id="R2")
    assert skeleton() is image  # built once per process
    for path, run_id in ((first, "R1"), (second, "R2")):
        with h5py.File(path, "r") as f:
            assert f.attrs["run_id"] == run_id
            assert len(f["run_info/instruments"]) == 1  # each file its own rows, no more
            assert len(f["summary/tests"]) == 1
            assert f.attrs["outcome"] == "passed" and f.attrs["end_time"] == T0
        with open_run(path) as run:
            assert not run.damage and [t.outcome for t in run.tests] == ["passed"]
    with h5py.File(first, "r") as f, h5py.File(second, "r") as g:
        offsets = [
            (f[f"summary/{name}"].id.get_offset(), g[f"summary/{name}"].id.get_offset())
            for name in (schema.JOURNAL, schema.SEAL)
        ]
    assert all(a == b for a, b in offsets)  # the skeleton's fixed places


def test_a_run_with_a_plans_manifest_gets_the_skeleton_that_has_its_place(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    started = dataclasses.replace(
        run_started(), plans_manifest="abc123  plans/test_ldo.py\n", plans_sha256="f00d"
    )
    with Hdf5RunWriter(path) as writer:
        writer(started)
        writer(RunFinished(T0, "passed"))
    with h5py.File(path, "r") as f:
        info = f["run_info"]
        assert list(info) == [
            "bench_file", "dut_profile", "plans_manifest", "instruments", "safe_state_log"
        ]  # fmt: skip
        assert info["plans_manifest"].asstr()[()] == "abc123  plans/test_ldo.py\n"
        assert info["plans_manifest"].attrs["sha256"] == "f00d"
        assert f.attrs["plans_sha256"] == "f00d"
    with pytest.raises(ValueError, match="skeleton does not match the run"):
        create_run_file(tmp_path / "other.h5", partial(write_header, event=started, codec=GZIP),
                        sync=False, manifest=False)  # fmt: skip
    assert not (tmp_path / "other.h5").exists()
    assert not (tmp_path / ".other.h5.creating").exists()


def test_rewriting_needs_the_placeholder_and_its_type(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "attrs.h5", "w") as f:
        set_attrs(f, {"text": "", "flag": np.bool_(False)})
        write_text(f, "title", "", unit="")
        rewrite_attrs(f, {"text": "now written", "flag": np.bool_(True)})
        rewrite_text(f, "title", "a waveform", unit="V")
        assert f.attrs["text"] == "now written" and f.attrs["flag"]
        assert f["title"].asstr()[()] == "a waveform" and f["title"].attrs["unit"] == "V"
        with pytest.raises(KeyError):
            rewrite_attrs(f, {"missing": "x"})
        with pytest.raises(KeyError):
            rewrite_text(f, "missing", "x")


def test_root_attributes_have_the_types_h5py_would_give_them(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    _run(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a.get_id("plans_dirty").dtype == np.dtype(bool) and a["plans_dirty"]
        assert a.get_id("benchtest_schema_version").dtype == np.int64
        assert a["benchtest_schema_version"] == schema.SCHEMA_VERSION
        assert a.get_id("skipped").dtype == np.int64
        for name in ("creator", "run_id", "file_time", "compression", "part", "outcome"):
            assert h5py.check_string_dtype(a.get_id(name).dtype).encoding == "utf-8", name
        assert a["compression"] == "blosc-lz4-bitshuffle"
        info = f["run_info"]
        assert list(info) == ["bench_file", "dut_profile", "instruments", "safe_state_log"]
        assert info.attrs["NX_class"] == "NXcollection"
        assert "schema_version: 1" in info["bench_file"].asstr()[()]
        assert info["bench_file"].attrs["path"] == "benches/sim.yaml"


def test_low_level_attributes_match_h5py_attrs(tmp_path: Path) -> None:
    values: dict[str, AttrValue] = {
        "text": "µs and volts",
        "flag": np.bool_(True),
        "count": np.int64(7),
        "small": np.int16(-3),
        "python_int": 12,
        "python_float": 0.25,
        "python_bool": False,
        "scale": np.float64(1e-3),
        "axes": ["time"],
    }
    with h5py.File(tmp_path / "attrs.h5", "w") as f:
        ours, theirs = f.create_group("ours"), f.create_group("theirs")
        set_attrs(ours, values)
        theirs.attrs.update(values)
        write_text(f, "title", "a waveform", unit="V")
        f.create_dataset("title_h5py", data="a waveform", dtype=h5py.string_dtype("utf-8"))
        for name in values:
            assert ours.attrs.get_id(name).dtype == theirs.attrs.get_id(name).dtype, name
            assert ours.attrs.get_id(name).shape == theirs.attrs.get_id(name).shape, name
            np.testing.assert_array_equal(ours.attrs[name], theirs.attrs[name])
        assert f["title"].dtype == f["title_h5py"].dtype and f["title"].shape == ()
        assert f["title"].asstr()[()] == "a waveform" and f["title"].attrs["unit"] == "V"


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, None, np.array([1.0, 2.0]), ["a", 3]])
def test_low_level_attributes_refuse_what_they_cannot_store(tmp_path: Path, value: object) -> None:
    with h5py.File(tmp_path / "attrs.h5", "w") as f:
        with pytest.raises(TypeError, match="attribute 'bad'"):
            set_attrs(f, {"bad": value})  # type: ignore[dict-item]
        assert "bad" not in f.attrs


@pytest.mark.parametrize(
    "samples",
    [
        np.arange(-1000, 1000, dtype=np.int16).repeat(1500),  # 3 M points: codes only
        np.arange(300_001, dtype=np.int32) % 4096,  # not a whole number of chunks
        (np.arange(2_500_001) % 251).astype(np.uint8),  # 1-byte codes, bigger chunks
        np.linspace(-1.0, 1.0, 100_000, dtype=np.float32),  # physical values as delivered
    ],
    ids=["int16-long", "int32-partial-chunk", "uint8-long", "float32"],
)
def test_waveforms_written_without_chunk_cache_read_back_exactly(
    tmp_path: Path, samples: np.ndarray
) -> None:
    path = tmp_path / "run.h5"
    scale = 1.0 if samples.dtype.kind == "f" else 1e-3
    _run(path, ch1=Waveform(samples, dt=1e-6, scale=scale))
    with open_run(path) as run:
        np.testing.assert_array_equal(run.tests[0].waveforms["ch1"].codes[...], samples)
    with h5py.File(path, "r") as f:
        entry = f[f.attrs["default"]]
        group = entry[entry.attrs["default"]]
        dataset = group[group.attrs["signal"]] if samples.dtype.kind == "f" else group["codes"]
        assert dataset.chunks == (chunk_points(samples.dtype, len(samples)),)
        assert dataset.id.get_create_plist().get_filter(0)[0] == 32001  # Blosc
        if len(samples) <= (1 << 20):  # the plot copies, written block by block
            expected = np.arange(len(samples)) * 1e-6
            np.testing.assert_allclose(group["time"][...], expected, rtol=0, atol=1e-12)
            volts = samples * scale
            np.testing.assert_allclose(group[group.attrs["signal"]][...], volts, rtol=1e-6)


@pytest.mark.parametrize(("sync", "synced"), [("never", False), ("background", True)])
def test_sync_never_does_not_fsync_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: str, synced: bool
) -> None:
    folders: list[Path] = []
    monkeypatch.setattr(hdf5_writer, "fsync_directory", folders.append)
    _run(tmp_path / "run.h5", sync=sync)
    assert folders == ([tmp_path] if synced else [])


@pytest.mark.parametrize("with_plain_test", [False, True])
def test_entries_are_built_at_close_only_for_tests_that_have_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_plain_test: bool
) -> None:
    calls: list[list[str]] = []
    build = finalize.build_entries

    def recording(file: h5py.File, parts: list[finalize.Appended]) -> None:
        if parts:
            calls.append([str(entry) for tests, _, _ in parts for entry in tests["entry"]])
        build(file, parts)

    def reading_back(*args: object, **kwargs: object) -> None:
        pytest.fail("the last batch's tests are built from their rows, not read back")

    monkeypatch.setattr(hdf5_writer, "build_entries", recording)
    monkeypatch.setattr(hdf5_writer, "build_missing_entries", reading_back)
    path = tmp_path / "run.h5"
    wave = Waveform(np.arange(1000, dtype=np.int16), dt=1e-6, scale=1e-3)
    with Hdf5RunWriter(path, compression="fast") as writer:
        writer(run_started())
        for k in range(3):
            test_id = f"plan.py::test_{k}"
            writer(Started(test_id, T0))
            if k or not with_plain_test:
                writer(WaveformRecorded(test_id, "ch1", wave))
            writer(Finished(test_id, "passed", T0, 1.0))
        writer(RunFinished(T0, "passed"))
    plain = [[schema.entry_name(1, "plan.py::test_0")]]
    assert calls == (plain if with_plain_test else [])  # @default: the first waveform's
    with h5py.File(path, "r") as f:
        entries = [name for name in f if name.startswith("t")]
        assert len(entries) == 3
        assert all(f[name].attrs["outcome"] == "passed" for name in entries)
        assert f.attrs["default"] == (entries[1] if with_plain_test else entries[0])
    with open_run(path) as run:
        assert not run.damage and len(run.tests) == 3
