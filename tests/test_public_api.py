"""The public surface is pinned: users import from `benchtest` and `instruments.capabilities`."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

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
    "CurrentProfile",
    "CurrentProfiler",
    "DebugPort",
    "Identity",
    "Instrument",
    "Multimeter",
    "Oscilloscope",
    "PowerSupply",
    "ProfileChunk",
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


@pytest.mark.parametrize(("old", "new"), sorted(benchtest.MOVED_MODULES.items()))
def test_old_module_paths_import_the_moved_module_with_a_deprecation_warning(
    old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} has moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)


def test_an_old_import_warns_at_the_line_that_wrote_it(tmp_path: Path) -> None:
    script = tmp_path / "old_user.py"
    script.write_text("x = 1\nfrom benchtest.measurement import Limits\nprint(Limits)\n")
    done = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", str(script)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "benchtest.values.measurement.Limits" in done.stdout
    assert f"{script}:2: DeprecationWarning: benchtest.measurement has moved" in done.stderr


def test_a_name_that_never_existed_is_still_an_import_error() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("benchtest.no_such_module")
