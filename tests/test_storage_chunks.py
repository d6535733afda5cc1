"""Chunks compressed in parallel threads are the chunks HDF5's own filter would have stored."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from benchtest.runfile.codecs import FAST, GZIP
from benchtest.storage import chunks
from benchtest.storage.chunks import write_chunked

hdf5plugin = pytest.importorskip("hdf5plugin")

CHUNK = 4096


def _dataset(
    file: h5py.File, name: str, n: int, dtype: str, args: dict[str, object]
) -> h5py.Dataset:
    return file.create_dataset(name, shape=(n,), dtype=dtype, chunks=(CHUNK,), **args)


def _stored(dataset: h5py.Dataset) -> list[tuple[int, bytes]]:
    n = dataset.shape[0]
    return [dataset.id.read_direct_chunk((start,)) for start in range(0, n, CHUNK)]


@pytest.fixture(autouse=True)
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads as on a machine with two cores, whatever this one has."""
    monkeypatch.setattr(chunks, "workers", lambda: 2)


@pytest.mark.parametrize("dtype", ["int16", "int8", "float32"])
def test_parallel_blosc_chunks_are_the_bytes_hdf5s_filter_stores(
    tmp_path: Path, dtype: str
) -> None:
    rng = np.random.default_rng(3)
    n = 10 * CHUNK + 123  # a partial last chunk, padded as HDF5 pads it
    values = (np.sin(np.arange(n) / 50) * 100 + rng.normal(0, 2, n)).astype(dtype)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        by_hdf5 = _dataset(f, "hdf5", n, dtype, FAST.filter_args())
        by_hdf5[...] = values
        parallel = _dataset(f, "parallel", n, dtype, FAST.filter_args())
        write_chunked(parallel, values)
        assert _stored(parallel) == _stored(by_hdf5)
    with h5py.File(tmp_path / "f.h5", "r") as f:  # and stock h5py with hdf5plugin reads it
        np.testing.assert_array_equal(f["parallel"][...], values)


def test_a_chunk_that_does_not_compress_is_stored_unfiltered_as_the_filter_leaves_it(
    tmp_path: Path,
) -> None:
    noise = np.random.default_rng(5).integers(-(2**15), 2**15, 3 * CHUNK).astype(np.int16)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        by_hdf5 = _dataset(f, "hdf5", len(noise), "int16", FAST.filter_args())
        by_hdf5[...] = noise
        parallel = _dataset(f, "parallel", len(noise), "int16", FAST.filter_args())
        write_chunked(parallel, noise)
        assert _stored(parallel) == _stored(by_hdf5)
        np.testing.assert_array_equal(parallel[...], noise)


def test_other_filters_and_single_chunks_are_written_by_h5py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = np.arange(3 * CHUNK, dtype=np.int16)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        gzip = _dataset(f, "gzip", len(values), "int16", GZIP.filter_args())
        write_chunked(gzip, values)
        np.testing.assert_array_equal(gzip[...], values)
        one = f.create_dataset(
            "one", shape=(100,), dtype="int16", chunks=(100,), **FAST.filter_args()
        )
        write_chunked(one, values[:100])
        np.testing.assert_array_equal(one[...], values[:100])
        monkeypatch.setattr(chunks, "workers", lambda: 1)  # one core: h5py writes
        serial = _dataset(f, "serial", len(values), "int16", FAST.filter_args())
        write_chunked(serial, values)
        np.testing.assert_array_equal(serial[...], values)


def test_values_of_another_length_are_refused_naming_the_dataset(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "f.h5", "w") as f:
        dataset = _dataset(f, "codes", 2 * CHUNK, "int16", FAST.filter_args())
        with pytest.raises(ValueError, match="/codes"):
            write_chunked(dataset, np.zeros(CHUNK, dtype=np.int16))


@pytest.mark.parametrize(("load", "expected"), [(0.2, 2), (1.3, 2), (1.6, 1), (7.9, 1)])
def test_threads_are_the_cores_the_load_leaves_free(
    monkeypatch: pytest.MonkeyPatch, load: float, expected: int
) -> None:
    monkeypatch.undo()  # the real `workers`, on a machine of two cores at this load
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load), raising=False)
    monkeypatch.setattr(chunks, "_LOADAVG", "/nonexistent/loadavg")  # as where there is none
    assert chunks.workers() == expected


@pytest.mark.parametrize(
    ("loadavg", "expected"),
    [
        (b"1.90 1.50 1.20 1/120 4242\n", 2),  # only this thread runs now: a burst just ended
        (b"0.10 0.20 0.20 2/120 4242\n", 1),  # another thread runs now
        (b"0.10 0.20 0.20 7/120 4242\n", 1),
    ],
)
def test_threads_are_the_cores_free_at_this_moment_where_linux_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loadavg: bytes, expected: int
) -> None:
    monkeypatch.undo()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    (tmp_path / "loadavg").write_bytes(loadavg)
    monkeypatch.setattr(chunks, "_LOADAVG", str(tmp_path / "loadavg"))
    assert chunks.workers() == expected
