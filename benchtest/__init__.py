"""benchtest: bench-test automation for low-power chips and sensors.

Test plans are pytest files; fixtures hand them the bench's instruments by role and the DUT
profile, and `measure(...)` records every value with unit and limits into one HDF5 file per run.
The public surface is what this module exports; everything else may move. Names that need the
configuration or driver machinery load on first use, so `benchtest.results` stays light.

PYTEST_DONT_REWRITE: the `benchtest` command imports this package before it starts pytest,
and nothing in it relies on pytest's assertion rewriting.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from benchtest.__about__ import __version__
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
from benchtest.measurement import Limits, Measurement, Outcome
from benchtest.waveform import Waveform

if TYPE_CHECKING:
    from benchtest.bench import Bench
    from benchtest.dut import DutProfile
    from benchtest.measure import LimitFailure, Measure
    from benchtest.registry import open_instrument

_LAZY = {
    "Bench": "benchtest.bench",
    "DutProfile": "benchtest.dut",
    "LimitFailure": "benchtest.measure",
    "Measure": "benchtest.measure",
    "open_instrument": "benchtest.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'benchtest' has no attribute {name!r}")


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
