"""benchtest: bench-test automation for low-power chips and sensors.

Test plans are pytest files; fixtures hand them the bench's instruments by role and the DUT
profile, and `measure(...)` records every value with unit and limits into one HDF5 file per run.
The public surface is what this module exports; everything else may move. Names other than
the errors load on first use, so `benchtest.results` and the pytest plugin stay light, and
`import benchtest` imports no numpy.

PYTEST_DONT_REWRITE: the `benchtest` command imports this package before it starts pytest,
and nothing in it relies on pytest's assertion rewriting.
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING

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
from benchtest.values.lazy import lazy_names

if TYPE_CHECKING:
    from collections.abc import Sequence

    from benchtest.config.bench import Bench
    from benchtest.config.dut import DutProfile
    from benchtest.driver.registry import open_instrument
    from benchtest.run.measuring import LimitFailure, Measure
    from benchtest.values.measurement import Limits, Measurement, Outcome
    from benchtest.values.waveform import Waveform

_LAZY = {
    "Bench": "benchtest.config.bench",
    "DutProfile": "benchtest.config.dut",
    "LimitFailure": "benchtest.run.measuring",
    "Limits": "benchtest.values.measurement",
    "Measure": "benchtest.run.measuring",
    "Measurement": "benchtest.values.measurement",
    "Outcome": "benchtest.values.measurement",
    "open_instrument": "benchtest.driver.registry",
    "Waveform": "benchtest.values.waveform",
}


# Module paths of earlier releases that users may have written, and where they are now. They
# keep working, with a DeprecationWarning, for one release.
MOVED_MODULES = {
    "benchtest.errors": "benchtest.values.errors",
    "benchtest.measurement": "benchtest.values.measurement",
    "benchtest.waveform": "benchtest.values.waveform",
    "benchtest.sweep": "benchtest.values.sweep",
    "benchtest.bench": "benchtest.config.bench",
    "benchtest.dut": "benchtest.config.dut",
    "benchtest.registry": "benchtest.driver.registry",
    "benchtest.testing": "benchtest.driver.testing",
}


class _MovedModule(MetaPathFinder, Loader):
    """Imports an old module path as the module that replaced it (the same module object)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        return ModuleSpec(fullname, self) if fullname in MOVED_MODULES else None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        new = MOVED_MODULES[spec.name]
        warnings.warn(
            f"{spec.name} has moved to {new}; import it from there (or from `benchtest`). "
            "The old path goes away in the next release.",
            DeprecationWarning,
            stacklevel=2,  # warnings skips the import machinery's frames
        )
        return import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module was executed under its new name."""


if not any(isinstance(finder, _MovedModule) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModule())


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


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
