"""Scalar values and collections (a waveform's settings) as `storage.nexus` writes them: the
datasets h5py's `create_dataset` would make, stored compact, and JSON for anything else."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.storage.nexus import write_collection, write_value

SCALARS: dict[str, object] = {
    "float": 3.3,
    "int": 7,
    "negative": -12,
    "bool": True,
    "numpy_bool": np.bool_(False),
    "float32": np.float32(1.5),
    "uint8": np.uint8(3),
    "int16": np.int16(-5),
    "nan": float("nan"),
    "text": "héllo, wörld",
    "empty_text": "",
}


def test_scalars_are_the_datasets_h5py_makes_stored_compact(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "values.h5", "w") as f:
        write_collection(f, "settings", SCALARS)
        reference = f.create_group("reference")
        for name, value in SCALARS.items():
            reference.create_dataset(name, data=value)
    with h5py.File(tmp_path / "values.h5", "r") as f:
        assert list(f["settings"]) == list(SCALARS)  # in the order given
        assert f["settings"].attrs["NX_class"] == "NXcollection"
        for name in SCALARS:
            ours, theirs = f["settings"][name], f["reference"][name]
            assert ours.shape == theirs.shape == ()
            assert ours.dtype == theirs.dtype, name
            assert ours.id.get_type().equal(theirs.id.get_type()), name
            np.testing.assert_array_equal(ours[()], theirs[()])
            assert ours.id.get_create_plist().get_layout() == h5py.h5d.COMPACT
            assert not ours.attrs.keys()


def test_what_is_no_plain_number_or_text_is_stored_as_json(tmp_path: Path) -> None:
    values = {
        "huge": 2**70,
        "mapping": {"a": 1, "b": [1.5, None]},
        "words": ["x", "y"],
        "garbled": "NORM\0\x01",  # a reply with a NUL: HDF5 text cannot hold it
    }
    with h5py.File(tmp_path / "values.h5", "w") as f:
        group = f.create_group("g")
        for name, value in values.items():
            write_value(group, name, value)
    with h5py.File(tmp_path / "values.h5", "r") as f:
        for name, value in values.items():
            dataset = f["g"][name]
            assert dataset.attrs["encoding"] == "json"
            assert json.loads(dataset.asstr()[()]) == value


def test_a_numeric_list_is_an_array(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "values.h5", "w") as f:
        write_value(f, "points", [1, 2, 3])
        write_value(f, "levels", np.array([0.5, 1.5]))
        np.testing.assert_array_equal(f["points"][...], [1, 2, 3])
        assert f["levels"].dtype == np.float64


def test_a_key_that_had_to_be_sanitised_keeps_its_spelling(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "values.h5", "w") as f:
        write_collection(f, "settings", {"time/div": 1e-3, "time_div": 2e-3})
        group = f["settings"]
        assert group["time_div"].attrs["original_name"] == "time/div"
        assert group["time_div_2"][()] == pytest.approx(2e-3)
        assert group["time_div_2"].attrs["original_name"] == "time_div"


def test_settings_read_back_as_recorded(tmp_path: Path) -> None:
    from benchtest.results import open_run
    from benchtest.storage import Hdf5RunWriter
    from benchtest.storage.example import run_started
    from benchtest.values.events import (
        RunFinished,
        TestFinished,
        TestStarted,
        WaveformRecorded,
        utc_now,
    )
    from benchtest.values.waveform import Waveform

    settings = {
        "mode": "NORM\0\x01",
        "huge": 2**70,
        "scale": np.float32(1.5),
        "on": np.bool_(True),
        "gain": np.int16(-3),
        "label": "é" * 40_000,  # longer than a compact dataset's 64 KiB, as UTF-8
        "levels": [1.0, 2.0],
        "nested": {"a": [1, None]},
        "time/div": 1e-3,
    }
    wf = Waveform(np.arange(100, dtype=np.int16), dt=1e-6, scale=0.01, settings=settings)
    path = tmp_path / "run.h5"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(TestStarted("t.py::test_a", utc_now(), {}, attempt=1))
        writer(WaveformRecorded("t.py::test_a", "vout", wf, ""))
        writer(TestFinished("t.py::test_a", "passed", utc_now(), 0.1, "", attempt=1))
        writer(RunFinished(utc_now(), "passed"))
    run = open_run(path)
    assert run.problems == []
    read = run.tests[0].waveforms["vout"].settings
    assert read == {**settings, "scale": 1.5, "on": True, "gain": -3}
