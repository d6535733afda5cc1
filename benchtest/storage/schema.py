"""Names, versions and table layouts of the benchtest run file, shared by writer and reader.

Everything a reader needs to agree with the writer lives here: the schema version, the
fixed dataset names inside an NXentry and the compound dtypes of the tables. The layout is
described in words in docs/results-format.md; change both together.
"""

from __future__ import annotations

import re
from collections.abc import Container
from typing import Any

import h5py
import numpy as np

#: Version of the layout written by this benchtest; stored as root `@benchtest_schema_version`.
SCHEMA_VERSION = 1

#: Outcome of a test (or the run) that has started and not finished yet.
INCOMPLETE = "incomplete"

RUN_INFO = "run_info"
SUMMARY = "summary"
MEASUREMENTS = "measurements"
INSTRUMENTS = "instruments"
SAFE_STATE_LOG = "safe_state_log"
BENCH_FILE = "bench_file"
DUT_PROFILE = "dut_profile"
CONDITIONS = "conditions"
SETTINGS = "settings"

#: Children of an NXentry that are not waveforms; a waveform never takes one of these names.
ENTRY_FIELDS = frozenset(
    {
        "title",
        "start_time",
        "end_time",
        "outcome",
        "message",
        "duration",
        CONDITIONS,
        MEASUREMENTS,
    }
)

#: Inside an NXdata: the raw instrument samples, the time axis and the settings collection.
CODES = "codes"
TIME = "time"
NXDATA_FIELDS = frozenset({CODES, TIME, SETTINGS, "title"})

_TEXT = h5py.string_dtype("utf-8")

_MEASUREMENT_FIELDS: list[tuple[str, np.dtype[Any]]] = [
    ("name", _TEXT),
    ("value", np.dtype(np.float64)),
    ("unit", _TEXT),
    ("low", np.dtype(np.float64)),
    ("high", np.dtype(np.float64)),
    ("outcome", _TEXT),
    ("timestamp", np.dtype(np.float64)),
]
MEASUREMENT_DTYPE = np.dtype(_MEASUREMENT_FIELDS)
SUMMARY_DTYPE = np.dtype([("test_id", _TEXT), *_MEASUREMENT_FIELDS])
INSTRUMENT_DTYPE = np.dtype(
    [("role", _TEXT), ("driver", _TEXT), ("resource", _TEXT), ("identity", _TEXT)]
)
SAFE_STATE_DTYPE = np.dtype(
    [("time", _TEXT), ("role", _TEXT), ("ok", np.bool_), ("message", _TEXT)]
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_MAX_NAME = 96


def sanitise(name: str) -> str:
    """`name` with every character outside `[A-Za-z0-9_]` replaced by `_` (never empty)."""
    return _UNSAFE.sub("_", name)[:_MAX_NAME] or "_"


def entry_name(index: int, test_id: str) -> str:
    """Group name of the `index`-th test: `t0001_test_iq_sleep_` for `...py::test_iq[sleep]`."""
    _, _, function = test_id.partition("::")
    return f"t{index:04d}_{sanitise(function or test_id)}"


def unique_name(taken: Container[str], base: str, reserved: frozenset[str] = frozenset()) -> str:
    """`base`, or `base_2`, `base_3`, ... : the first that is not in `taken` nor `reserved`."""
    name, n = base, 1
    while name in reserved or name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


_QUANTITIES = {
    "V": "voltage",
    "A": "current",
    "W": "power",
    "Ohm": "resistance",
    "Hz": "frequency",
    "degC": "temperature",
    "K": "temperature",
}


def signal_name(unit: str) -> str:
    """Name of the physical-value dataset of a waveform: the quantity its unit measures."""
    return _QUANTITIES.get(unit, "values")
