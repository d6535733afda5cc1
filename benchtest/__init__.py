"""benchtest: bench-test automation for low-power chips and sensors.

Test plans are pytest files; fixtures hand them the bench's instruments by role and the DUT
profile, and `measure(...)` records every value with unit and limits into one HDF5 file per run.
The public surface is what this module exports; everything else may move.
"""

from __future__ import annotations

from benchtest.__about__ import __version__
from benchtest.bench import Bench
from benchtest.dut import DutProfile
from benchtest.errors import (
    BenchtestError,
    ConfigError,
    DriverNotFoundError,
    InstrumentError,
    InstrumentReportedError,
    InstrumentTimeoutError,
    MeasurementError,
    ProtocolError,
    ResultFileError,
    SafetyError,
)
from benchtest.measure import LimitFailure, Measure
from benchtest.measurement import Limits, Measurement, Outcome
from benchtest.registry import open_instrument
from benchtest.waveform import Waveform

__all__ = [
    "Bench",
    "BenchtestError",
    "ConfigError",
    "DriverNotFoundError",
    "DutProfile",
    "InstrumentError",
    "InstrumentReportedError",
    "InstrumentTimeoutError",
    "LimitFailure",
    "Limits",
    "Measure",
    "Measurement",
    "MeasurementError",
    "Outcome",
    "ProtocolError",
    "ResultFileError",
    "SafetyError",
    "Waveform",
    "__version__",
    "open_instrument",
]
