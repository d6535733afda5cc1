"""Rigol DS1000Z / MSO1000Z oscilloscope, per the DS1000Z programming guide.

Setup is declared property by property (`:CHANnel<n>:SCALe`, `:TIMebase:MAIN:SCALe`, edge
trigger); the waveform readout is the guide's sequence: source, mode, BYTE format, preamble,
then `:WAVeform:STARt/STOP/DATA?` in chunks of at most 250 000 points into one uint8 array.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from benchtest.driver.base import NO_GUARD, SourceGuard
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiChannel,
    ScpiInstrument,
    apply_settings,
    parse_bool,
    parse_int,
    parse_number,
    parse_text,
    strict_discrete_set,
    strict_int_range,
    strict_range,
    token_matches,
)
from benchtest.driver.transport import Transport
from benchtest.errors import InstrumentError, InstrumentTimeoutError, ProtocolError
from benchtest.waveform import Waveform

if TYPE_CHECKING:
    from instruments.capabilities import Coupling, Oscilloscope, Points, Slope, SweepMode

CHANNELS = (1, 2, 3, 4)
CHANNEL_TOKENS = {n: f"CHANnel{n}" for n in CHANNELS}
PROBE_RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_MEMORY_POINTS = 24_000_000
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


class RigolDS1000Z(ScpiInstrument):
    """Rigol DS1000Z-series oscilloscope. Implements `Oscilloscope`."""

    capabilities = ("Oscilloscope",)
    driver_name = "rigol.ds1000z"
    timeout = 10.0
    block_terminators = 1
    max_points_per_read: ClassVar[int] = 250_000  # BYTE format, per the guide
    poll_interval: float = 0.05  # s between `:TRIGger:STATus?` polls
    arm_settle: float = 0.2  # s after `:SINGle` during which a STOP may still be the old state

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

    def __init__(
        self, transport: Transport, *, role: str = "", guard: SourceGuard = NO_GUARD
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.channels = {n: RigolChannel(self, n) for n in CHANNELS}
        self._armed_at: float | None = None

    def channel(self, number: int) -> RigolChannel:
        if number not in self.channels:
            raise InstrumentError(f"no channel {number!r}; channels are {CHANNELS}", role=self.role)
        return self.channels[number]

    # -- setup -------------------------------------------------------------------------------

    def configure_channel(
        self,
        channel: int,
        *,
        scale: float,
        offset: float = 0.0,
        coupling: Coupling = "DC",
        probe: float = 1.0,
        enabled: bool = True,
    ) -> None:
        """Probe ratio first (the scale is given after it), then scale, offset, coupling."""
        apply_settings(
            self.channel(channel),
            enabled=enabled,
            probe=probe,
            scale=scale,
            offset=offset,
            coupling=coupling,
        )

    def configure_timebase(self, *, scale: float, position: float = 0.0) -> None:
        apply_settings(self, timebase_scale=scale, timebase_offset=position)

    def configure_edge_trigger(
        self, *, source: int, level: float, slope: Slope = "rising", sweep: SweepMode = "normal"
    ) -> None:
        apply_settings(
            self,
            trigger_mode="edge",
            trigger_source=source,
            trigger_slope=slope,
            trigger_level=level,
            trigger_sweep=sweep,
        )

    # -- acquisition -------------------------------------------------------------------------

    def run(self) -> None:
        self.write(":RUN")

    def stop(self) -> None:
        self.write(":STOP")

    def single(self) -> None:
        self.write(":SINGle")
        self._armed_at = time.monotonic()

    def wait_for_trigger(self, timeout: float) -> None:
        """Poll `:TRIGger:STATus?` until `STOP`: the single acquisition has completed.

        Right after `:SINGle` the scope may still report the STOP of before; that STOP counts
        only once a running state was seen or `arm_settle` seconds have passed.
        """
        deadline = time.monotonic() + timeout
        seen_running = False
        while True:
            status = self.trigger_status
            if status.upper() == "STOP" and (seen_running or self._settled()):
                self._armed_at = None
                return
            seen_running = seen_running or status.upper() != "STOP"
            if time.monotonic() >= deadline:
                raise InstrumentTimeoutError(
                    f"acquisition not complete within {timeout:g} s; last status {status!r}",
                    role=self.role,
                    command=":TRIGger:STATus?",
                    received=status,
                )
            time.sleep(self.poll_interval)

    def _settled(self) -> bool:
        return self._armed_at is None or time.monotonic() - self._armed_at >= self.arm_settle

    # -- waveform readout --------------------------------------------------------------------

    def fetch_waveform(self, channel: int, points: Points = "screen") -> Waveform:
        """Read the screen (NORMal, 1200 points), the whole memory ("max") or its first N points.

        Memory reads (RAW) stop the scope first, as the guide requires.
        """
        wanted = self._requested_points(points)
        source = self.channel(channel)
        mode = "NORMal" if points == "screen" else "RAW"
        if mode == "RAW":
            self.stop()
        apply_settings(self, waveform_source=channel, waveform_mode=mode, waveform_format="BYTE")
        preamble = self.waveform_preamble
        total = preamble.points if wanted is None else wanted
        if total > preamble.points:
            raise InstrumentError(
                f"asked for {total} points, the record holds {preamble.points}",
                role=self.role,
                command=":WAVeform:PREamble?",
            )
        settings = self._settings(source, mode, preamble)
        return Waveform(
            samples=self._read_samples(total),
            dt=preamble.xincrement,
            t0=preamble.xorigin - preamble.xreference * preamble.xincrement,
            scale=preamble.yincrement,
            offset=-(preamble.yorigin + preamble.yreference) * preamble.yincrement,
            unit="V",
            channel=f"CH{channel}",
            settings=settings,
        )

    def _requested_points(self, points: Points) -> int | None:
        if points in ("screen", "max"):
            return None
        if isinstance(points, int) and not isinstance(points, bool) and points > 0:
            return points
        raise InstrumentError(
            f"points must be 'screen', 'max' or a positive int, not {points!r}", role=self.role
        )

    def _read_samples(self, total: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
        samples = np.empty(total, dtype=np.uint8)
        for start in range(1, total + 1, self.max_points_per_read):
            stop = min(start + self.max_points_per_read - 1, total)
            self.waveform_start = start
            self.waveform_stop = stop
            data = self.read_block(":WAVeform:DATA?")
            if len(data) != stop - start + 1:
                raise ProtocolError(
                    f"asked for points {start}..{stop} ({stop - start + 1}), "
                    f"the block holds {len(data)} bytes",
                    role=self.role,
                    command=":WAVeform:DATA?",
                    received=data[:40],
                )
            samples[start - 1 : stop] = np.frombuffer(data, dtype=np.uint8)
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

    def safe_state(self) -> None:
        """Nothing to do: a scope sources nothing, and the stopped capture that explains a
        failure is worth more left on screen than a re-armed scope."""


if TYPE_CHECKING:
    _capability: type[Oscilloscope] = RigolDS1000Z
