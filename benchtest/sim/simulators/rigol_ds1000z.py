"""Simulated Rigol DS1000Z oscilloscope (DS1104Z) speaking the DS1000Z programming-guide dialect.

Channel, timebase, trigger and acquisition settings; run/stop/single with `:TRIGger:STATus?`;
`:WAVeform:PREamble?` and `:WAVeform:DATA?` blocks (`#9` header, one LF, at most 250 000 BYTE
points per read, RAW only when stopped); `:MEASure:ITEM?`. The traces are the world's nets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from benchtest.sim.server.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    Request,
    ScpiError,
    choice_regex,
    in_range,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
)
from benchtest.sim.server.timing import RIGOL_DS1000Z, ScopeTiming
from benchtest.sim.simulators.scope_acquisition import (
    DS1000Z_MEMORY,
    SCREEN_POINTS,
    Y_REFERENCE,
    ChannelSettings,
    Memory,
    Record,
    channel_group,
)
from benchtest.sim.simulators.scope_measure import ITEM_NAMES, NOT_MEASURABLE, measure
from benchtest.sim.simulators.scope_server import CHANNELS, ScopeServer

MAX_POINTS_PER_READ = {"BYTE": 250_000, "WORD": 125_000, "ASCII": 15_625}
FORMAT_CODE = {"BYTE": 0, "WORD": 1, "ASCII": 2}
MODE_CODE = {"NORMAL": 0, "MAXIMUM": 1, "RAW": 2}
PREAMBLE_FIELDS = ("FORMAT", "TYPE", "POINTS", "COUNT", "XINCREMENT", "XORIGIN", "XREFERENCE",
                   "YINCREMENT", "YORIGIN", "YREFERENCE")  # fmt: skip
PROBE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
_COUPLINGS = choice_regex("AC", "DC", "GND")
_SLOPES = choice_regex("POSitive", "NEGative", "RFALl")
_SWEEPS = choice_regex("AUTO", "NORMal", "SINGle")
_WAVE_MODES = choice_regex("NORMal", "MAXimum", "RAW")
_FORMATS = choice_regex("BYTE", "WORD", "ASCii")
_SHORT = {"POSITIVE": "POS", "NEGATIVE": "NEG", "RFALL": "RFAL", "NORMAL": "NORM",
          "SINGLE": "SING", "MAXIMUM": "MAX", "ASCII": "ASC"}  # fmt: skip


def nr3(value: float) -> str:
    """Rigol's number format: `1.000000e+00`."""
    return f"{value:.6e}"


def short(token: str) -> str:
    return _SHORT.get(token, token)


def block(payload: bytes) -> bytes:
    """A TMC block: `#9`, the 9-digit byte count, the payload and one LF."""
    return b"#9%09d" % len(payload) + payload + b"\n"


class RigolDS1000Z(ScopeServer):
    """`RIGOL TECHNOLOGIES,DS1104Z`: four channels; `channel_nets` maps channel -> world net.

    The class attributes describe the model (grid and memory, screen points, probe ratios,
    per-read point limits, V/div at a 1x probe and s/div ranges) so that a family member with
    the same dialect is a subclass that changes only them.
    """

    identity = "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP3"
    memory: ClassVar[Memory] = DS1000Z_MEMORY
    screen_points: ClassVar[int] = SCREEN_POINTS
    probe_ratios: ClassVar[tuple[float, ...]] = PROBE_RATIOS
    max_points_per_read: ClassVar[Mapping[str, int]] = MAX_POINTS_PER_READ
    scale_range: ClassVar[tuple[float, float]] = (1e-3, 10.0)
    offset_ranges: ClassVar[tuple[float, float, float]] = (0.5, 2.0, 100.0)
    timebase_range: ClassVar[tuple[float, float]] = (5e-9, 50.0)
    timing_model: ClassVar[ScopeTiming] = RIGOL_DS1000Z

    def _defaults(self) -> None:
        super()._defaults()
        self.wave_source, self.wave_mode, self.wave_format = 1, "NORMAL", "BYTE"
        self.wave_start, self.wave_stop = 1, self.screen_points
        self.measure_source = 1

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        self._register_channels()
        self._register_timebase_and_acquire()
        self._register_trigger()
        self._register_waveform()
        self.command(
            ":MEASure:SOURce", lambda r: setattr(self, "measure_source", _channel(r.arg()))
        )
        self.command(":MEASure:SOURce?", lambda r: f"CHAN{self.measure_source}")
        self.command(":MEASure:ITEM?", self._measure)

    def _register_channels(self) -> None:
        node = ":CHANnel<n>"
        self.setting(
            f"{node}:DISPlay",
            lambda r: str(int(self.channel(r).display)),
            lambda r: setattr(self.channel(r), "display", parse_bool(r.arg())),
        )
        self.setting(f"{node}:SCALe", lambda r: nr3(self.channel(r).scale), self._set_scale)
        self.setting(f"{node}:OFFSet", lambda r: nr3(self.channel(r).offset), self._set_offset)
        self.setting(
            f"{node}:COUPling",
            lambda r: self.channel(r).coupling,
            lambda r: setattr(self.channel(r), "coupling", parse_choice(r.arg(), _COUPLINGS)),
        )
        self.setting(f"{node}:PROBe", lambda r: nr3(self.channel(r).probe), self._set_probe)
        self.setting(
            f"{node}:BWLimit",
            lambda r: self.channel(r).bwlimit,
            lambda r: setattr(self.channel(r), "bwlimit", _bwlimit(r.arg())),
        )

    def _register_timebase_and_acquire(self) -> None:
        self.setting(
            ":TIMebase[:MAIN]:SCALe", lambda r: nr3(self.timebase_scale), self._set_timebase
        )
        self.setting(
            ":TIMebase[:MAIN]:OFFSet",
            lambda r: nr3(self.timebase_offset),
            lambda r: setattr(self, "timebase_offset", parse_float(r.arg())),
        )
        self.command(":ACQuire:SRATe?", lambda r: nr3(self.geometry().srate))
        self.setting(
            ":ACQuire:MDEPth",
            lambda r: "AUTO" if self.memory_depth is None else str(self.memory_depth),
            self._set_memory_depth,
        )
        self.command(":RUN", lambda r: self.acquisition.run())
        self.command(":STOP", lambda r: self.acquisition.stop(self.geometry()))
        self.command(":SINGle", self._single)
        self.command(":TFORce", lambda r: self.acquisition.force())

    def _register_trigger(self) -> None:
        t = ":TRIGger"
        self.setting(f"{t}:MODE", lambda r: self.trigger.mode, self._set_trigger_mode)
        self.setting(
            f"{t}:EDGe:SOURce",
            lambda r: f"CHAN{self.trigger.source}",
            lambda r: setattr(self.trigger, "source", _channel(r.arg())),
        )
        self.setting(
            f"{t}:EDGe:SLOPe",
            lambda r: short(self.trigger.slope),
            lambda r: setattr(self.trigger, "slope", parse_choice(r.arg(), _SLOPES)),
        )
        self.setting(
            f"{t}:EDGe:LEVel",
            lambda r: nr3(self.trigger.level),
            lambda r: setattr(self.trigger, "level", parse_float(r.arg())),
        )
        self.setting(
            f"{t}:SWEep",
            lambda r: short(self.trigger.sweep),
            lambda r: setattr(self.trigger, "sweep", parse_choice(r.arg(), _SWEEPS)),
        )
        self.command(f"{t}:STATus?", self._status)

    def _register_waveform(self) -> None:
        w = ":WAVeform"
        self.setting(
            f"{w}:SOURce",
            lambda r: f"CHAN{self.wave_source}",
            lambda r: setattr(self, "wave_source", _channel(r.arg())),
        )
        self.setting(
            f"{w}:MODE",
            lambda r: short(self.wave_mode),
            lambda r: setattr(self, "wave_mode", parse_choice(r.arg(), _WAVE_MODES)),
        )
        self.setting(
            f"{w}:FORMat",
            lambda r: short(self.wave_format),
            lambda r: setattr(self, "wave_format", parse_choice(r.arg(), _FORMATS)),
        )
        self.setting(f"{w}:STARt", lambda r: str(self.wave_start), self._set_wave_start)
        self.setting(f"{w}:STOP", lambda r: str(self.wave_stop), self._set_wave_stop)
        self.command(f"{w}:PREamble?", lambda r: ",".join(self._preamble()))
        fields = ("XINCrement", "XORigin", "XREFerence", "YINCrement", "YORigin", "YREFerence")
        for name in fields:
            self.command(f"{w}:{name}?", self._preamble_field(PREAMBLE_FIELDS.index(name.upper())))
        self.command(f"{w}:DATA?", self._data)

    # -- settings ----------------------------------------------------------------------------

    def _set_scale(self, request: Request) -> None:
        self.set_scale(self.channel(request), parse_float(request.arg()))

    def _set_offset(self, request: Request) -> None:
        self.set_offset(self.channel(request), parse_float(request.arg()))

    def _set_probe(self, request: Request) -> None:
        self.set_probe(self.channel(request), parse_float(request.arg()))

    def _set_timebase(self, request: Request) -> None:
        self.set_timebase(parse_float(request.arg()))

    def _set_memory_depth(self, request: Request) -> None:
        if not self.acquisition.running:
            raise ScpiError(SETTINGS_CONFLICT, "memory depth can only be set while running")
        text = request.arg().upper()
        if text == "AUTO":
            self.memory_depth = None
            return
        displayed = sum(c.display for c in self.channels.values())
        depth = parse_int(text)
        if depth not in self.memory.depths[channel_group(displayed)]:
            raise ScpiError(DATA_OUT_OF_RANGE, request.text)
        self.memory_depth = depth

    def _set_trigger_mode(self, request: Request) -> None:
        if request.arg().upper() != "EDGE":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "only EDGE triggering is simulated")
        self.trigger.mode = "EDGE"

    def _single(self, request: Request) -> None:
        self.trigger.sweep = "SINGLE"
        self.acquisition.run()

    def _status(self, request: Request) -> str:
        """TD, WAIT, RUN (still filling the pre-trigger part: not yet waiting), AUTO or STOP."""
        geometry = self.geometry()
        self.acquisition.update(self.trigger, geometry)
        status = self.acquisition.status(self.trigger, geometry)
        return "RUN" if status == "ARM" else status

    def _set_wave_start(self, request: Request) -> None:
        self.wave_start = int(in_range(parse_int(request.arg()), 1, self._record_points()))

    def _set_wave_stop(self, request: Request) -> None:
        self.wave_stop = int(in_range(parse_int(request.arg()), 1, self._record_points()))

    # -- waveform readout --------------------------------------------------------------------

    def _raw(self) -> bool:
        """Whether reads come from memory (RAW, or MAXimum when stopped) or the screen."""
        if self.wave_mode == "MAXIMUM":
            return not self.acquisition.running
        return self.wave_mode == "RAW"

    def _record(self) -> Record:
        """The acquisition to read: frozen when stopped, live while running."""
        geometry = self.geometry()
        self.acquisition.update(self.trigger, geometry)
        return self.acquisition.record(geometry)

    def _record_points(self) -> int:
        return self._record().geometry.points if self._raw() else self.screen_points

    def _preamble(self) -> list[str]:
        g = self._record().geometry
        points, xinc, xorigin = (
            (g.points, 1 / g.srate, g.raw_xorigin) if self._raw()
            else (self.screen_points, g.screen_xinc, g.screen_xorigin)
        )  # fmt: skip
        channel = self.channels[self.wave_source]
        return [
            str(FORMAT_CODE[self.wave_format]), str(MODE_CODE[self.wave_mode]), str(points), "1",
            nr3(xinc), nr3(xorigin), "0", nr3(channel.yinc), str(channel.yorigin), str(Y_REFERENCE),
        ]  # fmt: skip

    def _preamble_field(self, index: int) -> Callable[[Request], str]:
        return lambda request: self._preamble()[index]

    def _data(self, request: Request) -> bytes:
        request.no_args()
        record = self._record()
        if self.wave_mode == "RAW" and self.acquisition.running:
            self.push_error(*SETTINGS_CONFLICT)  # RAW reads need a stopped scope
            return block(b"")
        total = record.geometry.points if self._raw() else self.screen_points
        start, stop = self.wave_start, min(self.wave_stop, total)
        count = stop - start + 1
        if count < 1 or count > self.max_points_per_read[self.wave_format]:
            self.push_error(*DATA_OUT_OF_RANGE)
            return block(b"")
        codes = self._codes(record, self.wave_source, self._raw(), start - 1, count)
        return block(self._encode(codes, self.channels[self.wave_source]))

    def _codes(
        self, record: Record, channel: int, raw: bool, start: int, count: int
    ) -> npt.NDArray[np.uint8]:
        settings = self.channels[channel]
        if settings.coupling == "GND":
            return settings.to_codes(np.zeros(count))
        return settings.to_codes(self.acquisition.volts(record, channel, raw, start, count))

    def _encode(self, codes: npt.NDArray[np.uint8], channel: ChannelSettings) -> bytes:
        if self.wave_format == "WORD":
            return codes.astype("<u2").tobytes()
        if self.wave_format == "ASCII":
            return ",".join(nr3(v) for v in channel.to_volts(codes)).encode("ascii")
        return codes.tobytes()

    def _measure(self, request: Request) -> str:
        if not request.args or len(request.args) > 2:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        item = parse_choice(request.args[0], ITEM_NAMES)
        number = _channel(request.args[1]) if len(request.args) > 1 else self.measure_source
        record = self._record()
        channel = self.channels[number]
        if not channel.display:
            return NOT_MEASURABLE
        volts = channel.to_volts(self._codes(record, number, False, 0, self.screen_points))
        return measure(item, volts, record.geometry.screen_xinc, 8 * channel.scale)


def _channel(text: str) -> int:
    """`CHANnel2` / `CHAN2` -> 2; -224 for other sources."""
    upper = text.strip().upper()
    for prefix in ("CHANNEL", "CHAN"):
        digits = upper.removeprefix(prefix)
        if digits != upper and digits.isdigit() and 1 <= int(digits) <= CHANNELS:
            return int(digits)
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)


def _bwlimit(text: str) -> str:
    token = text.strip().upper()
    if token not in ("20M", "OFF"):
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
    return token
