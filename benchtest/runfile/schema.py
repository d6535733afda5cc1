"""Names, versions and table layouts of the benchtest run file, shared by writer and reader.

Everything a reader needs to agree with the writer lives here: the schema version, the fixed
names of groups and datasets, and the compound dtypes of the tables. The layout is described
in words in docs/results-format.md; change both together.
"""

from __future__ import annotations

import re
from collections.abc import Container
from typing import Any

import h5py
import numpy as np

#: Version of the layout written by this benchtest; stored as root `@benchtest_schema_version`.
SCHEMA_VERSION = 3
#: Oldest layout the reader still understands.
OLDEST_READABLE_VERSION = 1

#: Outcome of a test (or the run) that has started and not finished yet.
INCOMPLETE = "incomplete"

RUN_INFO = "run_info"
SUMMARY = "summary"
TESTS = "tests"
MEASUREMENTS = "measurements"
WAVEFORMS = "waveforms"
RUNNING = "running"
JOURNAL = "journal"
SEAL = "seal"
INSTRUMENTS = "instruments"
SAFE_STATE_LOG = "safe_state_log"
BENCH_FILE = "bench_file"
DUT_PROFILE = "dut_profile"
PLANS_MANIFEST = "plans_manifest"  # "<sha256>  <path>" per plan file that ran (run_info)
CONDITIONS = "conditions"
SETTINGS = "settings"
#: Name of the column that makes a row count: it holds the row's position + 1.
COMMIT = "commit"

#: Children of an NXentry that are not waveforms; a waveform never takes one of these names.
ENTRY_FIELDS = frozenset(
    {"title", "start_time", "end_time", "outcome", "message", "duration", CONDITIONS, MEASUREMENTS}
)

#: Inside an NXdata: the raw instrument samples, the time axis and the settings collection.
CODES = "codes"
TIME = "time"
NXDATA_FIELDS = frozenset({CODES, TIME, SETTINGS, "title"})
#: NXdata attribute marking a sweep or a family of curves (single waveforms have none).
KIND = "benchtest_kind"
SWEEP_KIND = "sweep"
FAMILY_KIND = "waveform_family"

#: Bytes reserved for the JSON list of running tests in /summary/running.
RUNNING_BYTES = 8192
#: Size of /summary/journal in bytes, used in two halves in turn: each holds about two hundred
#: and fifty typical tests (~0.5 KiB of records each) between two table appends
#: (`hdf5_writer.BATCH_TESTS`); every run file carries it, so it stays small.
JOURNAL_BYTES = 256 * 1024

TEXT = h5py.string_dtype("utf-8")
_I8 = np.dtype(np.int64)
_F8 = np.dtype(np.float64)

_MEASUREMENT_FIELDS: list[tuple[str, np.dtype[Any]]] = [
    ("name", TEXT),
    ("value", _F8),
    ("unit", TEXT),
    ("low", _F8),
    ("high", _F8),
    ("outcome", TEXT),
    ("timestamp", _F8),
]
#: Per-test measurement table of schema 1 (and the column set of an entry's table in 2).
MEASUREMENT_DTYPE = np.dtype(_MEASUREMENT_FIELDS)
#: Entry measurement table of schema 2: the effective conditions of each row as JSON.
ENTRY_MEASUREMENT_DTYPE = np.dtype([*_MEASUREMENT_FIELDS, (CONDITIONS, TEXT)])
#: /summary/measurements of schema 1.
SUMMARY_DTYPE_V1 = np.dtype([("test_id", TEXT), *_MEASUREMENT_FIELDS])

#: /summary/tests: one row per finished test, written when the test finishes.
TEST_DTYPE = np.dtype(
    [
        ("index", _I8),
        ("test_id", TEXT),
        ("attempt", _I8),
        ("entry", TEXT),
        ("outcome", TEXT),
        ("message", TEXT),
        ("start_time", TEXT),
        ("end_time", TEXT),
        ("duration", _F8),
        (CONDITIONS, TEXT),
        ("measurement_start", _I8),
        ("measurement_count", _I8),
        ("waveform_start", _I8),
        ("waveform_count", _I8),
        (COMMIT, _I8),
    ]
)
#: Bytes of UTF-8 a measurement's name, unit and outcome may take in /summary/measurements.
NAME_BYTES = 96
UNIT_BYTES = 32
OUTCOME_BYTES = 16
#: /summary/measurements: every measurement of every finished test. Name, unit and outcome are
#: fixed-length UTF-8: a variable-length string costs a global-heap object per value, which
#: made writing a row 3.5x slower (measured: 6.5 against 1.8 us a row).
SUMMARY_DTYPE = np.dtype(
    [
        ("test", _I8),
        ("name", h5py.string_dtype("utf-8", NAME_BYTES)),
        ("value", _F8),
        ("unit", h5py.string_dtype("utf-8", UNIT_BYTES)),
        ("low", _F8),
        ("high", _F8),
        ("outcome", h5py.string_dtype("utf-8", OUTCOME_BYTES)),
        ("timestamp", _F8),
        (CONDITIONS, TEXT),
        (COMMIT, _I8),
    ]
)
#: /summary/waveforms: where each waveform of a finished test is stored.
WAVEFORM_DTYPE = np.dtype(
    [("test", _I8), ("name", TEXT), ("path", TEXT), ("points", _I8), (COMMIT, _I8)]
)
INSTRUMENT_DTYPE = np.dtype(
    [
        ("role", TEXT),
        ("driver", TEXT),
        ("resource", TEXT),
        ("identity", TEXT),
        ("calibration_due", TEXT),
    ]
)
SAFE_STATE_DTYPE = np.dtype([("time", TEXT), ("role", TEXT), ("ok", np.bool_), ("message", TEXT)])

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
