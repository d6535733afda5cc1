"""Siglent SDS2000X Plus oscilloscope in the SCPI `:WAVeform` command set of the SDS series guide.

A readout follows the guide: the binary WAVEDESC preamble (scaling and codes per division read
from it), `:ACQuire:POINts?` and `:WAVeform:MAXPoint?`, then `:WAVeform:STARt/POINt/DATA?` in
pieces of at most MAXPoint points, as int8 or, above 8 ADC bits, int16 (WORD); blocks end in two
LF. Errors are read from the standard event status register (`*ESR?`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from benchtest.driver.properties import choice, number, switch
from benchtest.driver.scope import (
    ScopeInstrument,
    decimation,
    parse_measured,
    run_state_stopped,
    sparse_count,
)
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiChannel,
    Setting,
    apply_settings,
    parse_int,
    parse_number,
    parse_text,
    strict_range,
)
from benchtest.driver.status import check_register, describe_esr
from benchtest.values.errors import ProtocolError
from benchtest.values.waveform import Waveform
from instruments.siglent.wavedesc import WaveDescriptor

if TYPE_CHECKING:
    from instruments.capabilities import Oscilloscope, Points

GRID_DIVISIONS = 10  # horizontal
SCREEN_POINTS = 100 * GRID_DIVISIONS
MAX_POINTS = 200_000_000  # the deepest memory
SOURCES = {n: f"C{n}" for n in (1, 2, 3, 4)}
COUPLINGS = ("DC", "AC", "GND")
SLOPES = {"rising": "RISing", "falling": "FALLing", "either": "ALTernate"}
SWEEPS = {"auto": "AUTO", "normal": "NORMal", "single": "SINGle"}
WIDTHS = {"BYTE": "BYTE", "WORD": "WORD"}
MEASURE_MODES = {"simple": "SIMPle", "advanced": "ADVanced"}
PREAMBLE = ":WAVeform:PREamble?"
DATA = ":WAVeform:DATA?"
MEASURE_ITEMS = ("PKPK", "MAX", "MIN", "AMPL", "TOP", "BASE", "LEVELX", "CMEAN", "MEAN", "STDEV",
                 "VSTD", "RMS", "CRMS", "MEDIAN", "CMEDIAN", "OVSN", "FPRE", "OVSP", "RPRE", "PER",
                 "FREQ", "TMAX", "TMIN", "PWID", "NWID", "DUTY", "NDUTY", "WID", "NBWID", "DELAY",
                 "TIMEL", "RISE", "FALL", "RISE20T80", "FALL80T20", "CCJ", "PAREA", "NAREA",
                 "AREA", "ABSAREA", "CYCLES", "REDGES", "FEDGES", "EDGES", "PPULSES",
                 "NPULSES")  # fmt: skip


class Sds2000xpChannel(ScpiChannel):
    """Vertical setup of one analog channel (`:CHANnel<n>:…`)."""

    enabled = switch(":CHANnel{ch}:SWITch", "Channel switched on")
    scale = number(":CHANnel{ch}:SCALe", "V/div after the probe", 5e-5, 1e5, unit="V")
    offset = number(":CHANnel{ch}:OFFSet", "Vertical offset", -1e4, 1e4, unit="V")
    coupling = choice(":CHANnel{ch}:COUPling", "Input coupling", {c: c for c in COUPLINGS})
    probe = Control(
        ":CHANnel{ch}:PROBe?",
        ":CHANnel{ch}:PROBe VALue,{value}",
        "Probe attenuation ratio (any value: the guide's `VALue,<x>` form)",
        parser=parse_number,
        validator=strict_range(1e-6, 1e6),
    )


class SiglentSDS2000XPlus(ScopeInstrument):
    """Siglent SDS2000X Plus (SCPI `:WAVeform` set). Implements `Oscilloscope`."""

    driver_name = "siglent.sds2000xp"
    timeout = 10.0
    block_terminators = 2
    run_state_query = ":TRIGger:STATus?"
    error_query = "*ESR?"
    channel_class = Sds2000xpChannel

    timebase_scale = number(":TIMebase:SCALe", "Time per division", 2e-10, 1000.0, unit="s")
    timebase_offset = number(":TIMebase:DELay", "Trigger delay", -1e3, 1e3, unit="s")
    trigger_mode = choice(":TRIGger:TYPE", "Trigger type", {"edge": "EDGE"})
    trigger_source = choice(":TRIGger:EDGE:SOURce", "Edge trigger source", SOURCES)
    trigger_slope = choice(":TRIGger:EDGE:SLOPe", "Edge trigger slope", SLOPES)
    trigger_level = number(":TRIGger:EDGE:LEVel", "Edge trigger level", -1e4, 1e4, unit="V")
    trigger_sweep = choice(":TRIGger:MODE", "Trigger mode (SINGle arms one acquisition)", SWEEPS)
    trigger_status = Reading(
        ":TRIGger:STATus?", "Arm, Ready, Auto, Trig'd, Stop or Roll", parser=parse_text
    )
    sample_rate = Reading(":ACQuire:SRATe?", "Present sample rate", parser=parse_number, unit="Hz")
    record_points = Reading(":ACQuire:POINts?", "Points in the acquisition", parser=parse_int)
    waveform_source = choice(":WAVeform:SOURce", "Source of the transfers", SOURCES)
    waveform_start = number(":WAVeform:STARt", "First point to transfer (0-based)", 0, MAX_POINTS)
    waveform_points = number(":WAVeform:POINt", "Points in the next transfer", 1, MAX_POINTS)
    waveform_interval = number(":WAVeform:INTerval", "Transfer every n-th point", 1, MAX_POINTS)
    waveform_width = choice(":WAVeform:WIDTh", "BYTE (int8) or WORD (int16)", WIDTHS)
    waveform_max_points = Reading(
        ":WAVeform:MAXPoint?", "Most points one :WAVeform:DATA? returns", parser=parse_int
    )
    measure_enabled = switch(":MEASure", "Measurement function on")
    measure_mode = choice(":MEASure:MODE", "Simple or advanced measurements", MEASURE_MODES)
    measure_source = choice(":MEASure:SIMPle:SOURce", "Source of simple measurements", SOURCES)
    measure_item_shown = Setting[str](
        ":MEASure:SIMPle:ITEM {value},ON",
        "Show a simple measurement item: the guide reads a value only for an item shown",
    )

    def check_errors(self, *, after: str = "") -> None:
        """Read (and so clear) `*ESR?`; its command/execution/device/query error bits raise."""
        check_register(self, "*ESR?", parse_int, describe_esr, after=after)

    # -- acquisition ---------------------------------------------------------------------------

    def run(self) -> None:
        self.write(":TRIGger:RUN")

    def stop(self) -> None:
        self.write(":TRIGger:STOP")

    def single(self) -> None:
        self.trigger_sweep = "single"
        self._armed()

    def wait_for_trigger(self, timeout: float) -> None:
        """Poll `:TRIGger:STATus?` until `Stop`: the single acquisition has completed."""
        stopped = self._stale_stop_filter(run_state_stopped)
        self._poll(":TRIGger:STATus?", parse_text, stopped, timeout)

    # -- waveform readout ----------------------------------------------------------------------

    def fetch_waveform(self, channel: int, points: Points = "screen") -> Waveform:
        """The record decimated to about 100 points per division ("screen", by
        `:WAVeform:INTerval`), every point ("max"), or the first N. Memory reads stop first."""
        wanted = self.requested_points(points)
        self.channel(channel)
        if points != "screen":
            self.stop()
        apply_settings(self, waveform_source=channel, waveform_start=0)
        descriptor = self.read_descriptor()
        record = self.record_points
        total = record if wanted is None else wanted
        self.check_available(total, record, ":ACQuire:POINts?")
        step = decimation(record, SCREEN_POINTS) if points == "screen" else 1
        chunk = self.waveform_max_points
        apply_settings(self, waveform_width=descriptor.width, waveform_interval=step)

        def transfer(first: int, count: int) -> bytes:
            apply_settings(self, waveform_start=first * step, waveform_points=count)
            return self.read_block(DATA)

        samples = self.read_chunks(
            sparse_count(total, step), chunk, descriptor.dtype, transfer, DATA
        )
        return Waveform(
            samples=samples,
            dt=descriptor.sample_interval * step,
            t0=descriptor.horizontal_delay - descriptor.timebase_scale * GRID_DIVISIONS / 2,
            scale=descriptor.volts_per_division / descriptor.codes_per_division,
            offset=-descriptor.offset_volts,
            unit=self.unit_of(channel),
            channel=f"CH{channel}",
            settings=_settings(descriptor, record, step),
        )

    def read_descriptor(self) -> WaveDescriptor:
        """`:WAVeform:PREamble?`: the WAVEDESC of the present source."""
        data = self.read_block(PREAMBLE)
        try:
            return WaveDescriptor.parse(data)
        except ValueError as exc:
            raise ProtocolError(
                f"unexpected preamble: {exc}", role=self.role, command=PREAMBLE, received=data[:40]
            ) from None

    # -- built-in measurements -----------------------------------------------------------------

    def measure_item(self, item: str, channel: int) -> float:
        """One simple measurement (`PKPK`, `FREQ`, `RISE`…) of a channel, shown on the simple
        measurement list first (`:MEASure:SIMPle:ITEM <type>,ON`: the scope measures only the
        items shown); NaN when it has no value."""
        parameter = self.measurement_name(item, MEASURE_ITEMS, channel)
        apply_settings(
            self,
            measure_enabled=True,
            measure_mode="simple",
            measure_source=channel,
            measure_item_shown=parameter,
        )
        return self.query_value(f":MEASure:SIMPle:VALue? {parameter}", parse_measured)


def _settings(descriptor: WaveDescriptor, record: int, step: int) -> dict[str, Any]:
    """The common names first, then every descriptor field as `descriptor_<field>`."""
    common = {
        "vertical_scale": descriptor.volts_per_division,
        "vertical_offset": descriptor.offset_volts,
        "probe_ratio": descriptor.probe,
        "timebase_scale": descriptor.timebase_scale,
        "memory_points": record,
        "sparsing": step,
        "data_width": descriptor.width,
        "horizontal_divisions": GRID_DIVISIONS,
    }
    return common | {f"descriptor_{k}": v for k, v in asdict(descriptor).items()}


if TYPE_CHECKING:
    _capability: type[Oscilloscope] = SiglentSDS2000XPlus
