"""The events of a run: what the runner emits and the recorder's subscribers store.

They arrive in this order: RunStarted, then per test TestStarted, MeasurementRecorded /
WaveformRecorded / SweepRecorded / WaveformFamilyRecorded / a profile stream
(`benchtest.values.streams`)..., TestFinished;
InstrumentIdentified and SafeStateApplied whenever they happen; RunFinished last. Nothing
downstream reads instrument state: everything it knows arrives as one of these.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.values.measurement import Limits, Measurement
from benchtest.values.streams import (
    ProfileChunkRecorded,
    ProfileStreamFinished,
    ProfileStreamStarted,
)
from benchtest.values.waveform import Waveform


def utc_now() -> str:
    """The current time as UTC ISO 8601 with microseconds, e.g. 2026-11-28T15:43:46.123456+00:00.

    Called twice per test: the date and time of day are formatted once per second (~0.5 us a
    call instead of ~2 us), and the microseconds are always written, also when they are 0."""
    global _formatted_second
    second, fraction = divmod(time.time_ns() // 1000, 1_000_000)
    formatted = _formatted_second  # one read: other threads may replace it meanwhile
    if formatted[0] != second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        formatted = _formatted_second = (second, prefix)
    return f"{formatted[1]}{fraction:06d}+00:00"


#: The last second `utc_now` formatted, and its text up to the fraction.
_formatted_second: tuple[int, str] = (-1, "")


@dataclass(frozen=True)
class ConfigSnapshot:
    """A configuration file as it was when the run started."""

    path: str
    text: str
    sha256: str


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    started: str
    framework_version: str
    bench: ConfigSnapshot
    dut: ConfigSnapshot
    part: str
    serial_number: str = ""
    lot: str = ""
    operator: str = ""
    station: str = ""
    host: str = ""
    plans_commit: str = ""  # "" unless every plan file is inside the repository's work tree
    plans_dirty: bool = False  # a plan file differs from that commit
    site: str = ""  # the site of a multi-site bench this run tested, "" on a single-site bench
    plans_root: str = ""  # the plans' root: test ids are relative to it
    plans_sha256: str = ""  # sha256 of `plans_manifest`
    plans_manifest: str = ""  # "<sha256>  <path from the plans' root>" per plan file that ran


@dataclass(frozen=True)
class InstrumentIdentified:
    role: str
    driver: str
    resource: str
    identity: str
    calibration_due: str = ""  # YYYY-MM-DD from the bench file, "" when not given


@dataclass(frozen=True)
class TestStarted:
    __test__ = False  # not a pytest test class
    test_id: str  # relative to the plans' root, e.g. "ldo/test_ldo.py::test_iq[sleep]"
    started: str
    conditions: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1  # 2, 3, ... for the retries of a test marked retry(n)


@dataclass(frozen=True)
class MeasurementRecorded:
    test_id: str
    measurement: Measurement


@dataclass(frozen=True)
class WaveformRecorded:
    test_id: str
    name: str
    waveform: Waveform
    description: str = ""


@dataclass(frozen=True)
class SweepRecorded:
    """y against x, judged point-wise; `outcome` is that of the worst point."""

    test_id: str
    name: str
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    x_name: str
    x_unit: str
    y_unit: str
    limits: Limits
    outcome: str
    description: str = ""


@dataclass(frozen=True)
class WaveformFamilyRecorded:
    """Waveforms sharing length, dt, t0 and unit, one per value of a family axis."""

    test_id: str
    name: str
    waveforms: tuple[Waveform, ...]
    axis_values: npt.NDArray[np.float64]
    axis_name: str
    axis_unit: str
    description: str = ""


@dataclass(frozen=True)
class TestFinished:
    __test__ = False  # not a pytest test class
    test_id: str
    outcome: str  # "passed", "failed", "error", "skipped"
    finished: str
    duration: float
    message: str = ""
    attempt: int = 1


@dataclass(frozen=True)
class SafeStateApplied:
    role: str
    ok: bool
    time: str
    message: str = ""


@dataclass(frozen=True)
class RunFinished:
    finished: str
    outcome: str  # "passed", "failed", "error", "interrupted"
    skipped: int = 0  # tests skipped, whatever the outcome
    skip_reasons: str = ""  # why, each reason once: "no chamber on this bench (lab 3) (4); ..."


Event = (
    RunStarted
    | InstrumentIdentified
    | TestStarted
    | MeasurementRecorded
    | WaveformRecorded
    | SweepRecorded
    | WaveformFamilyRecorded
    | ProfileStreamStarted
    | ProfileChunkRecorded
    | ProfileStreamFinished
    | TestFinished
    | SafeStateApplied
    | RunFinished
)
Subscriber = Callable[[Event], None]
