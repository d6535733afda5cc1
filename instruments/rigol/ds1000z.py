"""Rigol DS1000Z / MSO1000Z oscilloscope, per the DS1000Z programming guide.

Setup is declared property by property (`:CHANnel<n>:SCALe`, `:TIMebase:MAIN:SCALe`, edge
trigger); the waveform readout is the guide's sequence: source, mode, BYTE format, preamble,
then `:WAVeform:STARt/STOP/DATA?` in chunks of at most 250 000 points into one uint8 array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchtest.driver.scope import ScopeInstrument, run_state_stopped
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiChannel,
    parse_bool,
    parse_int,
    parse_number,
    parse_text,
    strict_discrete_set,
    strict_int_range,
    strict_range,
    token_matches,
)
from benchtest.values.errors import InstrumentError
from benchtest.values.waveform import Waveform

if TYPE_CHECKING:
    from instruments.capabilities import Oscilloscope, Points

CHANNELS = (1, 2, 3, 4)
CHANNEL_TOKENS = {n: f"CHANnel{n}" for n in CHANNELS}
PROBE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_MEMORY_POINTS = 24_000_000
DATA_QUERY = ":WAVeform:DATA?"
# Single-source items of `:MEASure:ITEM?` (the two-source delay/phase items are left out).
MEASURE_ITEMS = (
    "VMAX",
    "VMIN",
    "VPP",
    "VTOP",
    "VBASe",
    "VAMP",
    "VAVG",
    "VRMS",
    "OVERshoot",
    "PREShoot",
    "MARea",
    "MPARea",
    "PERiod",
    "FREQuency",
    "RTIMe",
    "FTIMe",
    "PWIDth",
    "NWIDth",
    "PDUTy",
    "NDUTy",
    "TVMAX",
    "TVMIN",
    "PSLEWrate",
    "NSLEWrate",
    "VUPper",
    "VMID",
    "VLOWer",
    "VARIance",
    "PVRMS",
    "PPULses",
    "NPULses",
    "PEDGes",
    "NEDGes",
)


@dataclass(frozen=True)
class Preamble:
    """The ten fields of `:WAVeform:PREamble?`, in the guide's order."""

    format: int
    type: int
    points: int
    count: int
    xincrement: float
    xorigin: float
    xreference: float
    yincrement: float
    yorigin: float
    yreference: float

    @classmethod
    def parse(cls, reply: str) -> Preamble:
        """Parse all fields as float (some families print `2.000000` for integer fields)."""
        fields = [float(f) for f in reply.split(",")]
        if len(fields) != 10:
            raise ValueError(f"a preamble has 10 fields, this one has {len(fields)}")
        preamble = cls(*(int(f) for f in fields[:4]), *fields[4:])
        if preamble.points < 1 or not preamble.xincrement > 0:
            raise ValueError("a preamble needs points >= 1 and xincrement > 0")
        return preamble


class RigolChannel(ScpiChannel):
    """Vertical setup of one analog channel (`:CHANnel<n>:…`)."""

    enabled = Control(
        ":CHANnel{ch}:DISPlay?",
        ":CHANnel{ch}:DISPlay {value}",
        "Channel shown and acquired",
        values={True: "1", False: "0"},
        parser=parse_bool,
    )
    scale = Control(
        ":CHANnel{ch}:SCALe?",
        ":CHANnel{ch}:SCALe {value}",
        "Vertical scale per division, after the probe ratio",
        parser=parse_number,
        validator=strict_range(1e-5, 1e4),
        unit="V",
    )
    offset = Control(
        ":CHANnel{ch}:OFFSet?",
        ":CHANnel{ch}:OFFSet {value}",
        "Vertical offset",
        parser=parse_number,
        unit="V",
    )
    coupling = Control(
        ":CHANnel{ch}:COUPling?",
        ":CHANnel{ch}:COUPling {value}",
        "Input coupling",
        values={"DC": "DC", "AC": "AC", "GND": "GND"},
    )
    probe = Control(
        ":CHANnel{ch}:PROBe?",
        ":CHANnel{ch}:PROBe {value}",
        "Probe attenuation ratio",
        parser=parse_number,
        validator=strict_discrete_set(PROBE_RATIOS),
    )


class RigolDS1000Z(ScopeInstrument):
    """Rigol DS1000Z-series oscilloscope. Implements `Oscilloscope`.

    Only `single()` arms the stale-STOP filter of `wait_for_trigger`; a STOP right after
    `:TRIGger:SWEep SINGle` counts at once.
    """

    driver_name = "rigol.ds1000z"
    timeout = 10.0
    block_terminators = 1
    channel_numbers = CHANNELS
    channel_class = RigolChannel
    single_sweep_arms = False
    run_state_query = ":TRIGger:STATus?"
    max_points_per_read: ClassVar[int] = 250_000  # BYTE format, per the guide

    timebase_scale = Control(
        ":TIMebase:MAIN:SCALe?",
        ":TIMebase:MAIN:SCALe {value}",
        "Horizontal scale per division",
        parser=parse_number,
        validator=strict_range(5e-9, 50.0),
        unit="s",
    )
    timebase_offset = Control(
        ":TIMebase:MAIN:OFFSet?",
        ":TIMebase:MAIN:OFFSet {value}",
        "Horizontal position of the trigger",
        parser=parse_number,
        unit="s",
    )
    trigger_mode = Control(
        ":TRIGger:MODE?", ":TRIGger:MODE {value}", "Trigger type", values={"edge": "EDGE"}
    )
    trigger_source = Control(
        ":TRIGger:EDGe:SOURce?",
        ":TRIGger:EDGe:SOURce {value}",
        "Edge trigger source channel",
        values=CHANNEL_TOKENS,
    )
    trigger_slope = Control(
        ":TRIGger:EDGe:SLOPe?",
        ":TRIGger:EDGe:SLOPe {value}",
        "Edge trigger slope",
        values={"rising": "POSitive", "falling": "NEGative", "either": "RFALl"},
    )
    trigger_level = Control(
        ":TRIGger:EDGe:LEVel?",
        ":TRIGger:EDGe:LEVel {value}",
        "Edge trigger level",
        parser=parse_number,
        unit="V",
    )
    trigger_sweep = Control(
        ":TRIGger:SWEep?",
        ":TRIGger:SWEep {value}",
        "Sweep mode",
        values={"auto": "AUTO", "normal": "NORMal", "single": "SINGle"},
    )
    trigger_status = Reading(":TRIGger:STATus?", "TD, WAIT, RUN, AUTO or STOP", parser=parse_text)
    sample_rate = Reading(":ACQuire:SRATe?", "Present sample rate", parser=parse_number, unit="Hz")
    waveform_source = Control(
        ":WAVeform:SOURce?",
        ":WAVeform:SOURce {value}",
        "Channel read by :WAVeform:DATA?",
        values=CHANNEL_TOKENS,
    )
    waveform_mode = Control(
        ":WAVeform:MODE?",
        ":WAVeform:MODE {value}",
        "NORMal: screen data; RAW: deep memory (scope stopped)",
        values={"NORMal": "NORMal", "MAXimum": "MAXimum", "RAW": "RAW"},
    )
    waveform_format = Control(
        ":WAVeform:FORMat?",
        ":WAVeform:FORMat {value}",
        "Data format of :WAVeform:DATA?",
        values={"BYTE": "BYTE", "WORD": "WORD", "ASCii": "ASCii"},
    )
    waveform_start = Control(
        ":WAVeform:STARt?",
        ":WAVeform:STARt {value}",
        "First point of the next read (1-based)",
        parser=parse_int,
        validator=strict_int_range(1, MAX_MEMORY_POINTS),
    )
    waveform_stop = Control(
        ":WAVeform:STOP?",
        ":WAVeform:STOP {value}",
        "Last point of the next read (inclusive)",
        parser=parse_int,
        validator=strict_int_range(1, MAX_MEMORY_POINTS),
    )
    waveform_preamble = Reading(
        ":WAVeform:PREamble?", "Format, scaling and timing of the data", parser=Preamble.parse
    )

    # -- acquisition -------------------------------------------------------------------------

    def run(self) -> None:
        self.write(":RUN")

    def stop(self) -> None:
        self.write(":STOP")

    def single(self) -> None:
        self.write(":SINGle")
        self._armed()

    def wait_for_trigger(self, timeout: float) -> None:
        """Poll `:TRIGger:STATus?` until `STOP`: the single acquisition has completed.

        Right after `:SINGle` the scope may still report the STOP of before; that STOP counts
        only once a running state was seen (`single()` asks the state once it is sent) or
        `arm_settle` seconds have passed.
        """
        stopped = self._stale_stop_filter(run_state_stopped)
        self._poll(":TRIGger:STATus?", parse_text, stopped, timeout)

    # -- waveform readout --------------------------------------------------------------------

    def fetch_waveform(self, channel: int, points: Points = "screen") -> Waveform:
        """Read the screen (NORMal, 1200 points), the whole memory ("max") or its first N points.

        Memory reads (RAW) stop the scope first, as the guide requires. The readout's writes
        (`:STOP`, source, mode, format, each chunk's start and stop) are validated by the
        driver but not checked one by one by the instrument: its error queue is read once,
        after the last chunk, and at once when an exchange fails, so what it holds is reported
        for the readout and never blamed on a later command.
        """
        wanted = self.requested_points(points)
        source = self.channel(channel)
        mode = "NORMal" if points == "screen" else "RAW"
        cls = type(self)
        setup = [":STOP"] if mode == "RAW" else []
        setup += [
            cls.waveform_source.check(self, channel),
            cls.waveform_mode.check(self, mode),
            cls.waveform_format.check(self, "BYTE"),
        ]
        for command in setup:
            self.write(command, check=False)
        preamble = self.waveform_preamble
        total = preamble.points if wanted is None else wanted
        try:
            self.check_available(total, preamble.points, ":WAVeform:PREamble?")
            select = self._chunk_selection(total)
        except InstrumentError as refused:  # the setup's errors are read before refusing
            error = self.explained(refused, ":WAVeform:PREamble?")
            raise error from (refused if error is not refused else None)
        settings = self._settings(source, mode, preamble)
        return Waveform(
            samples=self._read_samples(total, select),
            dt=preamble.xincrement,
            t0=preamble.xorigin - preamble.xreference * preamble.xincrement,
            scale=preamble.yincrement,
            offset=-(preamble.yorigin + preamble.yreference) * preamble.yincrement,
            unit=self.unit_of(channel),
            channel=f"CH{channel}",
            settings=settings,
        )

    def _chunk_selection(self, total: int) -> Callable[[int, int], tuple[str, str]]:
        """The `:WAVeform:STARt/STOP` writes (1-based, inclusive) that select points
        first..first+count-1 of a `total`-point read; InvalidValueError (nothing sent) when
        `total` is beyond the model's memory."""
        start, stop = type(self).waveform_start, type(self).waveform_stop
        start.check(self, total)  # every point 1..total is then valid
        stop.check(self, total)
        # as the properties spell them, the point numbers (plain ints) filled in per chunk
        start_at, stop_at = (
            f"{p.command(self, 1).rsplit(' ', 1)[0]} {{}}".format for p in (start, stop)
        )

        def select(first: int, count: int) -> tuple[str, str]:
            return start_at(first + 1), stop_at(first + count)

        return select

    def _read_samples(
        self, total: int, select: Callable[[int, int], tuple[str, str]]
    ) -> npt.NDArray[np.uint8]:
        """`:WAVeform:STARt/STOP` (1-based, inclusive), then `:WAVeform:DATA?`, per chunk, each
        payload read straight into the array kept; then the readout's one error-queue read.
        A chunk that fails is explained from the queue at once, against its query."""
        samples = self.read_chunks_into(
            total, self.max_points_per_read, np.uint8, select, DATA_QUERY, numbered_from=1
        )
        self.check_errors(after=f"{DATA_QUERY} (points 1..{total})")
        return samples

    def _settings(self, source: RigolChannel, mode: str, preamble: Preamble) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "vertical_scale": source.scale,
            "vertical_offset": source.offset,
            "probe_ratio": source.probe,
            "timebase_scale": self.timebase_scale,
            "sample_rate": self.sample_rate,
            "waveform_mode": mode,
        }
        settings.update({f"preamble_{k}": v for k, v in asdict(preamble).items()})
        return settings

    # -- built-in measurements ---------------------------------------------------------------

    def measure_item(self, item: str, channel: int) -> float:
        """One built-in measurement (`VPP`, `FREQuency`, `RTIMe`…); NaN when it cannot measure."""
        token = next((t for t in MEASURE_ITEMS if token_matches(item, t)), None)
        if token is None:
            raise InstrumentError(
                f"unknown measurement item {item!r}; known: {', '.join(MEASURE_ITEMS)}",
                role=self.role,
            )
        self.channel(channel)
        return self.query_value(f":MEASure:ITEM? {token},CHANnel{channel}", parse_number)


if TYPE_CHECKING:
    _capability: type[Oscilloscope] = RigolDS1000Z
