"""What the `measure` fixture hands a test: records values by parameter name, with limits.

`measure("iq_sleep", value)` takes unit and limits from the DUT profile and emits the result at
once, so a test that fails later loses nothing; `failures` lists the values out of limits,
which the plugin turns into one soft failure at the end of the test.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from _pytest.outcomes import Failed  # what pytest.fail raises; pytest does not export the name

from benchtest.config.dut import DutProfile
from benchtest.runfile.schema import NAME_BYTES, UNIT_BYTES
from benchtest.values.curves import as_points, check_family, judge_sweep
from benchtest.values.errors import MeasurementError
from benchtest.values.events import (
    Event,
    MeasurementRecorded,
    SweepRecorded,
    WaveformFamilyRecorded,
    WaveformRecorded,
)
from benchtest.values.measurement import Limits, Measurement, Outcome
from benchtest.values.profile import CurrentProfile, ProfileChunk
from benchtest.values.sweep import SweepResult
from benchtest.values.waveform import Waveform

if TYPE_CHECKING:
    from benchtest.analysis.energy import EnergyProfile
    from benchtest.run.instrument_pool import InstrumentPool
    from instruments.capabilities import CurrentProfiler


_new = object.__new__
_set = object.__setattr__


def _fast_init(cls: type, names: tuple[str, ...]) -> bool:
    """Whether frozen dataclass `cls` can be built by setting its instance dict at once: its
    fields are `names` in this order, all set by `__init__`, kept in `__dict__`, with no
    `__post_init__`. (The generated `__init__` sets each field through `object.__setattr__`:
    ~1.5 us for a `Measurement`, against ~0.5 us for the dict.)"""
    own = tuple(f.name for f in fields(cls) if f.init)
    plain = not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")
    return own == names and len(fields(cls)) == len(names) and plain


_FAST_MEASUREMENT = _fast_init(
    Measurement,
    ("name", "value", "unit", "limits", "outcome", "timestamp", "conditions", "description"),
)


def _measurement(
    name: str,
    value: float,
    unit: str,
    limits: Limits,
    outcome: Outcome,
    timestamp: float,
    conditions: dict[str, Any],
    description: str,
) -> Measurement:
    """`Measurement(name, value, ...)`, the same object, built faster (see `_fast_init`)."""
    if not _FAST_MEASUREMENT:
        return Measurement(name, value, unit, limits, outcome, timestamp, conditions, description)
    made: Measurement = _new(Measurement)
    _set(made, "__dict__", {
        "name": name, "value": value, "unit": unit, "limits": limits, "outcome": outcome,
        "timestamp": timestamp, "conditions": conditions, "description": description,
    })  # fmt: skip
    return made


class MarginalWarning(UserWarning):
    """A measurement passed, but inside the marginal band next to one of its limits."""


class LimitFailure(Failed):
    """One or more measurements of a test were out of limits: a verdict on the DUT.

    Reported like `pytest.fail` without a traceback, since the message says it all.
    """

    def __init__(self, failures: list[Measurement]) -> None:
        self.failures = failures
        lines = "\n  ".join(m.explain() for m in failures)
        super().__init__(f"{len(failures)} measurement(s) out of limits:\n  {lines}", pytrace=False)


#: The DUT profile's limits and description of each parameter (see `Measure`), by name.
ProfileLimits = dict[str, tuple[Limits, str]]


class Measure:
    """Records the measurements and waveforms of one test.

    `profile_limits` keeps what the DUT profile says of each parameter measured with the
    profile's limits; the tests of one DUT share it, so each parameter is looked up once per
    DUT rather than once per test (each test gets its own when none is given)."""

    def __init__(
        self,
        test_id: str,
        dut: DutProfile,
        emit: Callable[[Event], None],
        conditions: dict[str, Any] | None = None,
        *,
        profile_limits: ProfileLimits | None = None,
        pool: InstrumentPool | None = None,
    ) -> None:
        self.test_id = test_id
        self.dut = dut
        self._emit = emit
        self._pool = pool  # a waveform recorded while it holds a shared instrument waits
        self.conditions = dict(conditions or {})
        self.recorded: list[Measurement] = []
        self._by_name: ProfileLimits = {} if profile_limits is None else profile_limits

    def __call__(
        self,
        name: str,
        value: float,
        *,
        unit: str | None = None,
        low: float | None = None,
        high: float | None = None,
        nominal: float | None = None,
        tolerance: float | None = None,
        tolerance_percent: float | None = None,
        expected: float | None = None,
        margin: float | None = None,
        limits: Limits | None = None,
    ) -> Measurement:
        """Record `value` of parameter `name`, judged against its limits.

        By default unit and limits come from the DUT profile. Inline limits, for values the
        profile does not list or conditions it does not cover: `low`/`high` (either may be
        left out), `nominal` with `tolerance` (absolute) or `tolerance_percent`, `expected`
        (equality), or a ready `limits`. `margin` (in the unit) is a band inside the limits in
        which the value passes with a warning. A unit that disagrees with the profile's unit
        for `name` is refused, and nothing is recorded.
        """
        inline = (unit, limits, low, high, nominal, tolerance, tolerance_percent, expected, margin)
        if inline.count(None) == len(inline):  # the usual case: the profile's limits, cached
            found = self._by_name.get(name)
            judged, description = found if found is not None else self._profile_limits(name)
        else:
            judged = self._limits(name, *inline)
            description = self._description(name)
        if type(value) is not float:  # a plain float is the usual case; a numpy float is not
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise MeasurementError(
                        f"{self.test_id}: measurement {name!r} must be a number, got {value!r}"
                    ) from None
            value = float(value)
        # Limits.check's judgement, inline for limits on one or both sides without a marginal
        # band (a NaN compares false, so it fails, as there): the hot path of a test.
        low_, high_ = judged.low, judged.high
        if judged.margin or (low_ is None and high_ is None):
            outcome = judged.check(value)
        elif (low_ is None or low_ <= value) and (high_ is None or value <= high_):
            outcome = Outcome.PASS
        else:
            outcome = Outcome.FAIL
        measurement = _measurement(
            name, value, judged.unit, judged, outcome, time.time(), dict(self.conditions),
            description,
        )  # fmt: skip
        self.recorded.append(measurement)
        self._emit(MeasurementRecorded(self.test_id, measurement))
        if outcome is Outcome.MARGINAL:
            warnings.warn(MarginalWarning(f"{self.test_id}: {measurement.explain()}"), stacklevel=2)
        return measurement

    def _profile_limits(self, name: str) -> tuple[Limits, str]:
        """The DUT profile's limits and description of parameter `name` (looked up once per
        `profile_limits`)."""
        found = self._by_name.get(name)
        if found is None:
            limits = self._limits(name, None, None, None, None, None, None, None, None, None)
            found = self._by_name[name] = (limits, self._description(name))
        return found

    def _description(self, name: str) -> str:
        parameter = self.dut.parameters.get(name)
        return parameter.description if parameter is not None else ""

    def condition(self, **values: Any) -> None:
        """Add conditions the test's setup holds (`temperature=85.0`, held by a chamber
        fixture, say) to every measurement recorded from now on, next to the parametrised
        values and the site."""
        self.conditions.update(values)

    def waveform(self, name: str, waveform: Waveform, description: str = "") -> None:
        """Record a waveform (stored as the instrument delivered it)."""
        if not isinstance(waveform, Waveform):
            raise MeasurementError(
                f"{self.test_id}: measure.waveform({name!r}) needs a Waveform, "
                f"got {type(waveform).__name__}"
            )
        if self._pool is not None and self._pool.holds_shared:
            # Stored once the site lets go of its shared instruments (the others need not wait
            # for the storing), still before the test ends: a copy, as recorded now.
            samples, settings = waveform.samples.copy(), dict(waveform.settings)
            kept = replace(waveform, samples=samples, settings=settings)
            event = WaveformRecorded(self.test_id, name, kept, description)
            self._pool.after_shared(lambda: self._emit(event))
            return
        self._emit(WaveformRecorded(self.test_id, name, waveform, description))

    def profile(
        self,
        name: str,
        profile: CurrentProfile,
        description: str = "",
        *,
        analysis: EnergyProfile | None = None,
    ) -> None:
        """Record a current profile (A and V) with the segmentation and per-event values of
        `analysis` beside it (see `benchtest.run.profiles`)."""
        from benchtest.run.profiles import record_profile  # the analysis package, when used

        record_profile(
            self._emit, self.test_id, name, profile, description=description, analysis=analysis
        )

    def capture(
        self,
        name: str,
        profiler: CurrentProfiler,
        duration: float,
        *,
        sample_rate: float,
        analyse: Callable[[CurrentProfile], EnergyProfile] | None = None,
        description: str = "",
    ) -> tuple[CurrentProfile, EnergyProfile | None]:
        """Capture `duration` s from `profiler`, stored chunk by chunk as it streams (a capture
        that breaks off is kept up to the break), and return it with `analyse(capture)`,
        stored beside it (see `benchtest.run.profiles.capture_profile`)."""
        from benchtest.run.profiles import capture_profile

        return capture_profile(
            self._emit,
            self.test_id,
            name,
            profiler,
            duration,
            sample_rate=sample_rate,
            description=description,
            analyse=analyse,
        )

    def stream_profile(
        self,
        name: str,
        chunks: Iterable[ProfileChunk],
        *,
        sample_rate: float,
        voltage: bool = True,
        description: str = "",
    ) -> int:
        """Store a capture chunk by chunk while it streams (`profiler.stream(...)`); returns
        the samples stored. A stream that breaks off is kept up to the break, then its error
        goes on."""
        from benchtest.run.profiles import stream_profile

        return stream_profile(
            self._emit,
            self.test_id,
            name,
            chunks,
            sample_rate=sample_rate,
            voltage=voltage,
            description=description,
        )

    def sweep(
        self,
        name: str,
        x: Any,
        y: Any = None,
        *,
        x_name: str,
        x_unit: str | None = None,
        y_unit: str | None = None,
        low: float | None = None,
        high: float | None = None,
        margin: float | None = None,
        description: str = "",
    ) -> Measurement:
        """Record `y` against `x` (arrays, or one `SweepResult` as `x`), judged point by point.

        Unit and limits of y follow the rules of `__call__` for parameter `name`; the sweep
        fails when any point is out of limits, and its returned (and tabled) measurement is
        the worst point (marginal, with a `MarginalWarning`, when it is within `margin`).
        With a `SweepResult`, units default to the result's.
        """
        where = f"{self.test_id}: sweep {name!r}"
        if isinstance(x, SweepResult):
            if y is not None:
                raise MeasurementError(f"{where}: give a SweepResult alone, without y")
            x_unit, y_unit = self._sweep_units(where, x, x_unit, y_unit)
            x, y = x.source, x.measured
        if x_unit is None:
            raise MeasurementError(f"{where}: x_unit is required")
        xs, ys = as_points(x, f"{where}: x"), as_points(y, f"{where}: y")
        if xs.shape != ys.shape or not len(xs):
            raise MeasurementError(
                f"{where}: x {xs.shape} and y {ys.shape} must be of one length, at least 1"
            )
        judged = self._limits(name, y_unit, None, low, high, None, None, None, None, margin)
        if description == "" and name in self.dut.parameters:
            description = self.dut.parameters[name].description
        worst = judge_sweep(name, xs, ys, judged, (x_name, x_unit), description)
        worst = replace(worst, conditions=dict(self.conditions))
        self.recorded.append(worst)
        self._emit(
            SweepRecorded(self.test_id, name, xs, ys, x_name, x_unit, judged.unit, judged,
                          worst.outcome.value, description)
        )  # fmt: skip
        if worst.outcome is Outcome.MARGINAL:
            warnings.warn(MarginalWarning(f"{self.test_id}: {worst.explain()}"), stacklevel=2)
        return worst

    @staticmethod
    def _sweep_units(
        where: str, result: SweepResult, x_unit: str | None, y_unit: str | None
    ) -> tuple[str, str]:
        for given, own in ((x_unit, result.source_unit), (y_unit, result.measured_unit)):
            if given is not None and given != own:
                raise MeasurementError(f"{where}: unit {given!r} given, the sweep has {own!r}")
        return result.source_unit, result.measured_unit

    def waveform_family(
        self,
        name: str,
        waveforms: Sequence[Waveform],
        axis_values: Any,
        *,
        axis_name: str,
        axis_unit: str,
        description: str = "",
    ) -> None:
        """Record a family of curves: `waveforms[k]` taken at `axis_name` = `axis_values[k]`.

        Members must share length, dt, t0 and unit; stored as one 2-D NXdata.
        """
        where = f"{self.test_id}: waveform family {name!r}"
        check_family(waveforms, axis_values, where)
        values = as_points(axis_values, f"{where}: axis values")
        self._emit(
            WaveformFamilyRecorded(self.test_id, name, tuple(waveforms), values, axis_name,
                                   axis_unit, description)
        )  # fmt: skip

    @property
    def failures(self) -> list[Measurement]:
        return [m for m in self.recorded if m.failed]

    def _limits(self, name: str, *inline: Any) -> Limits:
        """The limits of `name` (see `_judged_limits`), once its name and unit are known to
        fit the run file's columns."""
        limits = self._judged_limits(name, *inline)
        for what, text, room in (("name", name, NAME_BYTES), ("unit", limits.unit, UNIT_BYTES)):
            if len(text.encode()) > room:
                raise MeasurementError(
                    f"{self.test_id}: measurement {name!r}: its {what} {text!r} is longer than "
                    f"the {room} bytes (UTF-8) a run file keeps for it"
                )
        return limits

    def _judged_limits(
        self,
        name: str,
        unit: str | None,
        limits: Limits | None,
        low: float | None,
        high: float | None,
        nominal: float | None,
        tolerance: float | None,
        tolerance_percent: float | None,
        expected: float | None,
        margin: float | None,
    ) -> Limits:
        parameter = self.dut.parameters.get(name)
        unit = unit if unit is not None else (limits.unit if limits and limits.unit else None)
        if parameter is not None and unit is not None and unit != parameter.unit:
            raise MeasurementError(
                f"{self.test_id}: measurement {name!r} given in {unit!r}, but the DUT profile "
                f"{self.dut.name} gives {name} in {parameter.unit!r}"
            )
        inline = [limits, low, high, nominal, expected]
        if all(x is None for x in inline):
            if tolerance is not None or tolerance_percent is not None:
                raise MeasurementError(f"{self.test_id}: {name!r}: a tolerance needs a nominal")
            found = self.dut.parameter(name).limits
            return replace(found, margin=margin) if margin is not None else found
        if (
            sum(x is not None for x in (limits, nominal, expected))
            + (low is not None or high is not None)
            > 1
        ):
            raise MeasurementError(
                f"{self.test_id}: {name!r}: give one kind of inline limit "
                "(low/high, nominal with a tolerance, expected, or limits)"
            )
        final_unit = unit or (parameter.unit if parameter else None)
        if final_unit is None:
            raise MeasurementError(
                f"{self.test_id}: measurement {name!r} has inline limits but no unit"
            )
        try:
            if limits is not None:
                built = replace(limits, unit=final_unit)
            elif nominal is not None:
                built = Limits.tolerance(
                    nominal, absolute=tolerance, percent=tolerance_percent, unit=final_unit
                )
            elif expected is not None:
                built = Limits.equal(expected, final_unit)
            else:
                built = Limits(low, high, final_unit)
            return replace(built, margin=margin) if margin is not None else built
        except ValueError as exc:
            raise MeasurementError(f"{self.test_id}: {name!r}: {exc}") from None
