"""Writing a 1-D dataset whole chunks at a time, its chunks compressed in parallel threads.

h5py compresses a dataset's chunks one after the other, in the thread that writes, holding
its lock. For the filters this module knows, the chunks are instead compressed by the same
library HDF5's filter calls (Blosc, from hdf5plugin's own plugin), in worker threads that
release the GIL, and written as they are ready with `write_direct_chunk`: the bytes stored are
the ones HDF5's filter would have stored (the same library, parameters and buffer size; a
chunk that does not compress is stored unfiltered, as the optional filter leaves it), so any
HDF5 reader with the filter reads the dataset as before. Datasets with another filter
pipeline, or fewer than two chunks, or a machine with no free core, are written through h5py.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

#: HDF5 filter id of Blosc (hdf5plugin's `Blosc`).
BLOSC_FILTER = 32001
#: Most threads compressing one dataset's chunks.
MAX_WORKERS = 4
_LOADAVG = "/proc/loadavg"
#: What the filter stores for a chunk left uncompressed: the mask that skips filter 0.
_SKIP_FIRST_FILTER = 1

Encoder = Callable[[npt.NDArray[Any]], bytes | None]


def workers() -> int:
    """Threads that compress chunks: the cores this process may use that are free, at most
    MAX_WORKERS. Busy cores are the threads running at this moment (Linux: /proc/loadavg,
    this one among them), else the load average of the last minute (one of it this
    process), which lags: a burst of work that just ended still counts. On a machine whose
    cores are all taken, threads only add their own cost (measured: ~2 ms of CPU more for
    10 M samples), so one thread writes, through h5py."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - no sched_getaffinity (macOS, Windows)
        cores = os.cpu_count() or 1
    running = _running_now()
    if running is not None:
        free = cores - running + 1
    else:  # pragma: no cover - no /proc (macOS, Windows)
        try:
            free = round(cores - os.getloadavg()[0]) + 1
        except (AttributeError, OSError):  # no load average (Windows)
            free = cores
    return max(1, min(cores, free, MAX_WORKERS))


def _running_now() -> int | None:
    """Threads running or ready to run on the machine now, the caller included (the fourth
    field of /proc/loadavg, "running/total"); None where it cannot be read."""
    try:
        with open(_LOADAVG, "rb") as loadavg:
            return int(loadavg.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def write_chunked(dataset: h5py.Dataset, data: npt.ArrayLike) -> None:
    """Write all of `data` into the 1-D chunked `dataset` (same length), whole chunks at a
    time, compressing them in parallel where the filter allows (see the module docstring)."""
    array = np.ascontiguousarray(data, dtype=dataset.dtype)
    if array.shape != dataset.shape or array.ndim != 1:
        raise ValueError(
            f"{dataset.name}: {array.shape} values for a dataset of shape {dataset.shape}"
        )
    chunk = dataset.chunks[0] if dataset.chunks else 0
    threads = workers()
    encode = _encoder(dataset) if chunk and len(array) > chunk and threads > 1 else None
    if encode is None:
        if len(array):  # h5py's `dataset[...] = array` spends ~80 us more choosing selections
            dataset.id.write(h5py.h5s.ALL, h5py.h5s.ALL, array)
        return
    pieces = list(_chunks(array, chunk, dataset.fillvalue))
    # All chunks are compressed before any is written: HDF5 writes holding the GIL (its file
    # driver may be Python code), which the threads need between two chunks.
    with ThreadPoolExecutor(threads, thread_name_prefix="benchtest-compress") as pool:
        encoded = list(pool.map(encode, [piece for _, piece in pieces]))
    for (start, piece), stored in zip(pieces, encoded, strict=True):
        if stored is None:  # did not compress: stored as it is, the filter skipped
            dataset.id.write_direct_chunk((start,), piece.data, _SKIP_FIRST_FILTER)
        else:
            dataset.id.write_direct_chunk((start,), stored, 0)


def _chunks(
    array: npt.NDArray[Any], chunk: int, fill: Any
) -> Iterator[tuple[int, npt.NDArray[Any]]]:
    """(first index, values) of each chunk; the last one padded with the fill value to a
    whole chunk, as HDF5 hands a partial chunk to its filters."""
    for start in range(0, len(array), chunk):
        piece = array[start : start + chunk]
        if len(piece) < chunk:
            padded = np.full(chunk, fill, dtype=array.dtype)
            padded[: len(piece)] = piece
            piece = padded
        yield start, piece


def _encoder(dataset: h5py.Dataset) -> Encoder | None:
    """What compresses one chunk of `dataset` as its filter pipeline would, or None when this
    module does not know the pipeline."""
    plist = dataset.id.get_create_plist()
    if plist.get_nfilters() != 1:
        return None
    filter_id, _flags, values, _name = plist.get_filter(0)
    if filter_id != BLOSC_FILTER:
        return None
    return _blosc_encoder(tuple(values))


def _blosc_encoder(values: tuple[int, ...]) -> Encoder | None:
    """hdf5plugin's Blosc filter, with its parameters as HDF5 set them for the dataset
    (`cd_values`: filter revision, Blosc version, type size, chunk bytes, level, shuffle,
    compressor code)."""
    library = _blosc_library()
    if library is None or len(values) < 7:
        return None
    typesize, chunk_bytes, level, shuffle, code = values[2:7]
    name = ctypes.c_char_p()
    if library.blosc_compcode_to_compname(code, ctypes.byref(name)) < 0 or not name.value:
        return None
    compressor = name.value

    buffers = threading.local()  # one output buffer per thread, reused chunk after chunk

    def encode(piece: npt.NDArray[Any]) -> bytes | None:
        # As the filter: room for as many bytes as the chunk has; a longer result is 0.
        target = getattr(buffers, "target", None)
        if target is None or len(target) < piece.nbytes:
            target = buffers.target = (ctypes.c_char * piece.nbytes)()
        size = library.blosc_compress_ctx(
            level, shuffle, typesize, piece.nbytes, piece.ctypes.data,
            target, piece.nbytes, compressor, 0, 1,
        )  # fmt: skip
        if size < 0:
            raise OSError(f"Blosc could not compress a chunk ({compressor.decode()}: {size})")
        return ctypes.string_at(target, size) if size else None

    return encode if chunk_bytes else None


@functools.cache
def _blosc_library() -> Any:
    """hdf5plugin's Blosc filter plugin, loaded for its Blosc functions; None when hdf5plugin
    or the plugin is missing or lacks the context API (then h5py writes, as before)."""
    with contextlib.suppress(ImportError, OSError, AttributeError):
        import hdf5plugin

        for path in sorted(Path(hdf5plugin.PLUGIN_PATH).glob("*h5blosc.*")):
            library = ctypes.CDLL(str(path))
            compress = library.blosc_compress_ctx
            compress.restype = ctypes.c_int
            compress.argtypes = [
                ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t,
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p,
                ctypes.c_size_t, ctypes.c_int,
            ]  # fmt: skip
            name = library.blosc_compcode_to_compname
            name.restype = ctypes.c_int
            name.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
            return library
    return None
