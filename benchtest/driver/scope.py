"""`ScopeInstrument`: what every oscilloscope driver shares, whatever its command set.

A model driver declares its properties under common names (per channel `enabled`, `probe`,
`scale`, `offset`, `coupling`; `timebase_scale`, `timebase_offset` and the `trigger_*` settings)
and this base turns them into the `Oscilloscope` capability's setup calls. It also validates a
`points` request, polls an acquisition until it is done, and assembles a record read in chunks.
A channel with a probe from the DUT profile (`probes`, see `benchtest.values.probe`) gets that
probe's ratio, so the scope shows it in the probe's unit: a current probe's channel reads A.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from benchtest.driver.dialect import guard_raw
from benchtest.driver.numbers import plain
from benchtest.driver.scpi import (
    NAN_THRESHOLD,
    InvalidValueError,
    ScpiChannel,
    ScpiInstrument,
    apply_settings,
    check_settings,
    parse_number,
    parse_text,
    wait_deadline,
)
from benchtest.driver.transport import Transport, VisaTransport
from benchtest.values.errors import InstrumentError, InstrumentTimeoutError, ProtocolError
from benchtest.values.probe import Probe
from benchtest.values.ratings import NO_GUARD, SourceGuard

T = TypeVar("T")
#: The first pause in s between status polls; each next pause doubles, up to `poll_interval`.
#: Short: a shared scope stands idle for the other sites until its acquisition is seen done.
FIRST_POLL_PAUSE = 0.0005
NO_VALUE = "*"  # Siglent prints asterisks (`****`) for a measurement it cannot make


class ScopeInstrument(ScpiInstrument):
    """Base of the oscilloscope drivers; subclasses declare `channel_class` and the properties.

    `poll_interval` is the longest pause in s between two status polls (the first pauses are
    shorter, from `FIRST_POLL_PAUSE` doubling up to it, so a short acquisition is seen done
    within a few ms while a long one is not polled needlessly often), and `arm_settle` how
    long after arming a "stopped" status may still be the previous acquisition's.
    `single_sweep_arms`: a single-sweep edge trigger counts as arming (False: only the
    driver's `single()` arms). `run_state_query`: the query of the run state whose `STOP`
    (any case) ends a single acquisition, asked once right after arming (None: not asked).
    `probes`: the probe on each channel that has one other than a plain 1x voltage probe (the
    driver option the instrument pool fills from the DUT profile's nets).
    """

    capabilities = ("Oscilloscope",)
    safe_state_sends = False
    channel_numbers: ClassVar[tuple[int, ...]] = (1, 2, 3, 4)
    channel_class: ClassVar[type[ScpiChannel]] = ScpiChannel
    poll_interval: float = 0.05
    arm_settle: float = 0.2
    single_sweep_arms: ClassVar[bool] = True
    run_state_query: ClassVar[str | None] = None
    driver_options: ClassVar[tuple[str, ...]] = ("probes",)

    def __init__(
        self,
        transport: Transport,
        *,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        probes: Mapping[int, Probe] | None = None,
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.channels = {n: self.channel_class(self, n) for n in self.channel_numbers}
        self._armed_at: float | None = None
        self._running_seen = False  # a running state reported since arming
        self.probes = {self._channel_number(n): _probe(n, p) for n, p in (probes or {}).items()}

    def _channel_number(self, key: object) -> int:
        """A channel number of this scope from a `probes` key (an int, or "2" from YAML)."""
        try:
            number = int(str(key))
        except ValueError:
            number = -1
        self.channel(number)  # a probe on a channel the scope does not have is refused
        return number

    def unit_of(self, channel: int) -> str:
        """The unit `channel` reads: its probe's (A for a current probe), else V."""
        probe = self.probes.get(channel)
        return probe.unit if probe is not None else "V"

    def channel(self, number: int) -> Any:
        """The channel object for `number` (an integer of any kind); its declared properties
        are model-specific, hence `Any`."""
        number = plain(number)  # type: ignore[assignment]
        if not isinstance(number, int) or number not in self.channels:
            raise InstrumentError(
                f"no channel {number!r}; channels are {self.channel_numbers}", role=self.role
            )
        return self.channels[number]

    # -- setup -------------------------------------------------------------------------------

    def configure_channel(
        self,
        channel: int,
        *,
        scale: float,
        offset: float = 0.0,
        coupling: str = "DC",
        probe: float = 1.0,
        enabled: bool = True,
    ) -> None:
        """Probe ratio first (the scale is given after it), then scale, offset, coupling.

        On a channel with a probe from the DUT profile, that probe's ratio is set, and `scale`
        and `offset` are in its unit (A/div and A for a current probe); a plan's `probe` that
        disagrees with it is refused.
        """
        target = self.channel(channel)
        ratio = self._probe_ratio(target.id, probe)
        apply_settings(
            target, enabled=enabled, probe=ratio, scale=scale, offset=offset, coupling=coupling
        )

    def _probe_ratio(self, channel: int, probe: float) -> float:
        """The probe ratio to set: the profile's probe's, else the plan's `probe`."""
        known = self.probes.get(channel)
        if known is None:
            return probe
        if probe != 1.0 and not math.isclose(probe, known.ratio):
            raise InstrumentError(
                f"channel {channel}: probe={probe:g} disagrees with the DUT profile's "
                f"{known.describe()} (probe ratio {known.ratio:g}); leave probe out",
                role=self.role,
            )
        try:
            check_settings(self.channel(channel), probe=known.ratio)
        except InvalidValueError as exc:
            raise InstrumentError(
                f"channel {channel}: the DUT profile's {known.describe()} needs a probe ratio "
                f"of {known.ratio:g}, which this scope does not take ({exc})",
                role=self.role,
            ) from None
        return known.ratio

    def configure_timebase(self, *, scale: float, position: float = 0.0) -> None:
        apply_settings(self, timebase_scale=scale, timebase_offset=position)

    def configure_edge_trigger(
        self, *, source: int, level: float, slope: str = "rising", sweep: str = "normal"
    ) -> None:
        apply_settings(
            self,
            trigger_mode="edge",
            trigger_source=source,
            trigger_slope=slope,
            trigger_level=level,
            trigger_sweep=sweep,
        )
        if sweep == "single" and self.single_sweep_arms:
            self._armed()

    def safe_state(self) -> None:
        """Nothing to do: a scope sources nothing, and the stopped capture that explains a
        failure is worth more left on screen than a re-armed scope."""

    # -- acquisition -------------------------------------------------------------------------

    def _armed(self) -> None:
        """Note that an acquisition was armed just now; with a `run_state_query`, ask the run
        state at once. A running state then (armed, waiting for its trigger, or filling its
        pre-trigger part) makes the next stop this acquisition's, so `wait_for_trigger`
        counts a stop at its first poll, as when an acquisition is over before it (a trigger
        that came at once, a busy computer), instead of waiting out `arm_settle`. A stop then
        may still be the previous acquisition's."""
        self._armed_at = time.monotonic()
        self._running_seen = False
        if self.run_state_query is not None:
            state = self.query_value(self.run_state_query, parse_text)
            self._running_seen = not run_state_stopped(state)

    def _stale_stop_filter(self, stopped: Callable[[str], bool]) -> Callable[[str], bool]:
        """A `finished` test for `_poll` on a run-status reply: a stop counts once a running
        state was seen (since arming, `_armed` included) or `arm_settle` s have passed since
        arming (before that it may be the stop of the previous acquisition)."""
        armed_at, seen_running = self._armed_at, self._running_seen

        def finished(status: str) -> bool:
            nonlocal seen_running
            if not stopped(status):
                seen_running = True
                return False
            settled = armed_at is None or time.monotonic() - armed_at >= self.arm_settle
            return seen_running or settled

        return finished

    def _poll(
        self,
        command: str,
        parser: Callable[[str], T],
        finished: Callable[[T], bool],
        timeout: float,
    ) -> T:
        """Query `command` until `finished(reply)`, pausing 0.5, 1, 2 ... ms between queries, at
        most `poll_interval` s; return that reply. A timeout that is no finite number of
        seconds >= 0 is refused before anything is sent."""
        deadline = wait_deadline(timeout, role=self.role, command=command)
        pause = min(FIRST_POLL_PAUSE, self.poll_interval)
        while True:
            reply = self.query_value(command, parser)
            if finished(reply):
                self._armed_at, self._running_seen = None, False
                return reply
            if time.monotonic() >= deadline:
                raise InstrumentTimeoutError(
                    f"acquisition not complete within {timeout:g} s; last status {reply!r}",
                    role=self.role,
                    command=command,
                    received=str(reply),
                )
            time.sleep(pause)
            pause = min(2 * pause, self.poll_interval)

    # -- waveform readout --------------------------------------------------------------------

    def requested_points(self, points: object) -> int | None:
        """None for "screen"/"max", the count for a positive integer of any kind (Python or
        numpy); anything else is refused."""
        if isinstance(points, str) and points in ("screen", "max"):
            return None
        count = plain(points)
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            return count
        raise InstrumentError(
            f"points must be 'screen', 'max' or a positive int, not {points!r}", role=self.role
        )

    def measurement_name(self, item: str, known: Sequence[str], channel: int) -> str:
        """`item` as the instrument spells it (case-insensitive); an unknown item or channel is
        refused before anything is sent."""
        name = item.strip().upper()
        if name not in known:
            raise InstrumentError(
                f"unknown measurement item {item!r}; known: {', '.join(known)}", role=self.role
            )
        self.channel(channel)
        return name

    def check_available(self, wanted: int, available: int, command: str) -> None:
        if wanted > available:
            raise InstrumentError(
                f"asked for {wanted} points, the record holds {available}",
                role=self.role,
                command=command,
            )

    def read_chunks(
        self,
        total: int,
        chunk: int,
        dtype: npt.DTypeLike,
        fetch: Callable[[int, int], bytes],
        command: str,
        *,
        numbered_from: int = 0,
    ) -> npt.NDArray[Any]:
        """`total` samples read `chunk` at a time: `fetch(first, count)` returns the payload of
        points first..first+count-1 (0-based), which must hold exactly `count` samples. An error
        counts points from `numbered_from` (1 for an instrument whose first point is 1); a
        short block is reported with the error the instrument queued for it, if any."""
        samples: npt.NDArray[Any] = np.empty(total, dtype=dtype)
        for first in range(0, total, chunk):
            count = min(chunk, total - first)
            data = fetch(first, count)
            if len(data) != count * samples.itemsize:
                shown = first + numbered_from
                short = ProtocolError(
                    f"asked for points {shown}..{shown + count - 1} ({count}), "
                    f"the block holds {len(data)} bytes",
                    role=self.role,
                    command=command,
                    received=data[:40],
                )
                error = self.explained(short, command)
                raise error from (short if error is not short else None)
            samples[first : first + count] = np.frombuffer(data, dtype=samples.dtype)
        return samples

    def read_chunks_into(
        self,
        total: int,
        chunk: int,
        dtype: npt.DTypeLike,
        select: Callable[[int, int], Sequence[str]],
        command: str,
        *,
        numbered_from: int = 0,
    ) -> npt.NDArray[Any]:
        """`total` samples read `chunk` at a time straight into the array returned (no copy of
        a payload): `select(first, count)` returns the writes that choose points
        first..first+count-1 (0-based), sent unchecked before `command`, whose block must
        hold exactly `count` samples. Errors as in `read_chunks`."""
        samples: npt.NDArray[Any] = np.empty(total, dtype=dtype)
        size = samples.itemsize
        raw = samples.data.cast("B")
        for first in range(0, total, chunk):
            count = min(chunk, total - first)
            view = raw[first * size : (first + count) * size]
            got = self.read_block_into(command, view, after=select(first, count))
            if got != len(view):
                shown = first + numbered_from
                short = ProtocolError(
                    f"asked for points {shown}..{shown + count - 1} ({count}), "
                    f"the block holds {got} bytes",
                    role=self.role,
                    command=command,
                    received=bytes(view[: min(got, 40)]),
                )
                error = self.explained(short, command)
                raise error from (short if error is not short else None)
        return samples

    def read_block_into(self, command: str, out: memoryview, *, after: Sequence[str] = ()) -> int:
        """Send the writes `after` (unchecked: the caller reads the error queue), then a query
        answered by a definite-length block, its payload read into `out` (a writable byte
        view); return the length its header announced (at most `len(out)` bytes of it are
        kept). Through any other transport than `VisaTransport` (a scripted or a paced one) the
        writes are sent one by one and the payload is read whole and copied."""
        transport = self.transport
        if isinstance(transport, VisaTransport):
            for write in after:
                guard_raw(write, self.guarded_commands(), self.guard)
            with self._attributed(command):
                return transport.read_block_into(command, out, after=after)
        for write in after:
            self.write(write, check=False)
        data = self.read_block(command)
        kept = min(len(data), len(out))
        out[:kept] = data[:kept]
        return len(data)


def _probe(channel: object, probe: Probe | Mapping[str, Any]) -> Probe:
    """A `probes` entry: a Probe, or a probe entry as a DUT profile writes it."""
    return probe if isinstance(probe, Probe) else Probe.from_spec(probe, field=f"probes.{channel}")


def run_state_stopped(state: str) -> bool:
    """Whether a run-state reply (`:TRIGger:STATus?`: Rigol `STOP`, Siglent `Stop`) says
    the scope is stopped."""
    return state.strip().upper() == "STOP"


def decimation(total: int, screen_points: int) -> int:
    """The sparsing that brings a `total`-point record down to about `screen_points` points."""
    return max(1, total // screen_points)


def sparse_count(total: int, step: int) -> int:
    """How many points a read of every `step`-th point of a `total`-point record returns."""
    return math.ceil(total / step)


def parse_measured(text: str, parse: Callable[[str], float] = parse_number) -> float:
    """A measured value read with `parse`; NaN for "no value" (9.9E37, or asterisks such as
    `****` or `****V`)."""
    value = text.strip()
    if value.startswith(NO_VALUE):
        return math.nan
    number = parse(value)
    return math.nan if abs(number) >= NAN_THRESHOLD else number
