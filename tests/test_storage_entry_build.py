"""Entries built at close with libhdf5's functions called directly, and the commit layer's
bookkeeping of the thousands of small blocks HDF5 writes while it flushes them.

The entries must be what h5py writes where those functions cannot be had (the same attribute
texts read back as `str`, the same tables), whether a template serves one entry or thousands,
and when the memory file of templates is started over in the middle of a block of tests.
"""

from __future__ import annotations

import ctypes
import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from benchtest.runfile.seal import REGION_STEP
from benchtest.storage import Hdf5RunWriter, entries, lowlevel
from benchtest.storage.committed_file import NOTE_CRC_BYTES, CommittedFile
from benchtest.storage.example import run_started
from benchtest.values.events import MeasurementRecorded, RunFinished
from benchtest.values.events import TestFinished as Finished  # pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement

T0 = "2026-11-28T15:43:00+00:00"
# outcome, rows, message: passing tests of one row (one template for all), others with a
# message in UTF-8, no rows, several rows, and a table too large to be compact.
CASES = [("passed", 1, "")] * 5 + [
    ("failed", 2, "vout 3.9 V > 3.6 V ü"),
    ("skipped", 0, "no chamber"),
    ("error", 600, "ÄÖ\ttab"),
    ("passed", 3, ""),
]


def _events() -> list[Any]:
    """A run's events (made once: a measurement is stamped with the time it is made)."""
    events: list[Any] = [run_started()]
    for i, (outcome, rows, message) in enumerate(CASES * 2):
        test_id = f"plan.py::test_µ[{i}]"
        events.append(Started(test_id, T0, {"vin": 3.0 + i}))
        for j in range(rows):
            m = Measurement.judge(f"v{j}", i + j / 8, "V", Limits(None, 5.0, "V"))
            events.append(MeasurementRecorded(test_id, m))
        events.append(Finished(test_id, outcome, T0, 0.1, message))
    return [*events, RunFinished(T0, "failed")]


def _write_run(path: Path, events: list[Any]) -> None:
    with Hdf5RunWriter(path, sync="never") as writer:
        for event in events:
            writer(event)


def _entries(path: Path) -> dict[str, tuple[dict[str, Any], bytes, int]]:
    """Each entry's attributes (as h5py reads them), table bytes and whether its table
    records times."""
    found = {}
    with h5py.File(path, "r") as f:
        for name in f:
            if f[name].attrs.get("NX_class") == "NXentry":
                table = f[name]["measurements"]
                times = table.id.get_create_plist().get_obj_track_times()
                found[name] = (dict(f[name].attrs), table[...].tobytes(), times)
    return found


def _no_library(name: str) -> None:
    raise OSError(f"{name}: cannot open shared object file")


def test_entries_written_through_libhdf5_are_those_h5py_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entries, "RENEW_ENTRIES", 4)  # templates started over mid-block
    events = _events()
    _write_run(tmp_path / "direct.h5", events)
    direct = _entries(tmp_path / "direct.h5")
    assert len(direct) == len(CASES) * 2
    for k, (attrs, _table, times) in enumerate(direct[n] for n in sorted(direct)):
        outcome, _rows, message = CASES[k % len(CASES)]
        expected = {"NX_class": "NXentry", "test_id": f"plan.py::test_µ[{k}]"}
        expected["outcome"] = outcome
        if message:
            expected["message"] = message
        assert attrs == expected
        assert all(type(value) is str for value in attrs.values())
        assert times == 0  # as h5py creates datasets: nothing changes from run to run
    with monkeypatch.context() as patched:
        patched.setattr(entries, "DIRECT_ENTRIES", len(events))  # none from a template
        _write_run(tmp_path / "created.h5", events)
    created = _entries(tmp_path / "created.h5")
    assert created == direct
    assert [list(attrs) for attrs, _, _ in created.values()] == [
        list(attrs) for attrs, _, _ in direct.values()
    ]  # the attributes in the same order too
    lowlevel._library.cache_clear()
    monkeypatch.setattr(ctypes, "PyDLL", _no_library)
    try:  # where libhdf5's functions cannot be found, h5py writes
        assert not lowlevel.has_library()
        _write_run(tmp_path / "h5py.h5", events)
    finally:
        lowlevel._library.cache_clear()
    assert _entries(tmp_path / "h5py.h5") == direct


def test_a_run_of_one_test_creates_its_entry_without_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_templates() -> None:
        raise AssertionError("a template file was made for one entry")

    monkeypatch.setattr(entries, "_memory_file", no_templates)
    events = _events()
    one = [*events[:4], events[-1]]  # started, one measurement, finished
    _write_run(tmp_path / "one.h5", one)
    ((attrs, table, _),) = _entries(tmp_path / "one.h5").values()
    assert attrs == {"NX_class": "NXentry", "outcome": "passed", "test_id": "plan.py::test_µ[0]"}
    assert len(table) > 0


@pytest.mark.parametrize("text", ["", "plan.py::test_x[ü-1]", "€" * 3000])
def test_a_text_attribute_written_directly_reads_back_as_written(tmp_path: Path, text: str) -> None:
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.attrs["test_id"] = "placeholder"
        attribute = h5py.h5a.open(f.id, b"test_id")
        lowlevel.write_text_attribute(attribute, text)
        assert f.attrs["test_id"] == text
        with pytest.raises(ValueError, match="NUL"):  # as h5py refuses it
            lowlevel.write_text_attribute(attribute, "a\0b")
        assert f.attrs["test_id"] == text


def test_a_refused_text_write_names_the_attribute(tmp_path: Path) -> None:
    if not lowlevel.has_library():
        pytest.skip("no direct H5Awrite on this platform")
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_group("entry").attrs["count"] = 1.0  # no conversion from text: refused
        attribute = h5py.h5a.open(f["entry"].id, b"count")
        with pytest.raises(RuntimeError, match="could not write 'x' into attribute /entry@count"):
            lowlevel.write_text_attribute(attribute, "x")
        assert f["entry"].attrs["count"] == 1.0


def test_a_refused_copy_raises_naming_both_objects(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_group("entry")
        lowlevel.copy_object(f.id, b"entry", f.id, b"copy")
        assert set(f) == {"entry", "copy"}
        with pytest.raises(RuntimeError, match="could not copy b'entry' to b'copy'"):
            lowlevel.copy_object(f.id, b"entry", f.id, b"copy")  # the name is taken


def _committed(tmp_path: Path, end: int) -> CommittedFile:
    path = tmp_path / "run.h5"
    path.write_bytes(bytes(end))
    return CommittedFile(path, deferred=True)


def test_new_blocks_below_the_last_noted_are_noted_in_order(tmp_path: Path) -> None:
    """As at close: a table's new chunk first, then thousands of object headers one after
    another in the free space below it, and one of them written again."""
    committed = _committed(tmp_path, 4096)
    committed.seek(2_000_000)
    committed.write(b"c" * 3000)  # the chunk, noted first
    model = {2_000_000: b"c" * 3000}
    at = 4096
    for k in range(2000):
        block = bytes([k % 251]) * (300 + k % 30)
        committed.seek(at)
        committed.write(block)
        model[at] = block
        at += len(block)
    rewritten = sorted(model)[700]
    committed.seek(rewritten)
    committed.write(b"r" * len(model[rewritten]))
    model[rewritten] = b"r" * len(model[rewritten])
    expected = [(offset, len(data), zlib.crc32(data)) for offset, data in sorted(model.items())]
    assert committed._dependencies == expected
    committed.discard()
    committed.close()


def test_a_block_past_the_end_of_a_shortened_last_one_is_noted_once(tmp_path: Path) -> None:
    """The last block rewritten shorter, then a block from below its former end to past it,
    then one written over that: each place is noted once, as last written."""
    committed = _committed(tmp_path, 100)
    for offset, data in ((100, b"a" * 100), (150, b"b" * 10), (170, b"c" * 80), (210, b"d" * 10)):
        committed.seek(offset)
        committed.write(data)
    assert committed._dependencies == [
        (150, 10, zlib.crc32(b"b" * 10)),
        (210, 10, zlib.crc32(b"d" * 10)),
    ]
    committed.discard()
    committed.close()


def test_blocks_written_one_after_another_among_rewrites_are_noted_as_last_written(
    tmp_path: Path,
) -> None:
    """Runs of blocks one after another (as HDF5 flushes object headers), started anywhere,
    among rewrites of earlier blocks, shorter or longer: the dependencies are the last block
    written at each place, as a plain list would note them."""
    import random

    committed = _committed(tmp_path, 1000)
    rng = random.Random(11)
    model: list[tuple[int, int, int]] = []
    at = 1000
    for _ in range(4000):
        draw = rng.random()
        if draw < 0.1:  # a run starts anywhere past the committed end
            at = rng.randrange(1000, 400_000)
        elif draw < 0.2 and model:  # an earlier block rewritten, maybe shorter or longer
            at = rng.choice(model)[0]
        data = rng.randbytes(rng.randrange(1, 400))
        committed.seek(at)
        committed.write(data)
        stop = at + len(data)
        model = [d for d in model if d[0] + d[1] <= at or d[0] >= stop]
        model.append((at, len(data), zlib.crc32(data)))
        at = stop
    assert committed._dependencies == sorted(model)
    committed.discard()
    committed.close()


def test_a_small_write_forgets_the_noted_region_it_reaches_into(tmp_path: Path) -> None:
    committed = _committed(tmp_path, 4 * REGION_STEP)
    committed.seek(4 * REGION_STEP)
    committed.write(bytes(range(256)) * (2 * NOTE_CRC_BYTES // 256))  # regions 4 to 19 noted
    committed.seek(2 * REGION_STEP - 8)
    committed.write(bytes(REGION_STEP))  # regions 1 and 2, none of them noted
    committed.seek(6 * REGION_STEP - 8)
    committed.write(b"across 5 and 6")  # from a noted region into the next one
    committed.seek(4 * REGION_STEP - 3)
    committed.write(b"into 4")  # from region 3, never noted, into region 4
    assert set(range(4, 20)) - committed.region_crcs().keys() == {4, 5, 6}
    committed.close()
    data = committed.path.read_bytes()
    for k, crc in committed.region_crcs().items():
        assert zlib.crc32(data[k * REGION_STEP : (k + 1) * REGION_STEP]) == crc


def test_write_from_refuses_a_type_hdf5_cannot_convert(tmp_path: Path) -> None:
    if not lowlevel.has_library():
        pytest.skip("no direct H5Dwrite on this platform")
    rows = np.zeros(2, dtype=[("value", "<f8")])
    with h5py.File(tmp_path / "w.h5", "w") as f:
        file_type = h5py.h5t.py_create(rows.dtype, logical=True)
        dataset = h5py.h5d.create(f.id, b"rows", file_type, h5py.h5s.create_simple((2,)))
        lowlevel.write_from(dataset, file_type, rows.ctypes.data, 2)
        text = h5py.h5t.C_S1.copy()  # no conversion from text to float64: refused
        with pytest.raises(RuntimeError, match=r"could not write dataset .* \(2 elements\)"):
            lowlevel.write_from(dataset, text, rows.ctypes.data, 2)
