"""Compression: the portable default, the fast plugin codec, repacking, and a reader without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.results import open_run
from benchtest.storage import Hdf5RunWriter, repack, repack_command
from benchtest.storage.example import example_events, startup_waveform, write_example_run
from benchtest.values.errors import ResultFileError

pytest.importorskip("hdf5plugin")
BLOSC = 32001
WAVE = "t0001_test_iq_sleep_/vout_startup"


def _filters(dataset: h5py.Dataset) -> list[int]:
    plist = dataset.id.get_create_plist()
    return [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]


@pytest.fixture
def fast_file(tmp_path: Path) -> Path:
    path = tmp_path / "fast.h5"
    with Hdf5RunWriter(path, compression="fast") as writer:
        for event in example_events(points=5000):
            writer(event)
    return path


def test_default_is_gzip_with_shuffle_everywhere(tmp_path: Path) -> None:
    path = write_example_run(tmp_path / "run.h5", points=5000)
    with h5py.File(path, "r") as f:
        assert f.attrs["compression"] == "gzip"
        for name in ("codes", "voltage", "time"):
            assert _filters(f[f"{WAVE}/{name}"]) == [2, 1]  # shuffle, deflate


def test_fast_codec_is_recorded_and_reads_back(fast_file: Path) -> None:
    with h5py.File(fast_file, "r") as f:
        assert f.attrs["compression"] == "blosc-lz4-bitshuffle"
        assert _filters(f[f"{WAVE}/codes"]) == [BLOSC]
    with open_run(fast_file) as run:
        codes = run.tests[0].waveforms["vout_startup"].codes[...]
    np.testing.assert_array_equal(codes, startup_waveform(5000).samples)


def test_repack_rewrites_plugin_datasets_with_gzip(fast_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "portable.h5"
    assert repack(fast_file, target) == 6  # codes, voltage, time of two waveforms
    with h5py.File(target, "r") as f:
        assert f.attrs["compression"] == "gzip"
        assert _filters(f[f"{WAVE}/codes"]) == [2, 1]
        assert f["t0002_test_iq_active_"].attrs["outcome"] == "failed"
    with open_run(target) as run:
        assert [t.outcome for t in run.tests] == ["passed", "failed", "skipped"]
        codes = run.tests[0].waveforms["vout_startup"].codes[...]
    np.testing.assert_array_equal(codes, startup_waveform(5000).samples)
    with pytest.raises(ResultFileError, match="never overwrites"):
        repack(fast_file, target)


def test_repack_command_names_its_output(
    fast_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert repack_command([str(fast_file)]) == 0
    assert "fast_portable.h5: written, 6 dataset(s) re-encoded" in capsys.readouterr().out
    assert repack_command([str(fast_file.with_name("missing.h5"))]) == 1


WITHOUT_PLUGIN = """
import sys
sys.modules["hdf5plugin"] = None  # as if it were not installed
from benchtest.values.errors import ResultFileError
from benchtest.results import open_run
with open_run(sys.argv[1]) as run:
    print([t.outcome for t in run.tests])
    print(run.problems[0])
    try:
        run.tests[0].waveforms["vout_startup"].codes[:10]
    except ResultFileError as exc:
        print(exc)
"""


def test_a_reader_without_hdf5plugin_reads_tables_and_names_the_plugin(fast_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PLUGIN, str(fast_file)],
        capture_output=True,
        text=True,
        check=True,
        env={"HDF5_PLUGIN_PATH": "/nonexistent", "PATH": ""},
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "['passed', 'failed', 'skipped']"
    assert "'hdf5plugin' package" in lines[1] and "pip install hdf5plugin" in lines[1]
    assert "Blosc (32001)" in lines[2] and "pip install hdf5plugin" in lines[2]
