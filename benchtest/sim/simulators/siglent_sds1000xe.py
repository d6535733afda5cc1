"""Simulated Siglent SDS1000X-E (SDS1104X-E) speaking the legacy LeCroy-style command set.

Replies carry the SHORT header and units (`C1:VDIV 5.00E-01V`, `SARA 1.00GSa/s`, `SANU 14Kpts`);
after `WFSU SP,<sparse>,NP,<points>,FP,<first>`, `C<n>:WF? DAT2` answers `C1:WF DAT2,#9…` with
signed bytes and two LF. Errors latch in `CMR?`, `INR?` reports trigger ready (8192) and a new
acquisition (1); only CHDR SHORT and the short command forms are simulated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from benchtest.sim.server.scpi import (
    DATA_OUT_OF_RANGE,
    DATA_TYPE_ERROR,
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    PARAMETER_NOT_ALLOWED,
    UNDEFINED_HEADER,
    Request,
    ScpiError,
    parse_bool,
    parse_float,
    parse_int,
)
from benchtest.sim.server.timing import SIGLENT_SDS1000XE, ScopeTiming
from benchtest.sim.simulators.scope_acquisition import ChannelSettings, Memory, TriggerSettings
from benchtest.sim.simulators.scope_server import CHANNELS
from benchtest.sim.simulators.siglent_scope import SiglentScope, three_digits

_DEPTHS_2CH = (7_000, 70_000, 700_000, 7_000_000)
SDS1000XE_MEMORY = Memory(
    divisions=14,
    depths={1: tuple(2 * d for d in _DEPTHS_2CH), 2: _DEPTHS_2CH, 4: _DEPTHS_2CH},
    max_rate={1: 1e9, 2: 5e8, 4: 5e8},
)
TRIGGER_READY, NEW_SIGNAL = 8192, 1
CMR_OF = {UNDEFINED_HEADER[0]: 1, MISSING_PARAMETER[0]: 4, PARAMETER_NOT_ALLOWED[0]: 7,
          DATA_TYPE_ERROR[0]: 12}  # fmt: skip
INVALID_PARAMETER = 11  # CMR code of every other error
COUPLINGS = ("A1M", "A50", "D1M", "D50", "GND")
SLOPES = {"POS": "POSITIVE", "NEG": "NEGATIVE"}
SWEEPS = {"AUTO": "AUTO", "NORM": "NORMAL", "SINGLE": "SINGLE"}
PAVA_ITEMS = {"PKPK": ("VPP", "V"), "MAX": ("VMAX", "V"), "MIN": ("VMIN", "V"),
              "AMPL": ("VAMP", "V"), "TOP": ("VTOP", "V"), "BASE": ("VBASE", "V"),
              "MEAN": ("VAVG", "V"), "RMS": ("VRMS", "V"), "RISE": ("RTIME", "S"),
              "FALL": ("FTIME", "S")}  # fmt: skip
# Documented parameters this simulator does not compute: it answers them with "****".
OTHER_PAVA = ("CMEAN", "CRMS", "OVSN", "FPRE", "OVSP", "RPRE", "PER", "FREQ", "PWID", "NWID",
              "WID", "DUTY", "NDUTY")  # fmt: skip
_SI = ((1e9, "G"), (1e6, "M"), (1e3, "K"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"),
       (1e-12, "p"))  # fmt: skip


def si(number: float, unit: str, decimals: int) -> str:
    """`1e9, "Sa/s", 2` -> `1.00GSa/s`; `-5e-9, "s", 6` -> `-5.000000ns`."""
    for factor, prefix in _SI:
        if abs(number) >= factor:
            return f"{number / factor:.{decimals}f}{prefix}{unit}"
    return f"{0.0:.{decimals}f}{unit}"


def points_text(points: int) -> str:
    """`14000` -> `14Kpts`, `1400000` -> `1.4Mpts`."""
    for factor, prefix in ((1e6, "M"), (1e3, "K")):
        if points >= factor:
            return f"{points / factor:.10g}{prefix}pts"
    return f"{points}pts"


def number(text: str) -> float:
    """A number, optionally with its unit (`0.5`, `5.00E-01V`, `2E-6S`)."""
    return parse_float(text.strip().rstrip("VvSs"))


def channel_number(text: str) -> int:
    """`C2` -> 2; -224 for anything else."""
    token = text.strip().upper()
    if (
        len(token) == 2
        and token[0] == "C"
        and token[1].isdigit()
        and 1 <= int(token[1]) <= CHANNELS
    ):
        return int(token[1])
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)


def memory_size(text: str) -> int:
    """`14M`, `140K`, `7k` or a plain integer."""
    token = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(token[-1:], 1)
    return round(parse_float(token.rstrip("KM")) * factor)


class SiglentSDS1000XE(SiglentScope):
    """`Siglent Technologies,SDS1104X-E`: four channels on the world's nets."""

    identity = "Siglent Technologies,SDS1104X-E,SDSMMEBQ000001,8.1.6.1.35R2"
    error_query: ClassVar[str] = "CMR?"
    memory: ClassVar[Memory] = SDS1000XE_MEMORY
    timing_model: ClassVar[ScopeTiming] = SIGLENT_SDS1000XE

    def _defaults(self) -> None:
        super()._defaults()
        self.cmr, self.inr = 0, 0
        self.trigger_source = 1
        self.levels = dict.fromkeys(range(1, CHANNELS + 1), 0.0)
        self.slopes = dict.fromkeys(range(1, CHANNELS + 1), "POS")
        self.transfer = (1, 0, 0)  # WFSU: sparsing, number of points (0: all), first point

    # -- error and state registers -----------------------------------------------------------

    def push_error(self, code: int, message: str) -> None:
        super().push_error(code, message)  # the event status register still sees it
        with self._lock:
            self.cmr = CMR_OF.get(code, INVALID_PARAMETER)

    def next_error(self) -> str:
        """`CMR?`: the last command error code, cleared by reading."""
        with self._lock:
            code, self.cmr = self.cmr, 0
        return f"CMR {code}"

    def clear_status(self) -> None:
        super().clear_status()
        self.cmr, self.inr = 0, 0

    def acquired(self) -> None:
        self.inr |= NEW_SIGNAL

    def _read_inr(self, request: Request) -> str:
        self.refresh()
        value, self.inr = self.inr, 0
        return f"INR {value}"

    # -- commands ----------------------------------------------------------------------------

    def register(self) -> None:
        self.setting("CHDR", lambda r: "CHDR SHORT", self._set_header)
        self._register_channels()
        self._register_horizontal()
        self._register_trigger()
        self.setting("WFSU", lambda r: "WFSU SP,{},NP,{},FP,{}".format(*self.transfer), self._wfsu)
        self.command("C<n>:WF?", self._waveform)
        self.command("C<n>:PAVA?", self._parameter)
        self.command("INR?", self._read_inr)

    def _register_channels(self) -> None:
        self._channel_setting("TRA", lambda c: "ON" if c.display else "OFF", self._set_trace)
        self._channel_setting("VDIV", lambda c: f"{c.scale:.2E}V", self._set_vdiv)
        self._channel_setting("OFST", lambda c: f"{c.offset:.2E}V", self._set_offset)
        self._channel_setting("CPL", lambda c: c.coupling, self._set_coupling)
        self._channel_setting("ATTN", lambda c: f"{c.probe:g}", self._set_attenuation)
        self.setting(
            "C<n>:TRLV", lambda r: f"C{r.suffix()}:TRLV {self.levels[r.suffix()]:.2E}V", self._trlv
        )
        self.setting(
            "C<n>:TRSL", lambda r: f"C{r.suffix()}:TRSL {self.slopes[r.suffix()]}", self._trsl
        )

    def _channel_setting(
        self,
        name: str,
        show: Callable[[ChannelSettings], str],
        change: Callable[[Request], None],
    ) -> None:
        self.setting(
            f"C<n>:{name}", lambda r: f"C{r.suffix()}:{name} {show(self.channel(r))}", change
        )

    def _register_horizontal(self) -> None:
        self.setting("TDIV", lambda r: f"TDIV {self.timebase_scale:.2E}S", self._tdiv)
        self.setting("TRDL", lambda r: f"TRDL {si(self.timebase_offset, 's', 6)}", self._trdl)
        self.command("SARA?", lambda r: f"SARA {si(self.refresh().geometry.srate, 'Sa/s', 2)}")
        self.command("SANU?", self._sample_number)
        self.setting("MSIZ", lambda r: f"MSIZ {points_text(self.geometry().points)}", self._msiz)

    def _register_trigger(self) -> None:
        self.setting("TRMD", lambda r: f"TRMD {self._mode()}", self._trmd)
        self.command("ARM", lambda r: self._arm())
        self.command("STOP", lambda r: self.stop_acquisition())
        self.setting("TRSE", lambda r: f"TRSE EDGE,SR,C{self.trigger_source},HT,OFF", self._trse)

    # -- channel settings --------------------------------------------------------------------

    def _set_trace(self, request: Request) -> None:
        self.channel(request).display = parse_bool(request.arg())

    def _set_vdiv(self, request: Request) -> None:
        self.set_scale(self.channel(request), number(request.arg()))

    def _set_offset(self, request: Request) -> None:
        self.set_offset(self.channel(request), number(request.arg()))

    def _set_coupling(self, request: Request) -> None:
        token = request.arg().upper()
        if token not in COUPLINGS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        self.channel(request).coupling = token

    def _set_attenuation(self, request: Request) -> None:
        self.set_probe(self.channel(request), number(request.arg()))

    def _trlv(self, request: Request) -> None:
        self.channel(request)
        self.levels[request.suffix()] = three_digits(number(request.arg()))

    def _trsl(self, request: Request) -> None:
        self.channel(request)
        token = request.arg().upper()
        if token not in SLOPES:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        self.slopes[request.suffix()] = token

    # -- horizontal --------------------------------------------------------------------------

    def _tdiv(self, request: Request) -> None:
        self.set_timebase(number(request.arg()))

    def _trdl(self, request: Request) -> None:
        self.timebase_offset = number(request.arg())

    def _msiz(self, request: Request) -> None:
        depth = memory_size(request.arg())
        if not any(depth in depths for depths in self.memory.depths.values()):
            raise ScpiError(DATA_OUT_OF_RANGE, request.text)
        self.memory_depth = depth

    def _sample_number(self, request: Request) -> str:
        channel_number(request.arg())
        return f"SANU {points_text(self.refresh().geometry.points)}"

    # -- trigger and run state ---------------------------------------------------------------

    def trigger_settings(self) -> TriggerSettings:
        source = self.trigger_source
        self.trigger.source, self.trigger.level = source, self.levels[source]
        self.trigger.slope = SLOPES[self.slopes[source]]
        return self.trigger

    def _mode(self) -> str:
        self.refresh()
        if not self.acquisition.running:
            return "STOP"
        return next(token for token, sweep in SWEEPS.items() if sweep == self.trigger.sweep)

    def _trmd(self, request: Request) -> None:
        token = request.arg().upper()
        if token == "STOP":
            self.stop_acquisition()
        elif token == "SINGLE":
            self._arm()
        elif token in SWEEPS:
            self.trigger.sweep = SWEEPS[token]
            self.acquisition.run()
        else:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)

    def _arm(self) -> None:
        self.arm_single()
        self.inr |= TRIGGER_READY

    def _trse(self, request: Request) -> None:
        fields = [a.upper() for a in request.args]
        pairs = dict(zip(fields[1::2], fields[2::2], strict=False))
        if not fields or fields[0] != "EDGE" or "SR" not in pairs:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        self.trigger_source = channel_number(pairs["SR"])

    # -- waveform and measurements -----------------------------------------------------------

    def _wfsu(self, request: Request) -> None:
        pairs = dict(zip(request.args[::2], request.args[1::2], strict=False))
        sparse, count, first = self.transfer
        values = {key.upper(): parse_int(text) for key, text in pairs.items()}
        if not set(values) <= {"SP", "NP", "FP"} or min(values.values(), default=0) < 0:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        self.transfer = (
            max(1, values.get("SP", sparse)),
            values.get("NP", count),
            values.get("FP", first),
        )

    def _waveform(self, request: Request) -> bytes:
        channel = self.channel(request)
        if request.arg().upper() != "DAT2" or not channel.display:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        record = self.refresh()
        sparse, wanted, first = self.transfer
        available = self.sparse_points(record, first, sparse)
        count = available if wanted == 0 else min(wanted, available)
        data = self.codes(record, request.suffix(), first, count, sparse, 8).tobytes()
        header = f"C{request.suffix()}:WF DAT2,#9{len(data):09d}".encode("ascii")
        return header + data + b"\n\n"

    def _parameter(self, request: Request) -> str:
        self.channel(request)
        name = request.arg().upper()
        header = f"C{request.suffix()}:PAVA {name},"
        if name in OTHER_PAVA:
            return header + "****"
        if name not in PAVA_ITEMS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)
        item, unit = PAVA_ITEMS[name]
        result = self.measured(item, request.suffix())
        return header + ("****" if result is None else f"{result:.2E}{unit}")

    def _set_header(self, request: Request) -> None:
        if request.arg().upper() != "SHORT":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "only CHDR SHORT is simulated")
