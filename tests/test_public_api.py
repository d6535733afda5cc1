"""The public surface is pinned: users import from `benchtest` and `instruments.capabilities`."""

from __future__ import annotations

import benchtest
import instruments
import instruments.capabilities

EXPECTED_BENCHTEST = {
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
}
EXPECTED_CAPABILITIES = {
    "Chamber",
    "DebugPort",
    "Identity",
    "Instrument",
    "Multimeter",
    "Oscilloscope",
    "PowerSupply",
    "SourceMeter",
    "SweepResult",
    "Waveform",
}


def test_benchtest_exports_exactly_the_public_names() -> None:
    assert set(benchtest.__all__) == EXPECTED_BENCHTEST
    for name in benchtest.__all__:
        assert hasattr(benchtest, name), name


def test_capabilities_export_exactly_the_protocols() -> None:
    assert set(instruments.capabilities.__all__) == EXPECTED_CAPABILITIES
    for name in instruments.capabilities.__all__:
        assert hasattr(instruments.capabilities, name), name


def test_instruments_package_is_ours_not_instrumentkit() -> None:
    assert instruments.__benchtest__ is True


def test_every_exception_derives_from_one_base() -> None:
    for name in EXPECTED_BENCHTEST:
        obj = getattr(benchtest, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and name != "LimitFailure":
            assert issubclass(obj, benchtest.BenchtestError), name
