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
from benchtest.values.errors import (
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
from benchtest.values.measurement import Limits, Measurement, Outcome
from benchtest.values.waveform import Waveform

if TYPE_CHECKING:
    from benchtest.config.bench import Bench
    from benchtest.config.dut import DutProfile
    from benchtest.driver.registry import open_instrument
    from benchtest.run.measuring import LimitFailure, Measure

_LAZY = {
    "Bench": "benchtest.config.bench",
    "DutProfile": "benchtest.config.dut",
    "LimitFailure": "benchtest.run.measuring",
    "Measure": "benchtest.run.measuring",
    "open_instrument": "benchtest.driver.registry",
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
