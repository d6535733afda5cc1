"""Joulescope JS110/JS220 energy analyzer, through Jetperch's `joulescope` package (extra
`joulescope`).

The documented host API: `joulescope.scan_require_one(config="auto")` finds the device, `open()`
claims it, `parameter_set("i_range", "auto")` and `parameter_set("sampling_frequency", rate)`
configure it, `stream_process_register(process)` hands every new stretch of samples to
`process.stream_notify(stream_buffer)` (on the USB thread), `start(stop_fn=..., duration=...)`
runs the capture and calls `stop_fn(event, message)` when it ends (event 0: as asked), and
`stream_buffer.samples_get(start, stop, fields=[...])` returns
`{"signals": {name: {"value": array, "units": ...}}}`. The samples go from the USB thread to
the capture through a queue, copied, so the USB thread never waits.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchtest.driver.library_profiler import LibraryProfiler, import_library
from benchtest.driver.profiler import DEFAULT_CHUNK_POINTS, DEFAULT_STALL_TIMEOUT, StallWatch
from benchtest.values.errors import ConnectionLostError, InstrumentError
from benchtest.values.profile import ProfileChunk, range_changes
from benchtest.values.ratings import NO_GUARD, SourceGuard

FIELDS = ["current", "voltage", "current_range"]
#: Full scale of each `current_range` code, A (JS110 numbering; 7 is "off").
RANGE_FULL_SCALE = (10.0, 2.0, 180e-3, 18e-3, 1.8e-3, 180e-6, 18e-6)
_END = object()


class _Collector:
    """The stream process: copies each new stretch of samples into the queue."""

    def __init__(self, samples: queue.Queue[Any]) -> None:
        self.samples = samples
        self.next_id: int | None = None

    def stream_notify(self, stream_buffer: Any) -> bool:
        start, end = stream_buffer.sample_id_range
        first = start if self.next_id is None else max(self.next_id, start)
        if end > first:
            data = stream_buffer.samples_get(first, end, fields=FIELDS)
            signals = data["signals"]
            self.samples.put(tuple(np.array(signals[name]["value"], copy=True) for name in FIELDS))
            self.next_id = end
        return False  # go on streaming


class Joulescope(LibraryProfiler):
    """A Joulescope in series with the DUT's supply. Implements `CurrentProfiler`."""

    driver_name: ClassVar[str] = "jetperch.joulescope"
    vendor: ClassVar[str] = "Jetperch"
    model: ClassVar[str] = "Joulescope"
    max_sample_rate: ClassVar[float] = 1e6
    scheme: ClassVar[str] = "joulescope"
    resource_syntax: ClassVar[str] = "joulescope:// (the one connected) or joulescope://<serial>"
    safe_state_sends: ClassVar[bool] = False  # it only measures: nothing to switch off
    sample_rates: ClassVar[tuple[float, ...]] = (
        1e6, 5e5, 2e5, 1e5, 5e4, 2e4, 1e4, 5e3, 2e3, 1e3, 500.0, 200.0, 100.0,
    )  # fmt: skip

    def __init__(
        self,
        device: Any,
        *,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        super().__init__(device, role=role, guard=guard)
        self.stall_timeout = stall_timeout

    @classmethod
    def open(
        cls, resource: str, *, role: str = "", guard: SourceGuard = NO_GUARD, **options: Any
    ) -> Joulescope:
        """`resource`: "joulescope://" for the one connected, or "joulescope://<serial>"
        (the serial number as the Joulescope application shows it, e.g. 001234)."""
        serial = cls.resource_target(resource, role).strip("/")
        own = cls.checked_options(options, role or resource)
        library = import_library("joulescope", "joulescope", role or resource)
        if serial:
            found = [d for d in library.scan(config="auto") if serial in str(d)]
            if len(found) != 1:
                raise InstrumentError(
                    f"{len(found)} Joulescopes match serial {serial!r}", role=role or resource
                )
            device = found[0]
        else:
            device = library.scan_require_one(config="auto")
        device.open()
        return cls(device, role=role or resource, guard=guard, **own)

    def serial_number(self) -> str:
        return str(self.device)

    def release(self) -> None:
        self.device.close()

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = DEFAULT_CHUNK_POINTS
    ) -> Iterator[ProfileChunk]:
        count = self.check_rate(duration, sample_rate, chunk_points)
        try:
            self.device.parameter_set("i_range", "auto")
            self.device.parameter_set("sampling_frequency", int(sample_rate))
        except Exception as exc:
            raise self.lost(exc, "being configured") from exc
        self.capture_info = {"i_range": "auto", "sampling_frequency": float(sample_rate)}
        return self._capture(count, float(duration), int(chunk_points))

    def _capture(self, count: int, duration: float, chunk_points: int) -> Iterator[ProfileChunk]:
        samples: queue.Queue[Any] = queue.Queue()
        collector = _Collector(samples)

        def on_stop(event: int = 0, message: str = "") -> None:
            samples.put(_END if not event else ConnectionLostError(
                f"the Joulescope stopped streaming: {message or f'event {event}'}", role=self.role
            ))  # fmt: skip

        try:
            self.device.stream_process_register(collector)
            self.device.start(stop_fn=on_stop, duration=duration)
        except Exception as exc:
            raise self.lost(exc, "starting the capture") from exc
        try:
            yield from self._chunks(samples, count, chunk_points)
        finally:
            self.device.stop()  # safe when already stopped
            self.device.stream_process_unregister(collector)

    def _chunks(
        self, samples: queue.Queue[Any], count: int, chunk_points: int
    ) -> Iterator[ProfileChunk]:
        watch = StallWatch(self.role, self.stall_timeout)
        pending: list[tuple[npt.NDArray[Any], ...]] = []
        held = sent = 0
        last_range = math.nan
        ended = False
        while sent < count:
            if held >= min(chunk_points, count - sent) or (ended and held):
                take = min(chunk_points, count - sent, held)
                chunk, last_range, pending = self._joined(pending, sent, take, last_range)
                yield chunk
                held -= take
                sent += take
                continue
            if ended:
                raise ConnectionLostError(
                    f"the Joulescope ended the capture after {sent} of {count} samples",
                    role=self.role,
                )
            try:
                item = samples.get(timeout=min(0.1, self.stall_timeout))
                if isinstance(item, BaseException):
                    raise item
            except queue.Empty:
                item = None
            except InstrumentError:
                if held:  # what arrived before the failure is kept
                    yield self._joined(pending, sent, held, last_range)[0]
                raise
            if item is None:
                try:
                    watch.progress(sent + held)
                except InstrumentError:
                    if held:
                        yield self._joined(pending, sent, held, last_range)[0]
                    raise
                continue
            if item is _END:
                ended = True
            else:
                pending.append(item)
                held += len(item[0])
                watch.progress(sent + held)

    def _joined(
        self, pending: list[tuple[npt.NDArray[Any], ...]], start: int, take: int, before: float
    ) -> tuple[ProfileChunk, float, list[tuple[npt.NDArray[Any], ...]]]:
        """The first `take` held samples as a chunk, the range after them, what is left."""
        current, voltage, codes = (np.concatenate(c) for c in zip(*pending, strict=True))
        ranges, last = self._ranges(codes[:take], start, before)
        chunk = ProfileChunk(
            start, current[:take].astype(np.float64), voltage[:take].astype(np.float64), ranges
        )
        rest: list[tuple[npt.NDArray[Any], ...]] = []
        if take < len(current):
            rest = [(current[take:], voltage[take:], codes[take:])]
        return chunk, last, rest

    @staticmethod
    def _ranges(
        codes: npt.NDArray[Any], start: int, before: float
    ) -> tuple[npt.NDArray[Any], float]:
        """Range changes from the per-sample range codes (and the range before the chunk)."""
        table = np.array([*RANGE_FULL_SCALE, math.nan])
        scale = table[np.clip(codes.astype(np.int64), 0, len(table) - 1)]
        if not len(scale):
            return range_changes(), before
        previous = np.concatenate(([before], scale[:-1]))
        changed = ~((scale == previous) | (np.isnan(scale) & np.isnan(previous)))
        rows = [(start + int(i), float(scale[i])) for i in np.flatnonzero(changed)]
        return range_changes(rows), float(scale[-1])
