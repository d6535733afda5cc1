"""Siglent SDS1000X-E oscilloscope in the legacy (LeCroy-style) command set of its guide.

Replies carry a header and units (`C1:VDIV 5.00E-01V`, `SARA 1.00GSa/s`, `SANU 14Mpts`), which
the driver parses after pinning the default format with `CHDR SHORT`; errors come from the
command error register `CMR?`. `C<n>:WF? DAT2` answers `C1:WF DAT2,#9…` and two LF with signed
bytes: volts = code x VDIV/25 - OFST, the first point at TRDL - TDIV x 14/2, 1/SARA apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from benchtest.driver.properties import ON_OFF, choice, number
from benchtest.driver.scope import ScopeInstrument, decimation, parse_measured, sparse_count
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiChannel,
    Setting,
    apply_settings,
    check_settings,
    strict_discrete_set,
)
from benchtest.driver.status import check_register, describe_code
from benchtest.driver.transport import Transport
from benchtest.values.probe import Probe
from benchtest.values.ratings import NO_GUARD, SourceGuard
from benchtest.values.waveform import Waveform

if TYPE_CHECKING:
    from instruments.capabilities import Oscilloscope, Points

T = TypeVar("T")
GRID_DIVISIONS = 14  # horizontal
CODES_PER_DIVISION = 25
SCREEN_POINTS = 100 * GRID_DIVISIONS
LAYOUT = {"codes_per_division": CODES_PER_DIVISION, "horizontal_divisions": GRID_DIVISIONS}
NEW_SIGNAL = 0x0001  # INR bit 0: a new signal has been acquired
PROBE_RATIOS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
COUPLINGS = {"DC": "D1M", "AC": "A1M", "GND": "GND"}  # 1 MOhm input
SLOPES = {"rising": "POS", "falling": "NEG"}
SWEEPS = {"auto": "AUTO", "normal": "NORM", "single": "SINGLE", "stop": "STOP"}
HEADER_FORMATS = {"short": "SHORT", "long": "LONG", "off": "OFF"}
CMR_ERRORS = {1: "Unrecognized command/query header", 2: "Invalid character",
              3: "Invalid separator", 4: "Missing parameter", 5: "Unrecognized keyword",
              6: "String error", 7: "Parameter cannot allowed", 8: "Command String Too Long",
              9: "Query cannot allowed", 10: "Missing Query mask", 11: "Invalid parameter",
              12: "Parameter syntax error", 13: "Filename too long"}  # fmt: skip
PAVA_PARAMETERS = ("PKPK", "MAX", "MIN", "AMPL", "TOP", "BASE", "CMEAN", "MEAN", "RMS", "CRMS",
                   "OVSN", "FPRE", "OVSP", "RPRE", "PER", "FREQ", "PWID", "NWID", "RISE",
                   "FALL", "WID", "DUTY", "NDUTY")  # fmt: skip
SI_PREFIXES = {"": 1.0, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3,
               "K": 1e3, "M": 1e6, "G": 1e9}  # fmt: skip
UNITS = ("Sa/s", "pts", "Hz", "V", "S", "s", "A", "%", "")
_QUANTITY = re.compile(r"\s*(?:\S+\s+)?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*")


# -- reply parsers: header, number, SI prefix, unit --------------------------------------------


def parse_quantity(reply: str) -> float:
    """`C1:VDIV 5.00E-01V` -> 0.5, `SARA 1.00GSa/s` -> 1e9, `TRDL -5.000000ns` -> -5e-9."""
    match = _QUANTITY.fullmatch(reply)
    if match is None:
        raise ValueError(f"not a number with an optional header and unit: {reply!r}")
    return float(match.group(1)) * _prefix_factor(match.group(2))


def _prefix_factor(suffix: str) -> float:
    for unit in UNITS:
        prefix = suffix[: len(suffix) - len(unit)]
        if suffix.endswith(unit) and prefix in SI_PREFIXES:
            return SI_PREFIXES[prefix]
    raise ValueError(f"unknown unit {suffix!r}")


def parse_count(reply: str) -> int:
    """`SANU 14Mpts` -> 14000000, `INR 8193` -> 8193."""
    return round(parse_quantity(reply))


def word_choice(
    values: Mapping[T, str], aliases: Mapping[str, T] | None = None
) -> Callable[[str], T]:
    """A parser for `<header> <token>` replies (`TRMD AUTO`) mapping the token back to a value."""
    lookup = {token.upper(): value for value, token in values.items()} | dict(aliases or {})

    def parse(reply: str) -> T:
        words = reply.split()
        token = words[-1].upper() if words else ""
        if token not in lookup:
            raise ValueError(f"{reply!r} ends in none of {', '.join(lookup)}")
        return lookup[token]

    return parse


def parse_trigger_source(reply: str) -> int:
    """`TRSE EDGE,SR,C1,HT,OFF` -> 1."""
    fields = [f.strip().upper() for f in reply.split(",")]
    source = fields[fields.index("SR") + 1]
    if not re.fullmatch(r"C\d", source):
        raise ValueError(f"trigger source {source!r} is not a channel")
    return int(source[1:])


def parse_parameter_value(reply: str) -> float:
    """`C1:PAVA PKPK,1.04E+00V` -> 1.04; `C3:PAVA FREQ,****` -> NaN."""
    return parse_measured(reply.rsplit(",", 1)[-1], parse_quantity)


# -- the instrument ------------------------------------------------------------------------------


def quantity(command: str, doc: str, low: float, high: float, unit: str) -> Control[float]:
    """`command <value>` (low <= value <= high), read back with `command?` as header, number,
    SI prefix and unit."""
    return number(command, doc, low, high, unit=unit, parser=parse_quantity)


def keyword(
    command: str, doc: str, values: Mapping[T, str], aliases: Mapping[str, T] | None = None
) -> Control[T]:
    """`command <token>` from `values`, read back with `command?` as `<header> <token>`."""
    return choice(command, doc, values, parser=word_choice(values, aliases))


class Sds1000xeChannel(ScpiChannel):
    """One analog channel (`C<n>:…`), including its edge-trigger level and slope."""

    enabled = keyword("C{ch}:TRA", "Trace on", ON_OFF)
    scale = quantity("C{ch}:VDIV", "V/div after the probe", 5e-5, 1e5, "V")
    offset = quantity("C{ch}:OFST", "Vertical offset", -1e4, 1e4, "V")
    coupling = keyword("C{ch}:CPL", "Input coupling", COUPLINGS, {"D50": "DC", "A50": "AC"})
    probe = Control(
        "C{ch}:ATTN?",
        "C{ch}:ATTN {value}",
        "Probe attenuation ratio",
        parser=parse_quantity,
        validator=strict_discrete_set(PROBE_RATIOS),
    )
    trigger_level = quantity("C{ch}:TRLV", "Edge trigger level", -1e4, 1e4, "V")
    trigger_slope = keyword("C{ch}:TRSL", "Edge trigger slope", SLOPES)
    memory_points = Reading("SANU? C{ch}", "Points in acquisition memory", parser=parse_count)


@dataclass(frozen=True)
class RecordSetup:
    """The settings that scale and place a record's codes, read before its data."""

    vertical_scale: float
    vertical_offset: float
    probe_ratio: float
    timebase_scale: float
    trigger_delay: float
    sample_rate: float
    memory_points: int

    @classmethod
    def read(cls, scope: SiglentSDS1000XE, source: Sds1000xeChannel) -> RecordSetup:
        return cls(
            source.scale,
            source.offset,
            source.probe,
            scope.timebase_scale,
            scope.timebase_offset,
            scope.sample_rate,
            source.memory_points,
        )

    @property
    def first_point_time(self) -> float:
        """TRDL - TDIV x grid/2: the guide's time of the first memory point."""
        return self.trigger_delay - self.timebase_scale * GRID_DIVISIONS / 2


class SiglentSDS1000XE(ScopeInstrument):
    """Siglent SDS1000X-E (legacy command set). Implements `Oscilloscope`.

    `max_points_per_read` is the chunk of `WFSU`/`WF?` reads; the guide names no per-read limit,
    1 Mpts is a conservative choice.
    """

    driver_name = "siglent.sds1000xe"
    timeout = 10.0
    block_terminators = 2
    error_query = "CMR?"
    channel_class = Sds1000xeChannel
    max_points_per_read: int = 1_000_000

    reply_header = keyword("CHDR", "Reply format: header and units, or not", HEADER_FORMATS)
    timebase_scale = quantity("TDIV", "Time per division", 1e-9, 100.0, "s")
    timebase_offset = quantity("TRDL", "Trigger delay (time at screen centre)", -1e3, 1e3, "s")
    sample_rate = Reading("SARA?", "Present sample rate", parser=parse_quantity, unit="Hz")
    trigger_mode = keyword("TRMD", "Trigger (sweep) mode", SWEEPS)
    trigger_source = Control(
        "TRSE?",
        "TRSE EDGE,SR,{value},HT,OFF",
        "Edge trigger on a channel, no holdoff",
        values={n: f"C{n}" for n in (1, 2, 3, 4)},
        parser=parse_trigger_source,
    )
    internal_state = Reading(
        "INR?", "Internal state register (reading clears it)", parser=parse_count
    )
    waveform_setup: Setting[tuple[int, int, int]] = Setting(
        "WFSU {value}",
        "Next WF? transfer: (sparsing, number of points, first point)",
        formatter=lambda setup: "SP,{},NP,{},FP,{}".format(*setup),
    )

    def __init__(
        self,
        transport: Transport,
        *,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        probes: Mapping[int, Probe] | None = None,
    ) -> None:
        super().__init__(transport, role=role, guard=guard, probes=probes)
        self._continuous = "auto"  # the sweep `run()` returns to

    def on_connect(self) -> None:
        """`*CLS`, then the documented default reply format the parsers expect."""
        super().on_connect()
        self.reply_header = "short"

    def check_errors(self, *, after: str = "") -> None:
        """Read (and so clear) the command error register; a non-zero code is an error."""
        check_register(self, "CMR?", parse_count, describe_code(CMR_ERRORS), after=after)

    # -- setup and acquisition -----------------------------------------------------------------

    def configure_edge_trigger(
        self, *, source: int, level: float, slope: str = "rising", sweep: str = "normal"
    ) -> None:
        """`TRSE` selects the source; level and slope belong to the source channel; then `TRMD`."""
        channel = self.channel(source)
        check_settings(self, trigger_source=source, trigger_mode=sweep)
        check_settings(channel, trigger_slope=slope, trigger_level=level)
        apply_settings(self, trigger_source=source)
        apply_settings(channel, trigger_slope=slope, trigger_level=level)
        if sweep == "single":
            self.clear_internal_state()
        else:
            self._continuous = sweep
        self.trigger_mode = sweep

    def run(self) -> None:
        """The legacy set has no RUN: `TRMD` back to the last continuous sweep configured
        (AUTO until `configure_edge_trigger` sets another)."""
        self.trigger_mode = self._continuous

    def stop(self) -> None:
        self.write("STOP")

    def single(self) -> None:
        """Clear the internal state register, then `ARM` one acquisition."""
        self.clear_internal_state()
        self.write("ARM")

    def clear_internal_state(self) -> int:
        """Read `INR?`, which clears it, so that a stale "acquired" bit is not taken as new."""
        return self.internal_state

    def wait_for_trigger(self, timeout: float) -> None:
        """Poll `INR?` until bit 0: a new signal has been acquired."""
        self._poll("INR?", parse_count, lambda state: bool(state & NEW_SIGNAL), timeout)

    # -- waveform readout ----------------------------------------------------------------------

    def fetch_waveform(self, channel: int, points: Points = "screen") -> Waveform:
        """The record decimated to about 100 points per division ("screen", by `WFSU SP`), every
        point ("max"), or the first N. Memory reads stop the scope first."""
        wanted = self.requested_points(points)
        source = self.channel(channel)
        if points != "screen":
            self.stop()
        setup = RecordSetup.read(self, source)
        total = setup.memory_points if wanted is None else wanted
        self.check_available(total, setup.memory_points, f"SANU? C{channel}")
        step = decimation(setup.memory_points, SCREEN_POINTS) if points == "screen" else 1
        command = f"C{channel}:WF? DAT2"

        def transfer(first: int, count: int) -> bytes:
            self.waveform_setup = (step, count, first * step)
            return self.read_block(command)

        samples = self.read_chunks(
            sparse_count(total, step), self.max_points_per_read, np.int8, transfer, command
        )
        return Waveform(
            samples=samples,
            dt=step / setup.sample_rate,
            t0=setup.first_point_time,
            scale=setup.vertical_scale / CODES_PER_DIVISION,
            offset=-setup.vertical_offset,
            unit=self.unit_of(channel),
            channel=f"CH{channel}",
            settings={**asdict(setup), "sparsing": step, **LAYOUT},
        )

    # -- built-in measurements -----------------------------------------------------------------

    def measure_item(self, item: str, channel: int) -> float:
        """One `C<n>:PAVA?` parameter (`PKPK`, `FREQ`, `RISE`…); NaN when it cannot measure."""
        parameter = self.measurement_name(item, PAVA_PARAMETERS, channel)
        return self.query_value(f"C{channel}:PAVA? {parameter}", parse_parameter_value)


if TYPE_CHECKING:
    _capability: type[Oscilloscope] = SiglentSDS1000XE
