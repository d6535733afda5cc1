"""Simulated Keithley 2450 SourceMeter speaking its native SCPI command set.

Source settings drive the load the output is wired to, whose current `:READ?` returns; errors
read `code,"message;type;time"`. Sweeps (`:SOURce:SWEep:<function>:LINear|LIST`) replace the
trigger model and `:INITiate` runs them point by point into `defbuffer1` for `:TRACe:DATA?`,
each point after the sweep's source delay (-1: auto) and with real timing taking its reading time.
`:TRIGger:LOAD "SimpleLoop"` loads the loop a current profile is captured with
(`k2450_trigger`): `:INITiate` runs it into the sized `defbuffer1`, sampling the load's current
(an MCU's or sensor's wake-ups, from `wake_schedule(source voltage)`) at the reading rate the
aperture, autozero and the loop's delay make, on the fixed range.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchtest.sim.models.load import Load
from benchtest.sim.models.power_profile import WakeSchedule
from benchtest.sim.server.journal import Journal
from benchtest.sim.server.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    TOO_MUCH_DATA,
    Request,
    ScpiError,
    choice_regex,
    header_regex,
    in_range,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
    unquote,
)
from benchtest.sim.server.timing import KEITHLEY_2450
from benchtest.sim.simulators.k2450_trigger import (
    MAX_BUFFER,
    READING_OVERHEAD,
    LoopRun,
    Readings,
    SimpleLoop,
    constant,
    loop_from_args,
    scheduled,
)
from benchtest.sim.simulators.smu import SourceMeterServer

MAX_VOLTAGE = 210.0
MAX_CURRENT = 1.05
MAX_LIST = 100  # values per :SOURce:LIST command
BLOCK_ROWS = 65_536  # loop readings computed at a time
BUFFERS = ("DEFBUFFER1", "DEFBUFFER2")
_ELEMENTS = choice_regex("READing", "SOURce", "RELative")
_TEMPLATES = choice_regex("SimpleLoop", "Empty", "DurationLoop", "ConfigList")
_RANGE_TYPES = choice_regex("AUTO", "BEST", "FIXed")


@dataclass(frozen=True)
class Sweep:
    """The trigger model a sweep command built: source `levels` of `function`, `count` times,
    waiting `delay` s after each source change (None: the auto delay)."""

    function: str
    levels: tuple[float, ...]
    count: int = 1
    delay: float | None = None


class Keithley2450(SourceMeterServer):
    """`KEITHLEY INSTRUMENTS INC.,MODEL 2450` in its native SCPI mode."""

    identity = "KEITHLEY INSTRUMENTS INC.,MODEL 2450,04412345,1.7.3c"
    timing_model = KEITHLEY_2450

    def __init__(
        self,
        world: Load,
        *,
        role: str = "smu",
        journal: Journal | None = None,
        port: int = 0,
        wake_schedule: Callable[[float], WakeSchedule | None] | None = None,
    ) -> None:
        self._buffer = Readings()
        self._lists: dict[str, list[float]] = {"VOLT": [], "CURR": []}
        self._sweep: Sweep | None = None
        self._loop: SimpleLoop | None = None
        self._run: LoopRun | None = None
        self._runs = 0
        self._readback = True
        self._born = time.monotonic()
        self.wake_schedule = wake_schedule  # the output's load's power profile, by voltage
        super().__init__(world, role=role, journal=journal, port=port)

    def format_error(self, code: int, message: str) -> str:
        if code == 0:
            return '0,"No error;0;0 0"'
        now = time.time()
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now))
        return f'{code},"{message};1;{stamp}.{int(now % 1 * 1000):03d}"'

    def reset(self) -> None:
        super().reset()
        self._sweep, self._loop, self._run = None, None, None
        self._buffer = Readings()
        self._lists = {"VOLT": [], "CURR": []}

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        # *OPC? and *WAI wait for a running SimpleLoop (ahead of the common commands' own).
        self._commands[:0] = [
            (header_regex("*OPC?"), self._operation_complete),
            (header_regex("*WAI"), lambda r: self._wait_for_loop()),
        ]
        self.command("*LANG?", lambda r: "SCPI")
        self.command("*LANG", self._set_language)
        self.register_source(":SOURce[1]:FUNCtion[:MODE]")
        self.register_number(
            ":SOURce[1]:VOLTage:ILIMit[:LEVel]", "current_limit", 1e-9, MAX_CURRENT
        )
        self.register_number(
            ":SOURce[1]:CURRent:VLIMit[:LEVel]", "voltage_limit", 0.02, MAX_VOLTAGE
        )
        self.command(":SOURce[1]:VOLTage:ILIMit[:LEVel]:TRIPped?", self.tripped)
        self.command(":SOURce[1]:CURRent:VLIMit[:LEVel]:TRIPped?", self.tripped)
        self.register_sense(":SENSe[1]")
        for function in ("VOLTage", "CURRent"):
            self._register_sweep(function)
            self._register_autozero(function)
        self.command(":SENSe[1]:AZERo:ONCE", lambda r: None)
        self.command(":READ?", self._read)
        self.command(":INITiate[:IMMediate]", self._initiate)
        self.command(":ABORt", self._abort)
        self.command(":TRIGger:LOAD", self._load_trigger_model)
        self.setting(":TRACe:POINts", self._points_query, self._set_points)
        self.setting(
            ":SOURce[1]:VOLTage:READ:BACK",
            lambda r: str(int(self._readback)),
            lambda r: setattr(self, "_readback", parse_bool(r.arg())),
        )
        self.command(":TRACe:ACTual?", self._actual)
        self.command(":TRACe:DATA?", self._data)
        self.command(":TRACe:CLEar", self._clear)
        self.command(":SYSTem:ERRor:COUNt?", lambda r: str(self.error_count()))
        self.command(":SYSTem:CLEar", lambda r: self.clear_status())

    def _register_sweep(self, function: str) -> None:
        key = function[:4].upper()
        self.command(f":MEASure:{function}[:DC]?", lambda r: self._measure(key, r))
        self.command(f":SOURce[1]:LIST:{function}", lambda r: self._set_list(key, r, False))
        self.command(f":SOURce[1]:LIST:{function}:APPend", lambda r: self._set_list(key, r, True))
        self.command(
            f":SOURce[1]:LIST:{function}?",
            lambda r: ",".join(self.number(v) for v in self._lists[key]),
        )
        self.command(f":SOURce[1]:SWEep:{function}:LINear", lambda r: self._linear(key, r))
        self.command(f":SOURce[1]:SWEep:{function}:LIST", lambda r: self._list_sweep(key, r))

    def _register_autozero(self, function: str) -> None:
        key = function[:4].upper()
        self.setting(
            f":SENSe[1]:{function}[:DC]:AZERo[:STATe]",
            lambda r: str(int(self._sense[key].autozero)),
            lambda r: self.set_autozero(parse_bool(r.arg()), key),
        )

    # -- handlers ----------------------------------------------------------------------------

    def _set_language(self, request: Request) -> None:
        if request.arg().upper() not in ("SCPI", "TSP", "SCPI2400"):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        # The real instrument switches only after a power cycle; the simulator stays in SCPI.

    def _read(self, request: Request) -> str:
        """`:READ? ["<buffer>"[,<element>...]]`: a reading, stored in the buffer as well."""
        if request.args:
            _buffer_name(request.args[0])
        elements = [parse_choice(e, _ELEMENTS) for e in request.args[1:]] or ["READING"]
        point = self._point()
        self._buffer.extend(np.array([[*point, 0.0]]), fill_once=False)
        return self._format_point((*point, 0.0), elements)

    def _point(self) -> tuple[float, float]:
        """What one measurement stores: the source level and the reading."""
        self.integrate(self.sense_function)
        return self.source_level(), self.reading(self.sense_function)

    def _measure(self, function: str, request: Request) -> str:
        self.sense_function = function
        return self._read(request)

    def _set_list(self, key: str, request: Request, append: bool) -> None:
        if not request.args or not request.args[0]:
            raise ScpiError(MISSING_PARAMETER, request.header)
        if len(request.args) > MAX_LIST:
            raise ScpiError(TOO_MUCH_DATA, f"{len(request.args)} values")
        limit = MAX_VOLTAGE if key == "VOLT" else MAX_CURRENT
        values = [in_range(parse_float(a), -limit, limit) for a in request.args]
        self._lists[key] = [*self._lists[key], *values] if append else values

    def _linear(self, key: str, request: Request) -> None:
        """`<start>,<stop>,<points>[,<delay>[,<count>[,<rangeType>[,<failAbort>[,<dual>
        [,"<buffer>"]]]]]]`."""
        args = request.args
        if len(args) < 3:
            raise ScpiError(MISSING_PARAMETER, request.text)
        start, stop = parse_float(args[0]), parse_float(args[1])
        points = int(in_range(parse_int(args[2]), 2, 1_000_000))
        delay, count = self._options(args[3:], delay_auto=True)
        levels = tuple(float(v) for v in np.linspace(start, stop, points))
        if len(args) > 7 and parse_bool(args[7]):
            levels += levels[::-1]
        self._sweep, self._loop = Sweep(key, levels, count, delay), None

    def _list_sweep(self, key: str, request: Request) -> None:
        """`<startIndex>[,<delay>[,<count>[,<failAbort>[,"<buffer>"]]]]`."""
        values = self._lists[key]
        if not request.args or not values:
            raise ScpiError(MISSING_PARAMETER, request.text)
        index = parse_int(request.args[0])
        in_range(index, 1, len(values))
        delay, count = self._options(request.args[1:3], delay_auto=False)
        if len(request.args) > 3:
            parse_bool(request.args[3])
        if len(request.args) > 4:
            _buffer_name(request.args[4])
        self._sweep = Sweep(key, tuple(values[index - 1 :]), count, delay)
        self._loop = None

    def _options(self, args: tuple[str, ...], *, delay_auto: bool) -> tuple[float | None, int]:
        """Check delay, count, rangeType, failAbort, dual and buffer; return the delay (None:
        auto, the default where allowed) and the count."""
        delay: float | None = None if delay_auto else 0.0
        if args:
            delay = parse_float(args[0])
            if not (delay == 0 or 50e-6 <= delay <= 10_000 or (delay_auto and delay == -1)):
                raise ScpiError(DATA_OUT_OF_RANGE, args[0])
            delay = None if delay == -1 else delay
        count = int(in_range(parse_int(args[1]), 1, 268_435_455)) if len(args) > 1 else 1
        if len(args) > 2:
            parse_choice(args[2], _RANGE_TYPES)
        for flag in args[3:5]:
            parse_bool(flag)
        if len(args) > 5:
            _buffer_name(args[5])
        return delay, count

    def _initiate(self, request: Request) -> None:
        """Run the trigger model: the SimpleLoop into defbuffer1, or the sweep (defbuffer1
        cleared, then every level through the load)."""
        if self._loop is not None:
            self._start_loop(self._loop)
            return
        if self._sweep is None:
            return
        self._buffer.clear()
        self._run = None
        sweep = self._sweep
        for _ in range(sweep.count):
            points = self.run_levels(sweep.function, sweep.levels, self._point, delay=sweep.delay)
            rows = np.array([[source, reading, 0.0] for source, reading in points])
            self._buffer.extend(rows.reshape(-1, 3), fill_once=False)

    def _load_trigger_model(self, request: Request) -> None:
        """`"SimpleLoop", <count>[, <delay>[, "<buffer>"]]` (the only template simulated)."""
        if not request.args:
            raise ScpiError(MISSING_PARAMETER, request.text)
        if parse_choice(unquote(request.args[0]), _TEMPLATES) != "SIMPLELOOP":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"template {request.args[0]} not simulated")
        if len(request.args) < 2:
            raise ScpiError(MISSING_PARAMETER, request.text)
        if len(request.args) > 3:
            _buffer_name(request.args[3])
        self._loop, self._sweep = loop_from_args(request.args[1:3], parse_int, parse_float), None

    def _start_loop(self, loop: SimpleLoop) -> None:
        settings = self._sense["CURR"]
        line = self.delays.timing.line_frequency
        aperture = settings.nplc / line
        reading = self.timing_model.reading_time(settings.nplc, line, settings.autozero)
        schedule = None
        if self.wake_schedule is not None and self.supply.output and self.supply.function == "VOLT":
            schedule = self.wake_schedule(self.supply.voltage)
        current = scheduled(schedule) if schedule is not None else constant(self.reading("CURR"))
        self._buffer.clear()
        self._runs += 1
        self._run = LoopRun(
            loop,
            interval=reading + READING_OVERHEAD + loop.delay,
            aperture=aperture,
            full_scale=None if settings.auto_range else settings.range,
            level=self.source_level(),
            current=current,
            phase=time.monotonic() - self._born,
            seed=(2450, self._runs),
        )

    def _operation_complete(self, request: Request) -> str:
        self._wait_for_loop()
        return "1"

    def _wait_for_loop(self) -> None:
        """Until the running SimpleLoop has taken its last reading (at once when instant)."""
        run = self._run
        if run is not None and run.stopped is None:
            last = min(run.loop.count, self._buffer.capacity) - 1
            self.delays.until(run.started + last * run.interval + run.aperture)

    def _abort(self, request: Request) -> None:
        if self._run is not None and self._run.stopped is None:
            self._run.stopped = self._run.due(self.delays.real)

    def _stored(self) -> int:
        """Readings in defbuffer1, after storing what a running loop has taken by now."""
        run = self._run
        if run is not None:
            wanted = min(run.due(self.delays.real), self._buffer.capacity)
            while run.made < wanted:
                self._buffer.extend(run.next_rows(min(BLOCK_ROWS, wanted - run.made)))
        return len(self._buffer)

    def _points_query(self, request: Request) -> str:
        if request.args:
            _buffer_name(request.args[0])
        return str(self._buffer.capacity)

    def _set_points(self, request: Request) -> None:
        """`<size>[,"<buffer>"]`: resizing clears the buffer."""
        if len(request.args) > 1:
            _buffer_name(request.args[1])
        size = parse_int(request.args[0]) if request.args and request.args[0] else 0
        if not 1 <= size <= MAX_BUFFER:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{request.args[0] if request.args else ''}")
        self._buffer, self._run = Readings(capacity=size), None

    def _actual(self, request: Request) -> str:
        if request.args:
            _buffer_name(request.args[0])
        return str(self._stored())

    def _clear(self, request: Request) -> None:
        if request.args:
            _buffer_name(request.args[0])
        self._buffer.clear()
        self._run = None

    def _data(self, request: Request) -> str:
        """`<start>,<end>[,"<buffer>"[,<element>...]]`, point after point."""
        if len(request.args) < 2:
            raise ScpiError(MISSING_PARAMETER, request.text)
        start, end = parse_int(request.args[0]), parse_int(request.args[1])
        stored = self._stored()
        if not 1 <= start <= end <= stored:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{start}..{end} of {stored}")
        if len(request.args) > 2:
            _buffer_name(request.args[2])
        elements = [parse_choice(e, _ELEMENTS) for e in request.args[3:]] or ["READING"]
        rows = self._buffer.rows(start - 1, end)
        column = {"SOURCE": 0, "READING": 1, "RELATIVE": 2}
        table = rows[:, [column[e] for e in elements]]
        return ",".join(self.number(float(v)) for v in table.ravel())

    def _format_point(self, point: tuple[float, float, float], elements: list[str]) -> str:
        source, reading, relative = point
        column = {"SOURCE": source, "READING": reading, "RELATIVE": relative}
        return ",".join(self.number(column[e]) for e in elements)


def _buffer_name(text: str) -> str:
    name = unquote(text)
    if name.upper() not in BUFFERS:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"no reading buffer {name!r}")
    return name
