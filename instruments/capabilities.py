"""What test plans ask for: capabilities as runtime-checkable protocols.

A plan needs "a SourceMeter"; the bench file says which model fills the role. Every driver
registered under `benchtest.instruments` declares the capabilities it provides, and a meta-test
checks each one against these protocols. Units are SI everywhere: V, A, s, Hz, degC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Literal, Protocol, runtime_checkable

from benchtest.driver.base import Identity
from benchtest.values.profile import CurrentProfile, ProfileChunk
from benchtest.values.sweep import SweepResult
from benchtest.values.waveform import Waveform

__all__ = [
    "Chamber",
    "CurrentProfile",
    "CurrentProfiler",
    "DebugPort",
    "Identity",
    "Instrument",
    "Multimeter",
    "Oscilloscope",
    "PowerSupply",
    "ProfileChunk",
    "SourceMeter",
    "SweepResult",
    "Waveform",
]

Coupling = Literal["DC", "AC", "GND"]
Slope = Literal["rising", "falling", "either"]
SweepMode = Literal["auto", "normal", "single"]
Points = Literal["screen", "max"] | int


@runtime_checkable
class Instrument(Protocol):
    """Every instrument: says what it is, can be made safe, can be closed."""

    role: str

    def identify(self) -> Identity: ...

    def safe_state(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SourceMeter(Instrument, Protocol):
    """A source-measure unit: sources V or I with a compliance limit and measures."""

    def source_voltage(self, level: float, *, current_limit: float) -> None:
        """Source `level` volts, limiting the current to `current_limit` amperes."""
        ...

    def source_current(self, level: float, *, voltage_limit: float) -> None:
        """Source `level` amperes, limiting the voltage to `voltage_limit` volts."""
        ...

    def output_on(self) -> None: ...

    def output_off(self) -> None: ...

    @property
    def output_enabled(self) -> bool: ...

    def measure_current(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """One current reading in amperes (`range=None`: autorange)."""
        ...

    def measure_voltage(self, *, range: float | None = None, nplc: float | None = None) -> float:
        """One voltage reading in volts (`range=None`: autorange)."""
        ...

    def sweep_voltage(
        self,
        levels: Sequence[float],
        *,
        current_limit: float,
        delay: float | None = None,
        nplc: float | None = None,
    ) -> SweepResult:
        """Source each level in turn and read the current, in the instrument's buffer.

        Equally spaced levels run as the instrument's linear sweep, others as a list sweep;
        the readings come back in one transfer. The output is on during the sweep and is
        left as the instrument leaves it (the framework's safe state switches it off).
        """
        ...

    def sweep_current(
        self,
        levels: Sequence[float],
        *,
        voltage_limit: float,
        delay: float | None = None,
        nplc: float | None = None,
    ) -> SweepResult:
        """Source each current level in turn and read the voltage, in the instrument's buffer."""
        ...


@runtime_checkable
class PowerSupply(Instrument, Protocol):
    """A programmable DC supply with numbered output channels (from 1)."""

    @property
    def channel_count(self) -> int: ...

    def set_voltage(self, channel: int, volts: float) -> None: ...

    def set_current_limit(self, channel: int, amperes: float) -> None: ...

    def output_on(self, channel: int) -> None: ...

    def output_off(self, channel: int) -> None: ...

    def output_enabled(self, channel: int) -> bool: ...

    def measure_voltage(self, channel: int) -> float: ...

    def measure_current(self, channel: int) -> float: ...


@runtime_checkable
class Multimeter(Instrument, Protocol):
    """A digital multimeter (`range=None`: autorange)."""

    def measure_voltage_dc(
        self, *, range: float | None = None, nplc: float | None = None
    ) -> float: ...

    def measure_current_dc(
        self, *, range: float | None = None, nplc: float | None = None
    ) -> float: ...

    def measure_resistance(
        self, *, range: float | None = None, nplc: float | None = None, four_wire: bool = False
    ) -> float: ...


@runtime_checkable
class Oscilloscope(Instrument, Protocol):
    """A digitising oscilloscope. Channels are numbered from 1."""

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
        """Vertical setup: `scale` in V/div (after the probe ratio), `offset` in V."""
        ...

    def configure_timebase(self, *, scale: float, position: float = 0.0) -> None:
        """Horizontal setup: `scale` in s/div, `position` of the trigger in s."""
        ...

    def configure_edge_trigger(
        self,
        *,
        source: int,
        level: float,
        slope: Slope = "rising",
        sweep: SweepMode = "normal",
    ) -> None: ...

    def run(self) -> None: ...

    def stop(self) -> None: ...

    def single(self) -> None:
        """Arm one acquisition."""
        ...

    def wait_for_trigger(self, timeout: float) -> None:
        """Block until the armed acquisition has triggered and completed."""
        ...

    def fetch_waveform(self, channel: int, points: Points = "screen") -> Waveform:
        """Read a record: the screen, the whole memory ("max"), or the first N points."""
        ...


@runtime_checkable
class DebugPort(Instrument, Protocol):
    """The DUT's serial debug port: line-oriented command/reply with a prompt, registers."""

    def send(self, text: str) -> None:
        """Send one line (the line ending is added)."""
        ...

    def expect(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """Wait until `pattern` appears in what the DUT sent; return the match."""
        ...

    def command(self, text: str, *, timeout: float | None = None) -> str:
        """Send a command and return the reply text up to the next prompt."""
        ...

    @property
    def traffic(self) -> Sequence[tuple[float, str, str]]:
        """(time.time(), "tx" | "rx" | "event", text) of everything sent and received."""
        ...

    def read_register(self, name: str) -> int:
        """The value of a register of the DUT profile's register map."""
        ...

    def write_register(self, name: str, value: int) -> None:
        """Write a register; a read-only register or a value too wide is refused unsent."""
        ...

    def read_field(self, register: str, field: str) -> int:
        """The value of one bit field of a register."""
        ...

    def write_field(self, register: str, field: str, value: int | str) -> None:
        """Read-modify-write one bit field to a number or one of its named values."""
        ...


@runtime_checkable
class CurrentProfiler(Instrument, Protocol):
    """Continuous capture of the supply current (and voltage) at a set sample rate.

    A rate beyond the device, or a capture that breaks off (the device stops streaming, is
    unplugged), raises an error; a broken capture's `CaptureError.partial` keeps the samples.
    """

    @property
    def max_sample_rate(self) -> float:
        """The highest sample rate the device delivers, S/s."""
        ...

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = ...
    ) -> Iterator[ProfileChunk]:
        """`duration` s at `sample_rate` S/s as chunks of at most `chunk_points` samples, as
        the device delivers them (current in A, voltage in V, range changes)."""
        ...

    def capture(self, duration: float, *, sample_rate: float) -> CurrentProfile:
        """`duration` s at `sample_rate` S/s, whole, as Waveforms in A and V."""
        ...


@runtime_checkable
class Chamber(Instrument, Protocol):
    """A temperature chamber or thermal forcing unit holding the DUT at a temperature (degC).

    `safe_state()` returns the DUT to ambient and stops heating and cooling.
    """

    def set_temperature(self, celsius: float) -> None:
        """Drive the DUT towards `celsius`; refused beyond the DUT's temperature ratings."""
        ...

    @property
    def temperature(self) -> float:
        """The measured temperature (the DUT's sensor, else the air), degC."""
        ...

    def wait_until_stable(self, tolerance: float, timeout: float) -> float:
        """Block until the temperature has stayed within `tolerance` degC of the setpoint for
        the soak time; return it. An InstrumentTimeoutError after `timeout` s."""
        ...


CAPABILITIES: dict[str, type] = {
    "Chamber": Chamber,
    "CurrentProfiler": CurrentProfiler,
    "DebugPort": DebugPort,
    "Multimeter": Multimeter,
    "Oscilloscope": Oscilloscope,
    "PowerSupply": PowerSupply,
    "SourceMeter": SourceMeter,
}


def _protocol_members(protocol: type) -> dict[str, object]:
    """Every public member a protocol requires, from it and the protocols it extends."""
    members: dict[str, object] = {}
    for klass in reversed(protocol.__mro__):
        if not getattr(klass, "_is_protocol", False) or klass is Protocol:
            continue
        for name in getattr(klass, "__annotations__", {}):
            members.setdefault(name, None)
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                members[name] = value
    return members


def _signature_problems(name: str, wanted: object, provided: object) -> list[str]:
    import inspect

    if isinstance(wanted, property):
        # a property or any other descriptor that reads as a value (a declared SCPI control)
        return [f"{name} must be a property"] if inspect.isfunction(provided) else []
    if not callable(wanted):
        return []
    if not callable(provided):
        return [f"{name} must be a method"]
    have = inspect.signature(provided).parameters
    if any(p.kind is p.VAR_KEYWORD for p in have.values()):
        return []
    problems = []
    for param in inspect.signature(wanted).parameters.values():
        if param.name == "self":
            continue
        match = have.get(param.name)
        if match is None:
            problems.append(f"{name}() lacks the parameter {param.name!r}")
        elif match.kind is not param.kind:
            problems.append(f"{name}() takes {param.name!r} as {match.kind.description}")
    return problems


def conformance_problems(driver: type) -> list[str]:
    """What keeps `driver` (a class) from providing the capabilities it claims; [] when none.

    Checked on the class, so no instrument is needed and no property is read.
    """
    claimed = getattr(driver, "capabilities", ())
    if not claimed:
        return [f"{driver.__name__} claims no capability"]
    problems: list[str] = []
    for capability in claimed:
        protocol = CAPABILITIES.get(capability)
        if protocol is None:
            problems.append(f"{driver.__name__} claims unknown capability {capability!r}")
            continue
        for name, wanted in _protocol_members(protocol).items():
            annotated = any(name in getattr(k, "__annotations__", {}) for k in driver.__mro__)
            if not hasattr(driver, name) and not annotated:
                problems.append(f"{driver.__name__} ({capability}) lacks {name}")
                continue
            provided = getattr(driver, name, None)
            for problem in _signature_problems(name, wanted, provided):
                problems.append(f"{driver.__name__} ({capability}): {problem}")
    return problems
