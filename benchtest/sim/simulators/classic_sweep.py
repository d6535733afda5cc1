"""The source-subsystem sweep of the classic SCPI SMUs (Keithley 2400, Keysight B2900).

`:SOURce:<function>:MODE FIXed|SWEep|LIST`, `STARt`/`STOP`, `:SOURce:SWEep:POINts`, the source
list (at most 100 values per command on a 2400, then `:APPend`) and the trigger count decide
which levels one run sources; `levels()` returns them for the server to step through its load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from benchtest.sim.server.scpi import (
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    TOO_MUCH_DATA,
    Request,
    ScpiError,
    choice_regex,
    in_range,
    parse_choice,
    parse_float,
    parse_int,
)
from benchtest.sim.simulators.smu import SourceMeterServer

_MODES = choice_regex("FIXed", "SWEep", "LIST")
_SHORT = {"FIXED": "FIX", "SWEEP": "SWE", "LIST": "LIST"}


@dataclass
class SourceProgram:
    """Mode, staircase and list of one source function."""

    mode: str = "FIXED"
    start: float = 0.0
    stop: float = 0.0
    values: list[float] = field(default_factory=list)


class ClassicSweep:
    """Registers the sweep nodes on `server`; `trigger` is the trigger-subsystem node."""

    def __init__(
        self, server: SourceMeterServer, *, trigger: str, max_points: int, list_chunk: int
    ) -> None:
        self.server = server
        self.trigger = trigger
        self.max_points = max_points
        self.list_chunk = list_chunk
        self.reset()

    def reset(self) -> None:
        self.programs = {"VOLT": SourceProgram(), "CURR": SourceProgram()}
        self.points = 1
        self.count = 1

    def register(self) -> None:
        s = self.server
        s.setting(":SOURce[1]:SWEep:POINts", lambda r: str(self.points), self._set_points)
        s.setting(f"{self.trigger}:COUNt", lambda r: str(self.count), self._set_count)
        for function in ("VOLTage", "CURRent"):
            program = self.programs_of(function[:4].upper())
            node = f":SOURce[1]:{function}"
            s.setting(f"{node}:MODE", self._reader(program, "mode"), self._mode(program))
            for name, header in (("start", "STARt"), ("stop", "STOP")):
                s.setting(
                    f"{node}:{header}",
                    self._reader(program, name),
                    self._number(program, name),
                )
            s.command(f":SOURce[1]:LIST:{function}", self._list(program, append=False))
            s.command(f":SOURce[1]:LIST:{function}:APPend", self._list(program, append=True))
            s.command(f":SOURce[1]:LIST:{function}:POINts?", self._reader(program, "values"))

    def programs_of(self, key: str) -> Callable[[], SourceProgram]:
        """A getter, because `*RST` replaces the programs."""
        return lambda: self.programs[key]

    @property
    def fixed(self) -> bool:
        """The present source function sources one fixed level (no sweep, no list)."""
        return self.programs[self.server.supply.function].mode == "FIXED"

    def levels(self) -> list[float]:
        """The levels one run sources: the program of the present function, `count` points."""
        function = self.server.supply.function
        program = self.programs[function]
        if program.mode == "FIXED":
            return [self.server.source_level()] * self.count
        if program.mode == "SWEEP":
            cycle = [float(v) for v in np.linspace(program.start, program.stop, self.points)]
        else:
            cycle = program.values
        if not cycle:
            raise ScpiError(SETTINGS_CONFLICT, "the source list is empty")
        return [cycle[i % len(cycle)] for i in range(self.count)]

    # -- handlers ------------------------------------------------------------------------

    def _set_points(self, request: Request) -> None:
        self.points = int(in_range(parse_int(request.arg()), 1, self.max_points))

    def _set_count(self, request: Request) -> None:
        self.count = int(in_range(parse_int(request.arg()), 1, self.max_points))

    def _reader(self, program: Callable[[], SourceProgram], name: str) -> Callable[[Request], str]:
        """The query of a program field: the mode's short form, a number, or a list's length."""

        def read(request: Request) -> str:
            value = getattr(program(), name)
            if name == "mode":
                return _SHORT[value]
            return str(len(value)) if name == "values" else self.server.number(value)

        return read

    def _mode(self, program: Callable[[], SourceProgram]) -> Callable[[Request], None]:
        def write(request: Request) -> None:
            program().mode = parse_choice(request.arg(), _MODES)

        return write

    def _number(self, program: Callable[[], SourceProgram], name: str) -> Callable[[Request], None]:
        def write(request: Request) -> None:
            setattr(program(), name, parse_float(request.arg()))

        return write

    def _list(
        self, program: Callable[[], SourceProgram], *, append: bool
    ) -> Callable[[Request], None]:
        def write(request: Request) -> None:
            if not request.args or not request.args[0]:
                raise ScpiError(MISSING_PARAMETER, request.header)
            if len(request.args) > self.list_chunk:
                raise ScpiError(TOO_MUCH_DATA, f"{len(request.args)} values")
            values = [parse_float(a) for a in request.args]
            values = [*program().values, *values] if append else values
            if len(values) > self.max_points:
                raise ScpiError(TOO_MUCH_DATA, f"{len(values)} list points")
            program().values = values

        return write
