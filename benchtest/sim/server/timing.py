"""How long the simulated instruments take: `timing=instant` (the default) or `timing=real`.

With instant timing a simulator answers as fast as it can compute, so simulated tests are pure
CPU. With real timing each simulator takes the time its real model takes, from the numbers
below (each with its source): an SMU integrates for NPLC / line frequency per reading, autozero
and source delay included; a scope arms only after its re-arm time and its record's pre-trigger
part; a supply output settles after a change; the debug port moves 10 bits per byte at the
baud rate. A `Delays` does the waiting in the serving thread, on an event, so it costs no CPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from benchtest.values.errors import SimulatorError

TIMINGS = ("instant", "real")
LINE_FREQUENCIES = (50.0, 60.0)  # Hz
DEFAULT_LINE_FREQUENCY = 50.0  # Hz; set per resource with line_frequency=60


@dataclass(frozen=True)
class Timing:
    """A simulator's timing: `mode` instant or real, and the mains frequency it runs on."""

    mode: str = "instant"
    line_frequency: float = DEFAULT_LINE_FREQUENCY

    def __post_init__(self) -> None:
        if self.mode not in TIMINGS:
            raise SimulatorError(f"timing {self.mode!r}: expected one of {', '.join(TIMINGS)}")

    @property
    def real(self) -> bool:
        return self.mode == "real"


INSTANT = Timing()
REAL = Timing("real")


def parse_timing(
    role: str, resource: str, options: Mapping[str, str], default: Timing = INSTANT
) -> Timing:
    """The timing a `sim://` resource asks for (`?timing=real&line_frequency=60`)."""
    where = f"instruments.{role}.resource {resource!r}"
    mode = options.get("timing", default.mode)
    if mode not in TIMINGS:
        raise SimulatorError(
            f"{where}: unknown timing {mode!r}; allowed values: {', '.join(TIMINGS)}"
        )
    text = options.get("line_frequency")
    if text is None:
        return Timing(mode, default.line_frequency)
    try:
        frequency = float(text)
    except ValueError:
        frequency = 0.0
    if frequency not in LINE_FREQUENCIES:
        allowed = ", ".join(f"{f:g}" for f in LINE_FREQUENCIES)
        raise SimulatorError(
            f"{where}: line_frequency={text!r}: expected the mains frequency in Hz, {allowed}"
        )
    return Timing(mode, frequency)


class Delays:
    """Makes a simulator take its time: with instant timing every wait returns at once; with
    real timing `wait(s)` and `until(t)` block the calling thread on an event (no CPU), and
    `cancel()` (the simulator is stopping) ends every wait, now and later."""

    def __init__(self, timing: Timing = INSTANT) -> None:
        self.timing = timing
        self._cancelled = threading.Event()

    @property
    def real(self) -> bool:
        return self.timing.real

    def wait(self, seconds: float) -> None:
        if self.timing.real and seconds > 0:
            self._cancelled.wait(seconds)

    def until(self, moment: float) -> None:
        """Wait until `time.monotonic()` reaches `moment`."""
        self.wait(moment - time.monotonic())

    def cancel(self) -> None:
        self._cancelled.set()


# -- source-measure units ------------------------------------------------------------------


@dataclass(frozen=True)
class SourceMeterTiming:
    """What one reading of a model takes: `autozero_factor` apertures with autozero on (one
    without), after the source delay of its current range (auto delay: `autodelay` lists
    (current range A, s when sourcing voltage, s when sourcing current), ascending)."""

    autozero_factor: float
    autodelay: tuple[tuple[float, float, float], ...]

    def reading_time(self, nplc: float, line_frequency: float, autozero: bool) -> float:
        aperture = nplc / line_frequency
        return aperture * (self.autozero_factor if autozero else 1.0)

    def source_delay(self, current_range: float, sourcing: str) -> float:
        """The auto delay on the smallest range that holds `current_range` amperes."""
        for top, voltage_source, current_source in self.autodelay:
            if current_range <= top * 1.05:
                return voltage_source if sourcing == "VOLT" else current_source
        return self.autodelay[-1][1 if sourcing == "VOLT" else 2]


# Keithley 2450 Reference Manual (2450-901-01 Rev. B): "Source delay" (p. 2-111) gives the auto
# delay per current range, sourcing voltage / current. "Automatic reference measurements"
# (section 2, manualslib page 135) and [:SENSe]:<function>:AZERo (p. 6-46, default ON): with
# autozero on, a reading whose references have expired takes two more conversions (ground and
# reference) of the same aperture; how often they expire is not given, so a reading counts as
# two apertures on average.
KEITHLEY_2450 = SourceMeterTiming(
    autozero_factor=2.0,
    autodelay=(
        (10e-9, 50e-3, 50e-3),
        (100e-9, 50e-3, 50e-3),
        (1e-6, 3e-3, 3e-3),
        (10e-6, 2e-3, 2e-3),
        (100e-6, 1e-3, 1e-3),
        (1e-3, 1e-3, 1e-3),
        (10e-3, 1e-3, 1e-3),
        (100e-3, 1e-3, 1e-3),
        (1.0, 1e-3, 2e-3),
    ),
)
# Keithley 2400: :SYSTem:AZERo defaults to ON (Series 2400 User's Manual). Our sources give no
# 2400 auto-delay table or autozero cost, so the 2450's (same family) stand in for both.
KEITHLEY_2400 = KEITHLEY_2450
# Keysight B2900: the integration time is NPLC / line frequency as on the others; no autozero
# command or auto-delay table is in our sources, so a reading is one aperture after the
# 2450's auto delay.
KEYSIGHT_B2900 = SourceMeterTiming(autozero_factor=1.0, autodelay=KEITHLEY_2450.autodelay)


# -- digital multimeter ----------------------------------------------------------------------

# Keysight Truevolt (34461A) Operating and Service Guide, [SENSe:]CURRent[:DC]:ZERO:AUTO
# (p. 197): autozero ON (the default) measures the offset after every reading, i.e. two
# apertures per reading; below 1 PLC MEASure/CONFigure turn it off.
DMM_AUTOZERO_FACTOR = 2.0
DMM_AUTOZERO_MIN_NPLC = 1.0


# -- oscilloscopes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeTiming:
    """`rearm`: s of dead time after an acquisition (or `:SINGle`/`ARM`) before the scope can
    fill a new record, the inverse of its fastest waveform capture rate. The record itself
    takes its length over the sample rate (the acquisition model's geometry)."""

    rearm: float


# Vendor datasheets, "waveform capture rate" (maximum, normal acquisition): DS1000Z 30 000
# wfms/s, MSO5000 500 000 wfms/s, SDS1000X-E 100 000 wfm/s, SDS2000X Plus 120 000 wfm/s.
RIGOL_DS1000Z = ScopeTiming(rearm=1 / 30_000)
RIGOL_MSO5000 = ScopeTiming(rearm=1 / 500_000)
SIGLENT_SDS1000XE = ScopeTiming(rearm=1 / 100_000)
SIGLENT_SDS2000XP = ScopeTiming(rearm=1 / 120_000)


# -- power supplies --------------------------------------------------------------------------


@dataclass(frozen=True)
class SupplyTiming:
    """`settle`: s an output takes to reach a new setting after output on or a level change;
    a readback of that output waits for it."""

    settle: float


# Rigol publishes no DP832 programming response time in our sources; its DP1308A (same
# generation of Rigol linear supplies) specifies 10 ms for the output to rise to within 1 % of
# a new setting at no load (DP1308A Performance Verification Manual, specifications).
RIGOL_DP800 = SupplyTiming(settle=10e-3)
# Siglent's SPD programming tips ask for 10-100 ms between commands and before a query reply
# (reference/scpi.md section 4.3, [S32]): the output is taken to be settled after the 10 ms.
SIGLENT_SPD3303X = SupplyTiming(settle=10e-3)


# -- serial debug port -----------------------------------------------------------------------

# 8N1 framing: a start bit, 8 data bits and a stop bit per byte on the wire.
BITS_PER_BYTE = 10
DEFAULT_BAUDRATE = 115_200


def wire_time(count: int, baudrate: float) -> float:
    """Seconds `count` bytes take on a UART at `baudrate`."""
    return count * BITS_PER_BYTE / baudrate
