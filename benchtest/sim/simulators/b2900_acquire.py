"""The simulated B2900's timer-paced acquisition into its trace buffer (current profiling).

`:SENSe<c>:FUNCtion:ON "CURR","VOLT"` turns several measure functions on, `:SENSe<c>:<function>:
APERture` sets the integration time, `:TRIGger<c>:ACQuire:SOURce TIMer` with `:TIMer <interval>`
and `:COUNt <n>` pace the acquisition, `:TRACe<c>:FEED SENSe`, `:POINts <n>` and
`:FEED:CONTrol NEXT` fill the trace buffer, `:INITiate:ACQuire (@1)` starts it and
`:ABORt:ACQuire (@1)` stops it. `:TRACe<c>:POINts:ACTual?` counts what is stored and
`:TRACe<c>:DATA? <offset>,<size>` reads the `:FORMat:ELEMents:SENSe` elements in the
instrument's fixed order (voltage before current). As the guide has it, the buffer keeps what
earlier acquisitions stored until `:TRACe<c>:CLEar`, writing (NEXT) stops by itself once the
buffer is full, and `:TRACe<c>:CLEar`, `:FEED` and `:POINts` are refused (-221) while it
writes. With real
timing the points arrive one timer interval apart, each `:TRIGger<c>:ACQuire:DELay` after its
trigger (the first trigger is at `:INITiate:ACQuire`); with instant timing all at once. Each
point reads the world when it is first read out (what the DUT draws then).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from benchtest.sim.server.scpi import (
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    Request,
    ScpiError,
    choice_regex,
    in_range,
    parse_choice,
    parse_float,
    parse_int,
    unquote,
)
from benchtest.sim.server.timing import Delays

MAX_POINTS = 100_000
MIN_INTERVAL = 2e-5  # s, the B2901A's shortest timer interval
_FUNCTIONS = choice_regex("CURRent", "VOLTage")
_SOURCES = choice_regex("AINT", "BUS", "TIMer", "INT1", "INT2", "LAN", "EXT1")
_FEEDS = choice_regex("SENSe", "MATH", "NONE")
_CONTROLS = choice_regex("NEXT", "NEVer")


class AcquiringSmu(Protocol):
    """What the acquisition needs of the B2900 simulator (`KeysightB2900`)."""

    sense_function: str
    delays: Delays

    def command(self, pattern: str, handler: Callable[[Request], str | None]) -> None: ...

    def setting(
        self, pattern: str, query: Callable[[Request], str], write: Callable[[Request], None]
    ) -> None: ...

    def number(self, value: float) -> str: ...

    def reading(self, function: str) -> float: ...


@dataclass
class TimerAcquisition:
    """The acquire trigger layer and the trace buffer of channel 1."""

    smu: AcquiringSmu
    elements: Callable[[], Sequence[str]]  # the :FORMat:ELEMents:SENSe in output order
    delay: Callable[[], float] = lambda: 0.0  # s, the :TRIGger:ACQuire:DELay after each trigger
    functions: set[str] = field(default_factory=lambda: {"CURR"})
    source: str = "AINT"
    interval: float = MIN_INTERVAL
    count: int = 1
    buffer_size: int = MAX_POINTS
    feeding: bool = False
    started: float | None = None  # monotonic time of :INITiate:ACQuire
    stored: list[dict[str, float]] = field(default_factory=list)  # by this acquisition
    kept: list[dict[str, float]] = field(default_factory=list)  # by earlier ones, not cleared

    def register(self) -> None:
        """Register the acquisition commands (before the simulator's own: they come first)."""
        smu = self.smu
        smu.setting(":SENSe[1]:FUNCtion[:ON]", self._functions_query, self._set_functions)
        for function in ("CURRent", "VOLTage"):
            smu.setting(
                f":SENSe[1]:{function}[:DC]:APERture",
                lambda r: smu.number(8e-6),
                lambda r: self._aperture(r),
            )
        smu.setting(":TRIGger[1]:ACQuire:SOURce[:SIGNal]", lambda r: self.source, self._source)
        smu.setting(":TRIGger[1]:ACQuire:TIMer", lambda r: smu.number(self.interval), self._timer)
        smu.setting(":TRIGger[1]:ACQuire:COUNt", lambda r: str(self.count), self._count)
        smu.setting(":TRACe[1]:FEED", lambda r: "SENS", self._feed)
        smu.setting(":TRACe[1]:POINts", lambda r: str(self.buffer_size), self._points)
        smu.setting(":TRACe[1]:FEED:CONTrol", self._control_query, self._control)
        smu.command(":TRACe[1]:CLEar", self._clear)
        smu.command(":TRACe[1]:POINts:ACTual?", lambda r: f"+{self._available()}")
        smu.command(":TRACe[1]:DATA?", self._data)
        smu.command(":INITiate[:IMMediate]:ACQuire", self._initiate)
        smu.command(":ABORt:ACQuire", self._abort)

    # -- settings ------------------------------------------------------------------------

    def _functions_query(self, request: Request) -> str:
        return ",".join(f'"{f}"' for f in sorted(self.functions))

    def _set_functions(self, request: Request) -> None:
        names = [parse_choice(unquote(a).upper().removesuffix(":DC"), _FUNCTIONS)[:4]
                 for a in request.args if a]  # fmt: skip
        if not names:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        self.functions = set(names)
        self.smu.sense_function = names[0]

    def _aperture(self, request: Request) -> None:
        in_range(parse_float(request.arg()), 8e-6, 2.0)

    def _source(self, request: Request) -> None:
        self.source = parse_choice(request.arg(), _SOURCES)

    def _timer(self, request: Request) -> None:
        self.interval = in_range(parse_float(request.arg()), MIN_INTERVAL, 1e5)

    def _count(self, request: Request) -> None:
        self.count = int(in_range(parse_int(request.arg()), 1, MAX_POINTS))

    def _feed(self, request: Request) -> None:
        self._not_writing(request)
        parse_choice(request.arg(), _FEEDS)

    def _points(self, request: Request) -> None:
        self._not_writing(request)
        self.buffer_size = int(in_range(parse_int(request.arg()), 1, MAX_POINTS))

    def _clear(self, request: Request) -> None:
        request.no_args()
        self._not_writing(request)
        self.kept, self.stored = [], []

    def _writing(self) -> bool:
        """NEXT until the buffer is full, when the mode turns NEV by itself."""
        return self.feeding and self._available() < self.buffer_size

    def _not_writing(self, request: Request) -> None:
        if self._writing():
            raise ScpiError(SETTINGS_CONFLICT, f"{request.text} while the trace buffer writes")

    def _control_query(self, request: Request) -> str:
        return "NEXT" if self._writing() else "NEV"

    def _control(self, request: Request) -> None:
        self.feeding = parse_choice(request.arg(), _CONTROLS).startswith("NEXT")

    # -- the acquisition -----------------------------------------------------------------

    def _initiate(self, request: Request) -> None:
        if request.args and request.args[0].replace(" ", "") not in ("(@1)", ""):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"channel list {request.args[0]}")
        self._available()
        self.kept, self.stored = self.kept + self.stored, []
        self.started = time.monotonic()

    def _abort(self, request: Request) -> None:
        self._available()
        self.count = min(self.count, len(self.stored))
        self.started = None

    def _due(self) -> int:
        """Points the acquisition has taken by now."""
        if self.started is None:
            return len(self.stored)
        taken = self.count
        if self.smu.delays.real:
            since = time.monotonic() - self.started - self.delay()  # since the first point
            if since < 0:
                taken = 0
            elif self.source == "TIMER":
                taken = min(self.count, int(since / self.interval) + 1)
        return max(0, min(taken, self.buffer_size - len(self.kept))) if self.feeding else 0

    def _available(self) -> int:
        while len(self.stored) < self._due():
            self.stored.append(
                {"CURRENT": self.smu.reading("CURR"), "VOLTAGE": self.smu.reading("VOLT")}
            )
        return len(self.kept) + len(self.stored)

    def _data(self, request: Request) -> str:
        available = self._available()
        offset = parse_int(request.args[0]) if request.args and request.args[0] else 0
        size = parse_int(request.args[1]) if len(request.args) > 1 else available - offset
        if not (offset >= 0 and size >= 0 and offset + size <= available):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{offset},{size} of {available} points")
        names = [e for e in self.elements() if e in ("CURRENT", "VOLTAGE")]
        points = (self.kept + self.stored)[offset : offset + size]
        return ",".join(self.smu.number(p[e]) for p in points for e in names)
