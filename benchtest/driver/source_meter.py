"""The SourceMeter flow every SMU driver shares, written against the properties a model declares.

A model driver declares `source_function`, `voltage_setpoint`, `current_setpoint`,
`current_limit`, `voltage_limit` and `output_enabled` with its own commands and supplies what
really differs: how a reading is taken (`read_measurement`) and its buffered sweep
(`run_sweep`). Guard and validators run on every sweep level before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from benchtest.driver.dialect import SourceCommand
from benchtest.driver.properties import number, switch
from benchtest.driver.scpi import (
    Control,
    InvalidValueError,
    ScpiChannel,
    ScpiInstrument,
    Setting,
    apply_settings,
    check_settings,
    declared,
)
from benchtest.driver.sweeps import KEYWORD, OTHER, UNIT, Function, SweepPlan
from benchtest.driver.transport import Transport
from benchtest.values.errors import InstrumentError
from benchtest.values.ratings import NO_GUARD, SourceGuard
from benchtest.values.sweep import SweepResult

KEYWORD_QUANTITY = (("VOLTage", "voltage"), ("CURRent", "current"))


def level_commands(root: str = "[:SOURce[<n>]]") -> tuple[SourceCommand, ...]:
    """The source-level commands every SMU dialect shares: the immediate level of either
    function, and its list (every value a level)."""
    level = "[:LEVel][:IMMediate][:AMPLitude]"
    return tuple(
        command
        for keyword, quantity in KEYWORD_QUANTITY
        for command in (
            SourceCommand(f"{root}:{keyword}{level}", quantity),
            SourceCommand(f"{root}:LIST:{keyword}[:APPend]", quantity),
        )
    )


def select_source(node: str) -> Control[str]:
    """The source function: `<node> VOLTage|CURRent`, read back as `VOLT`/`CURR`."""
    return Control(f"{node}?", f"{node} {{value}}", "Source function", values=KEYWORD)


def source_level(node: str, quantity: Function, span: float) -> Control[float]:
    """The guarded source level of `quantity` at `node`, within +-`span`."""
    return number(
        node, f"Source {quantity} level", -span, span, unit=UNIT[quantity], guard=quantity
    )


def compliance(node: str, quantity: Function, low: float, high: float) -> Control[float]:
    """The guarded limit of `quantity` while the other quantity is sourced."""
    return number(
        node,
        f"{quantity.capitalize()} limit (compliance) while sourcing {OTHER[quantity]}",
        low,
        high,
        unit=UNIT[quantity],
        guard=quantity,
    )


class FunctionChannel(ScpiChannel):
    """Commands of one source or measure function: fills `{function}` and the parent's `{ch}`."""

    placeholder = "function"

    def command_fields(self) -> dict[str, object]:
        return {**self.parent.command_fields(), "function": self.id}


class SenseFunction(FunctionChannel):
    """`:SENSe<ch>:<function>` settings of one measure function: range, autorange, NPLC."""

    range = number(
        ":SENSe{ch}:{function}:RANGe",
        "Fixed measure range (selecting one turns autorange off)",
        1e-9,
        210.0,
    )
    autorange = switch(":SENSe{ch}:{function}:RANGe:AUTO", "Measure autorange on/off")
    nplc = number(
        ":SENSe{ch}:{function}:NPLCycles", "Integration time in power-line cycles", 0.01, 10.0
    )


class SourceMeterBase(ScpiInstrument):
    """Shared `SourceMeter` behaviour; a subclass declares its commands (see module doc).

    `channel_suffix` fills `{ch}` in the declared commands (empty for one-channel models).
    """

    capabilities: ClassVar[tuple[str, ...]] = ("SourceMeter",)
    max_sweep_points: ClassVar[int] = 2500
    sweep_delay_adds: ClassVar[bool] = False  # a sweep's delay follows the auto source delay
    sense_class: ClassVar[type[SenseFunction]] = SenseFunction
    channel_suffix: str = ""

    sense_function = Setting(
        ':SENSe{ch}:FUNCtion "{value}"',
        "Measure function (quoted name)",
        values={"current": "CURRent", "voltage": "VOLTage"},
    )

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.sense_current = self.sense_class(self, "CURRent")
        self.sense_voltage = self.sense_class(self, "VOLTage")

    def command_fields(self) -> dict[str, object]:
        return {"ch": self.channel_suffix}

    def sense(self, function: Function) -> SenseFunction:
        return self.sense_current if function == "current" else self.sense_voltage

    # -- model hooks -----------------------------------------------------------------------

    def read_measurement(self, function: Function) -> float:
        """Take one reading of the selected measure function."""
        raise NotImplementedError

    def reading_query(self, function: Function) -> str:
        """The query `read_measurement` takes a reading of `function` with (for messages)."""
        return ":READ?"

    def run_sweep(self, plan: SweepPlan) -> SweepResult:
        """Run `plan` in the instrument's buffer; source, limit and sense are already set."""
        raise NotImplementedError

    # -- SourceMeter -----------------------------------------------------------------------

    def source_voltage(self, level: float, *, current_limit: float) -> None:
        """Source `level` V with the current limited to `current_limit` A."""
        apply_settings(
            self, source_function="voltage", current_limit=current_limit, voltage_setpoint=level
        )

    def source_current(self, level: float, *, voltage_limit: float) -> None:
        """Source `level` A with the voltage limited to `voltage_limit` V."""
        apply_settings(
            self, source_function="current", voltage_limit=voltage_limit, current_setpoint=level
        )

    def output_on(self) -> None:
        apply_settings(self, output_enabled=True)

    def output_off(self) -> None:
        apply_settings(self, output_enabled=False)

    def measure_current(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """One current reading in A (NaN when the instrument reports no value)."""
        return self._measure("current", range, nplc)

    def measure_voltage(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """One voltage reading in V (NaN when the instrument reports no value)."""
        return self._measure("voltage", range, nplc)

    def sweep_voltage(
        self,
        levels: Sequence[float],
        *,
        current_limit: float,
        delay: float | None = None,
        nplc: float | None = None,
    ) -> SweepResult:
        """Source each level (V) in the instrument's buffer and read the current at each."""
        return self._sweep(self._plan("voltage", levels, current_limit, delay, nplc))

    def sweep_current(
        self,
        levels: Sequence[float],
        *,
        voltage_limit: float,
        delay: float | None = None,
        nplc: float | None = None,
    ) -> SweepResult:
        """Source each level (A) in the instrument's buffer and read the voltage at each."""
        return self._sweep(self._plan("current", levels, voltage_limit, delay, nplc))

    def safe_state(self) -> None:
        """Output off first, then the present source function's level to 0.

        The error queue is drained only after both commands went out, so a stale error cannot
        stop the zeroing; calling it again is harmless.
        """
        off = declared(self, "output_enabled").command(self, False)
        self.write(off, check=False)
        try:
            functions = [declared(self, "source_function").read(self)]
        except InstrumentError:
            functions = list(KEYWORD)  # not known: both levels to 0
        for function in functions:
            self.write(declared(self, f"{function}_setpoint").command(self, 0), check=False)
        self.check_errors(after=f"safe state ({off}, source level 0)")

    def sweep_time(self, plan: SweepPlan) -> float:
        """The longest `plan` may take in the instrument (`SweepPlan.duration`), with the NPLC
        it asks for or, when it names none, the one the measure function has now (a query:
        call it before the sweep starts)."""
        nplc = plan.nplc if plan.nplc is not None else self.sense(plan.measured).nplc
        return plan.duration(nplc, delay_adds=self.sweep_delay_adds)

    # -- internals -------------------------------------------------------------------------

    def _measure(self, function: Function, range: float | None, nplc: float | None) -> float:
        sense = self.sense(function)
        settings: dict[str, object] = {"autorange": True} if range is None else {"range": range}
        if nplc is not None:
            settings["nplc"] = nplc
        check_settings(sense, **settings)  # a bad range or NPLC is refused before any command
        self._require_output(function)
        self.sense_function = function
        apply_settings(sense, **settings)
        value = self.read_measurement(function)
        if math.isnan(value):  # "no value": an overflow, or an error this reading queued
            self.check_errors(after=self.reading_query(function))
        return value

    def _require_output(self, function: Function) -> None:
        """A reading needs the output on: with it off the reading means nothing (NaN, or an
        error queued), so it is refused before anything is sent."""
        output = declared(self, "output_enabled")
        if not output.read(self):
            raise InstrumentError(
                f"cannot measure {function}: the output is off ({output.get_cmd} answered "
                "off); an SMU measures with its output on: call output_on() first",
                role=self.role,
                command=self.reading_query(function),
            )

    def _plan(
        self,
        source: Function,
        levels: Sequence[float],
        limit: float,
        delay: float | None,
        nplc: float | None,
    ) -> SweepPlan:
        try:
            plan = SweepPlan.create(source, levels, limit, delay, nplc)
        except (ValueError, TypeError) as exc:
            raise InvalidValueError(
                f"refused to sweep: {exc}; nothing was sent", role=self.role
            ) from None
        if plan.points > self.max_sweep_points:
            raise InvalidValueError(
                f"refused to sweep {plan.points} points: the {type(self).__name__} takes at "
                f"most {self.max_sweep_points}; nothing was sent",
                role=self.role,
            )
        return plan

    def _sweep(self, plan: SweepPlan) -> SweepResult:
        """Guard and validate every level and setting, then set up and run the sweep."""
        level = declared(self, plan.level_name)
        for value in plan.levels:
            level.check(self, float(value))
        check_settings(self, **{plan.limit_name: plan.limit})
        sense = self.sense(plan.measured)
        if plan.nplc is not None:
            check_settings(sense, nplc=plan.nplc)
        apply_settings(self, source_function=plan.source, **{plan.limit_name: plan.limit})
        self.sense_function = plan.measured
        if plan.nplc is not None:
            sense.nplc = plan.nplc
        return self.run_sweep(plan)
