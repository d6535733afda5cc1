"""Compression codecs of run files: portable gzip by default, a fast plugin codec on request.

`gzip` (level 1 + shuffle) is built into every HDF5 library, so any tool reads the file. `fast`
(Blosc LZ4 with bit-shuffle, HDF5 filter 32001) is about ten times faster but needs the
`hdf5plugin` package on every reader; the file records which one it uses in `@compression`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Final

import h5py

from benchtest.values.errors import ResultFileError

#: HDF5 filters that every libhdf5 has built in: deflate, shuffle, fletcher32, nbit, scaleoffset.
BUILTIN_FILTERS: Final = frozenset({1, 2, 3, 5, 6})
#: Plugin filters benchtest may write, with the name users know them by.
PLUGIN_FILTERS: Final = {32001: "Blosc", 32008: "Bitshuffle", 32004: "LZ4", 32015: "Zstd"}


@dataclass(frozen=True)
class Codec:
    """How waveform datasets are compressed: a name recorded in the file, and h5py arguments."""

    name: str
    description: str
    needs_plugin: bool

    def filter_args(self) -> dict[str, Any]:
        """Keyword arguments for `h5py.Group.create_dataset`."""
        if not self.needs_plugin:
            return {"compression": "gzip", "compression_opts": 1, "shuffle": True}
        hdf5plugin = load_plugins(self.name)
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


GZIP: Final = Codec("gzip", "gzip level 1 with shuffle (HDF5 built-in)", needs_plugin=False)
FAST: Final = Codec(
    "blosc-lz4-bitshuffle", "Blosc LZ4 with bit-shuffle (HDF5 filter 32001)", needs_plugin=True
)
CODECS: Final = {"gzip": GZIP, "portable": GZIP, "fast": FAST, FAST.name: FAST}


def codec(name: str | Codec) -> Codec:
    """The codec called `name` (`gzip`/`portable` or `fast`)."""
    if isinstance(name, Codec):
        return name
    try:
        return CODECS[name]
    except KeyError:
        known = ", ".join(sorted(CODECS))
        raise ValueError(f"unknown compression {name!r}; use one of {known}") from None


def load_plugins(what: str) -> Any:
    """Import `hdf5plugin` (which registers its filters with HDF5), or say clearly it is missing."""
    try:
        return importlib.import_module("hdf5plugin")
    except ImportError:
        raise ResultFileError(
            f"{what}: needs the HDF5 filter plugins of the 'hdf5plugin' package "
            "(Blosc, filter 32001), which is not installed: pip install hdf5plugin "
            "(or benchtest[fast]), or repack the file to gzip where it was written"
        ) from None


def plugin_filters(dataset: h5py.Dataset) -> list[str]:
    """Names of the non-built-in filters `dataset` needs, e.g. ["Blosc (32001)"]."""
    plist = dataset.id.get_create_plist()
    ids = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    return [f"{PLUGIN_FILTERS.get(i, 'filter')} ({i})" for i in ids if i not in BUILTIN_FILTERS]
