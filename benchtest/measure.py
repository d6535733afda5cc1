"""What the `measure` fixture hands a test: records values by parameter name, with limits.

`measure("iq_sleep", value)` takes unit and limits from the DUT profile and emits the result at
once, so a test that fails later loses nothing; `failures` lists the values out of limits,
which the plugin turns into one soft failure at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _pytest.outcomes import Failed  # what pytest.fail raises; pytest does not export the name

from benchtest.dut import DutProfile
from benchtest.errors import MeasurementError
from benchtest.measurement import Limits, Measurement
from benchtest.recorder import Event, MeasurementRecorded, WaveformRecorded
from benchtest.waveform import Waveform


class LimitFailure(Failed):
    """One or more measurements of a test were out of limits: a verdict on the DUT.

    Reported like `pytest.fail` without a traceback, since the message says it all.
    """

    def __init__(self, failures: list[Measurement]) -> None:
        self.failures = failures
        lines = "\n  ".join(m.explain() for m in failures)
        super().__init__(f"{len(failures)} measurement(s) out of limits:\n  {lines}", pytrace=False)


class Measure:
    """Records the measurements and waveforms of one test."""

    def __init__(
        self,
        test_id: str,
        dut: DutProfile,
        emit: Callable[[Event], None],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self.test_id = test_id
        self.dut = dut
        self._emit = emit
        self.conditions = dict(conditions or {})
        self.recorded: list[Measurement] = []

    def __call__(
        self,
        name: str,
        value: float,
        *,
        unit: str | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> Measurement:
        """Record `value` of parameter `name`.

        Unit and limits come from the DUT profile; give `low`/`high` (and `unit`) for a value
        the profile does not list. A `unit` that disagrees with the profile is refused.
        """
        limits = self._limits(name, unit, low, high)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise MeasurementError(
                    f"{self.test_id}: measurement {name!r} must be a number, got {value!r}"
                ) from None
        description = self.dut.parameters[name].description if name in self.dut.parameters else ""
        measurement = Measurement.judge(
            name, value, limits.unit, limits, conditions=self.conditions, description=description
        )
        self.recorded.append(measurement)
        self._emit(MeasurementRecorded(self.test_id, measurement))
        return measurement

    def waveform(self, name: str, waveform: Waveform, description: str = "") -> None:
        """Record a waveform (stored as the instrument delivered it)."""
        if not isinstance(waveform, Waveform):
            raise MeasurementError(
                f"{self.test_id}: measure.waveform({name!r}) needs a Waveform, "
                f"got {type(waveform).__name__}"
            )
        self._emit(WaveformRecorded(self.test_id, name, waveform, description))

    @property
    def failures(self) -> list[Measurement]:
        return [m for m in self.recorded if m.failed]

    def _limits(self, name: str, unit: str | None, low: float | None, high: float | None) -> Limits:
        if low is not None or high is not None:
            if unit is None and name not in self.dut.parameters:
                raise MeasurementError(
                    f"{self.test_id}: measurement {name!r} has inline limits but no unit"
                )
            profile_unit = self.dut.parameters[name].unit if name in self.dut.parameters else None
            return Limits(low, high, unit or profile_unit or "")
        parameter = self.dut.parameter(name)
        if unit is not None and unit != parameter.unit:
            raise MeasurementError(
                f"{self.test_id}: measurement {name!r} given in {unit!r}, but the DUT profile "
                f"{self.dut.name} gives {name} in {parameter.unit!r}"
            )
        return parameter.limits
