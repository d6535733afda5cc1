"""The `CurrentProfiler` flow every profiler driver shares, written against its `stream`.

A model driver supplies `stream(duration, sample_rate=..., chunk_points=...)`, which yields
`ProfileChunk`s as the device delivers them, and its `max_sample_rate`; this base checks the
request before anything is sent, joins the chunks into a `CurrentProfile` (`capture`), stops at
a condition (`capture_until`), and turns a capture that breaks off into one `CaptureError` that
keeps the samples received so far. `StallWatch` tells a driver that its device stopped sending.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from benchtest.values.errors import InstrumentError
from benchtest.values.profile import CaptureError, CurrentProfile, ProfileChunk

#: Samples per chunk unless the caller asks otherwise (8 MB of float64 current).
DEFAULT_CHUNK_POINTS = 1 << 20
#: Seconds without a new sample after which a streaming device is taken as stopped.
DEFAULT_STALL_TIMEOUT = 2.0


def capture_points(duration: float, sample_rate: float) -> int:
    """Samples in `duration` s at `sample_rate` S/s (at least one)."""
    return max(1, round(float(duration) * float(sample_rate)))


class StallWatch:
    """Raises `InstrumentError` once `timeout` s pass without progress (`clock`: seconds)."""

    def __init__(
        self, role: str, timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.role, self.timeout, self.clock = role, timeout, clock
        self.received = 0
        self._since = clock()

    def progress(self, received: int) -> None:
        """Note the samples received so far; raise when nothing new came for too long."""
        now = self.clock()
        if received > self.received:
            self.received, self._since = received, now
        elif now - self._since > self.timeout:
            raise InstrumentError(
                f"the profiler stopped streaming: no sample for {now - self._since:.3g} s "
                f"after {self.received} samples",
                role=self.role,
            )


class ProfilerBase:
    """Shared `CurrentProfiler` behaviour over a model's `stream` (see the module doc)."""

    role: str
    max_sample_rate: ClassVar[float] = 0.0
    #: What the last capture was set to and found (ranges, aperture, measured interval):
    #: stored with the capture's settings.
    capture_info: dict[str, Any]

    def stream(
        self, duration: float, *, sample_rate: float, chunk_points: int = DEFAULT_CHUNK_POINTS
    ) -> Iterator[ProfileChunk]:
        raise NotImplementedError

    def note(self, **info: Any) -> None:
        """Add to what the present capture is set to (`capture_info`)."""
        self.capture_info = {**getattr(self, "capture_info", {}), **info}

    def check_capture(self, duration: float, sample_rate: float, chunk_points: int = 1) -> int:
        """The capture's sample count; an `InstrumentError` naming the value for a rate the
        device cannot do, or a duration or chunk size that is not positive."""
        rate, seconds = float(sample_rate), float(duration)
        if not (math.isfinite(rate) and 0 < rate <= self.max_sample_rate):
            raise InstrumentError(
                f"sample rate {sample_rate!r} S/s is beyond this profiler "
                f"(0 < rate <= {self.max_sample_rate:g} S/s)",
                role=self.role,
            )
        if not (math.isfinite(seconds) and seconds > 0):
            raise InstrumentError(
                f"capture duration must be a positive number of seconds, got {duration!r}",
                role=self.role,
            )
        if int(chunk_points) < 1:
            raise InstrumentError(
                f"chunk_points must be >= 1, got {chunk_points!r}", role=self.role
            )
        return capture_points(seconds, rate)

    def capture(self, duration: float, *, sample_rate: float) -> CurrentProfile:
        """`duration` s at `sample_rate` S/s, whole."""
        return self.capture_until(lambda chunk: False, sample_rate=sample_rate, duration=duration)

    def capture_until(
        self,
        stop: Callable[[ProfileChunk], bool],
        *,
        sample_rate: float,
        duration: float,
        chunk_points: int = DEFAULT_CHUNK_POINTS,
        settings: dict[str, Any] | None = None,
    ) -> CurrentProfile:
        """Capture until `stop(chunk)` is true for a chunk (kept, and the capture ends there:
        a trigger in software) or `duration` s have passed. A capture that breaks off raises
        `CaptureError` with the samples so far as `partial`.
        """
        chunks: list[ProfileChunk] = []
        self.capture_info = {}
        stream = self.stream(duration, sample_rate=sample_rate, chunk_points=chunk_points)
        try:
            for chunk in stream:
                chunks.append(chunk)
                if stop(chunk):
                    break
        except InstrumentError as exc:
            if isinstance(exc, CaptureError):
                raise
            got = sum(len(c) for c in chunks)
            info = {"sample_rate": float(sample_rate), **self.capture_info, **(settings or {})}
            partial = (
                CurrentProfile.from_chunks(
                    chunks, sample_rate=sample_rate, channel=self.role, settings=info
                )
                if chunks
                else None
            )
            raise CaptureError(
                f"capture stopped after {got} samples: {exc}", partial=partial, role=self.role
            ) from exc
        finally:
            close = getattr(stream, "close", None)  # a generator stopped early ends the capture
            if close is not None:
                close()
        info = {"sample_rate": float(sample_rate), **self.capture_info, **(settings or {})}
        return CurrentProfile.from_chunks(
            chunks, sample_rate=sample_rate, channel=self.role, settings=info
        )
