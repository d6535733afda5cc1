"""Simulated Siglent SDS2000X Plus (SDS2104X Plus) speaking the SCPI `:WAVeform` command set.

`:WAVeform:PREamble?` answers a `#9000000346` block holding the binary WAVEDESC (30 codes per
division at 8 bits, scaled up at 10 bits); `:WAVeform:DATA?` answers `#9…` with int8 (BYTE) or
little-endian int16 (WORD) codes and two LF, at most `:WAVeform:MAXPoint?` points per read,
from `:WAVeform:STARt`, every `:WAVeform:INTerval`-th point. Errors set the `*ESR?` bits.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from benchtest.sim.server.scpi import (
    ILLEGAL_PARAMETER_VALUE,
    Request,
    ScpiError,
    choice_regex,
    in_range,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
)
from benchtest.sim.server.timing import SIGLENT_SDS2000XP, ScopeTiming
from benchtest.sim.simulators.scope_acquisition import Memory
from benchtest.sim.simulators.scope_server import CHANNELS
from benchtest.sim.simulators.siglent_scope import SiglentScope, three_digits
from benchtest.sim.simulators.wavedesc import Descriptor

_DEPTHS = (10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
SDS2000XP_MEMORY = Memory(
    divisions=10,
    depths={1: (*_DEPTHS, 200_000_000), 2: _DEPTHS, 4: _DEPTHS},
    max_rate={1: 2e9, 2: 2e9, 4: 1e9},
)
MAX_POINTS_PER_READ = 5_000_000  # this simulator's `:WAVeform:MAXPoint?`
STATUS = {"STOP": "Stop", "TD": "Trig'd", "AUTO": "Auto", "WAIT": "Ready", "ARM": "Arm"}
SWEEP_NAMES = {"AUTO": "AUTO", "NORMAL": "NORMal", "SINGLE": "SINGle"}
SLOPES = {"RISING": "POSITIVE", "FALLING": "NEGATIVE", "ALTERNATE": "RFALL"}
MEASURE_ITEMS = {"PKPK": "VPP", "MAX": "VMAX", "MIN": "VMIN", "AMPL": "VAMP", "TOP": "VTOP",
                 "BASE": "VBASE", "MEAN": "VAVG", "RMS": "VRMS", "RISE": "RTIME",
                 "FALL": "FTIME"}  # fmt: skip
_COUPLINGS = choice_regex("DC", "AC", "GND")
_SWEEPS = choice_regex("AUTO", "NORMal", "SINGle", "FTRIG")
_SLOPES = choice_regex("RISing", "FALLing", "ALTernate")
_WIDTHS = choice_regex("BYTE", "WORD")
_MODES = choice_regex("SIMPle", "ADVanced")
_RESOLUTIONS = {"8BITS": 8, "10BITS": 10}


def nr3(number: float) -> str:
    """The SDS reply format for numbers: `5.00E-01`."""
    return f"{number:.2E}"


def source_number(text: str) -> int:
    """`C2` -> 2; -224 for anything else."""
    token = text.strip().upper()
    if token[:1] == "C" and token[1:].isdigit() and 1 <= int(token[1:]) <= CHANNELS:
        return int(token[1:])
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)


class SiglentSDS2000XPlus(SiglentScope):
    """`Siglent Technologies,SDS2104X Plus`: four channels on the world's nets."""

    identity = "Siglent Technologies,SDS2104X Plus,SDS2PCBQ000001,1.3.9R10"
    memory: ClassVar[Memory] = SDS2000XP_MEMORY
    timing_model: ClassVar[ScopeTiming] = SIGLENT_SDS2000XP
    codes_per_division: ClassVar[int] = 30
    probe_ratios: ClassVar[tuple[float, ...]] = ()  # any ratio: `:PROBe VALue,<x>`
    timebase_range: ClassVar[tuple[float, float]] = (1e-9, 1000.0)
    max_points_per_read: int = MAX_POINTS_PER_READ  # `:WAVeform:MAXPoint?`; set per instance

    def _defaults(self) -> None:
        super()._defaults()
        self.wave_source, self.wave_start, self.wave_points, self.wave_interval = 1, 0, 0, 1
        self.wave_width = "BYTE"
        self.measure_on, self.measure_mode, self.measure_source = False, "SIMPLE", 1
        self.simple_items: set[str] = set()  # shown by `:MEASure:SIMPle:ITEM <type>,ON`

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        self._register_channels()
        self._register_acquisition()
        self._register_trigger()
        self._register_waveform()
        self._register_measure()

    def _register_channels(self) -> None:
        node = ":CHANnel<n>"
        self.setting(f"{node}:SWITch", lambda r: _on_off(self.channel(r).display), self._switch)
        self.setting(f"{node}:SCALe", lambda r: nr3(self.channel(r).scale), self._scale)
        self.setting(f"{node}:OFFSet", lambda r: nr3(self.channel(r).offset), self._offset)
        self.setting(f"{node}:COUPling", lambda r: self.channel(r).coupling, self._coupling)
        self.setting(f"{node}:PROBe", lambda r: nr3(self.channel(r).probe), self._probe)

    def _register_acquisition(self) -> None:
        self.setting(":TIMebase:SCALe", lambda r: nr3(self.timebase_scale), self._tdiv)
        self.setting(":TIMebase:DELay", lambda r: nr3(self.timebase_offset), self._delay)
        self.command(":ACQuire:SRATe?", lambda r: nr3(self.refresh().geometry.srate))
        self.command(":ACQuire:POINts?", lambda r: str(self.refresh().geometry.points))
        self.setting(":ACQuire:RESolution", lambda r: f"{self.adc_bits}Bits", self._resolution)

    def _register_trigger(self) -> None:
        t = ":TRIGger"
        self.setting(f"{t}:MODE", lambda r: SWEEP_NAMES[self.trigger.sweep], self._mode)
        self.command(f"{t}:RUN", lambda r: self.acquisition.run())
        self.command(f"{t}:STOP", lambda r: self.stop_acquisition())
        self.command(f"{t}:STATus?", lambda r: self._status())
        self.setting(f"{t}:TYPE", lambda r: "EDGE", self._type)
        self.setting(f"{t}:EDGE:SOURce", lambda r: f"C{self.trigger.source}", self._trigger_source)
        self.setting(f"{t}:EDGE:SLOPe", lambda r: self._slope_name(), self._slope)
        self.setting(f"{t}:EDGE:LEVel", lambda r: nr3(self.trigger.level), self._level)

    def _register_waveform(self) -> None:
        w = ":WAVeform"
        self.setting(f"{w}:SOURce", lambda r: f"C{self.wave_source}", self._wave_source)
        self.setting(f"{w}:STARt", lambda r: str(self.wave_start), self._wave_start)
        self.setting(f"{w}:POINt", lambda r: str(self.wave_points), self._wave_points)
        self.setting(f"{w}:INTerval", lambda r: str(self.wave_interval), self._wave_interval)
        self.setting(f"{w}:WIDTh", lambda r: self.wave_width, self._wave_width)
        self.command(f"{w}:MAXPoint?", lambda r: str(self.max_points_per_read))
        self.command(f"{w}:PREamble?", lambda r: self._preamble())
        self.command(f"{w}:DATA?", lambda r: self._data())

    def _register_measure(self) -> None:
        m = ":MEASure"
        self.setting(m, lambda r: _on_off(self.measure_on), self._measure_switch)
        self.setting(f"{m}:MODE", lambda r: self.measure_mode.title(), self._measure_mode)
        self.setting(f"{m}:SIMPle:SOURce", lambda r: f"C{self.measure_source}", self._simple_source)
        self.command(f"{m}:SIMPle:ITEM", self._simple_item)
        self.command(f"{m}:SIMPle:VALue?", self._simple_value)

    # -- channel and horizontal settings -----------------------------------------------------

    def _switch(self, request: Request) -> None:
        self.channel(request).display = parse_bool(request.arg())

    def _scale(self, request: Request) -> None:
        self.set_scale(self.channel(request), parse_float(request.arg()))

    def _offset(self, request: Request) -> None:
        self.set_offset(self.channel(request), parse_float(request.arg()))

    def _coupling(self, request: Request) -> None:
        self.channel(request).coupling = parse_choice(request.arg(), _COUPLINGS)

    def _probe(self, request: Request) -> None:
        """`VALue,<x>` or `DEFault` (1x); a bare number is not the documented form."""
        channel, args = self.channel(request), [a.upper() for a in request.args]
        if args == ["DEFAULT"] or args == ["DEF"]:
            channel.change_probe(1.0)
        elif len(args) == 2 and args[0] in ("VALUE", "VAL"):
            channel.change_probe(in_range(parse_float(args[1]), 1e-6, 1e6))
        else:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)

    def _tdiv(self, request: Request) -> None:
        self.set_timebase(parse_float(request.arg()))

    def _delay(self, request: Request) -> None:
        self.timebase_offset = parse_float(request.arg())

    def _resolution(self, request: Request) -> None:
        token = request.arg().upper()
        if token not in _RESOLUTIONS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        self.adc_bits = _RESOLUTIONS[token]

    # -- trigger -----------------------------------------------------------------------------

    def _mode(self, request: Request) -> None:
        sweep = parse_choice(request.arg(), _SWEEPS)
        if sweep == "FTRIG":
            self.acquisition.force()
        elif sweep == "SINGLE":
            self.arm_single()
        else:
            self.trigger.sweep = sweep
            self.acquisition.run()

    def _status(self) -> str:
        self.refresh()
        return STATUS[self.acquisition.status(self.trigger, self.geometry())]

    def _type(self, request: Request) -> None:
        if request.arg().upper() != "EDGE":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "only EDGE triggering is simulated")

    def _trigger_source(self, request: Request) -> None:
        self.trigger.source = source_number(request.arg())

    def _slope(self, request: Request) -> None:
        self.trigger.slope = SLOPES[parse_choice(request.arg(), _SLOPES)]

    def _slope_name(self) -> str:
        name = next(n for n, slope in SLOPES.items() if slope == self.trigger.slope)
        return {"RISING": "RISing", "FALLING": "FALLing", "ALTERNATE": "ALTernate"}[name]

    def _level(self, request: Request) -> None:
        self.trigger.level = three_digits(parse_float(request.arg()))

    # -- waveform transfer -------------------------------------------------------------------

    def _wave_source(self, request: Request) -> None:
        self.wave_source = source_number(request.arg())

    def _wave_start(self, request: Request) -> None:
        self.wave_start = int(in_range(parse_int(request.arg()), 0, self.geometry().points - 1))

    def _wave_points(self, request: Request) -> None:
        self.wave_points = int(in_range(parse_int(request.arg()), 0, self.memory.depths[1][-1]))

    def _wave_interval(self, request: Request) -> None:
        self.wave_interval = int(in_range(parse_int(request.arg()), 1, self.memory.depths[1][-1]))

    def _wave_width(self, request: Request) -> None:
        self.wave_width = parse_choice(request.arg(), _WIDTHS)

    def _preamble(self) -> bytes:
        record = self.refresh()
        channel = self.channels[self.wave_source]
        descriptor = Descriptor(
            points=record.geometry.points,
            first_point=self.wave_start,
            sparsing=self.wave_interval,
            bytes_per_point=2 if self.wave_width == "WORD" else 1,
            gain=channel.scale / channel.probe,
            offset=channel.offset / channel.probe,
            codes_per_division=self.full_codes_per_division,
            adc_bits=self.adc_bits,
            interval=1 / record.geometry.srate,
            delay=self.timebase_offset,
            timebase=self.timebase_scale,
            probe=channel.probe,
            source=self.wave_source - 1,
        )
        return _block(descriptor.pack())

    def _data(self) -> bytes:
        record = self.refresh()
        available = self.sparse_points(record, self.wave_start, self.wave_interval)
        count = min(self.wave_points or available, available, self.max_points_per_read)
        bits = 16 if self.wave_width == "WORD" else 8
        codes = self.codes(
            record, self.wave_source, self.wave_start, count, self.wave_interval, bits
        )
        return _block(codes.astype("<i2" if bits == 16 else np.int8).tobytes())

    # -- measurements ------------------------------------------------------------------------

    def _measure_switch(self, request: Request) -> None:
        self.measure_on = parse_bool(request.arg())

    def _measure_mode(self, request: Request) -> None:
        self.measure_mode = parse_choice(request.arg(), _MODES)

    def _simple_source(self, request: Request) -> None:
        self.measure_source = source_number(request.arg())

    def _simple_item(self, request: Request) -> None:
        """`<type>,{ON|OFF}`: show or hide an item; only items shown are measured."""
        if len(request.args) != 2:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        name = request.args[0].strip().upper()
        if name not in MEASURE_ITEMS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        if parse_bool(request.args[1]):
            self.simple_items.add(name)
        else:
            self.simple_items.discard(name)

    def _simple_value(self, request: Request) -> str:
        name = request.arg().upper()
        if name not in MEASURE_ITEMS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        if not self.measure_on or name not in self.simple_items:
            return "****"
        result = self.measured(MEASURE_ITEMS[name], self.measure_source)
        return "****" if result is None or not math.isfinite(result) else nr3(result)


def _on_off(state: bool) -> str:
    return "ON" if state else "OFF"


def _block(payload: bytes) -> bytes:
    """`#9<length><payload>` and the two LF every Siglent block ends with."""
    return b"#9%09d" % len(payload) + payload + b"\n\n"
