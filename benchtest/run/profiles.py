"""Recording current profiles: a capture streamed to the run file chunk by chunk.

`stream_profile` emits a profile's start, each chunk as it comes and its end, so the run file
appends samples while the profiler delivers them and nothing holds the whole capture. A stream
that breaks off (the profiler stops, is unplugged) is ended as stopped, with the error's words,
before the error goes on: every chunk received is kept. `capture_profile` does that for a
capture from a profiler and measures it at the end (its segmentation and per-event values are
stored beside it); `record_profile` stores a capture already in memory the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from benchtest.analysis.energy import EnergyProfile
from benchtest.analysis.trace import AnalysisError
from benchtest.values.errors import MeasurementError
from benchtest.values.events import Event
from benchtest.values.profile import CurrentProfile, ProfileChunk
from benchtest.values.streams import (
    ProfileChunkRecorded,
    ProfileStreamFinished,
    ProfileStreamStarted,
)

if TYPE_CHECKING:
    from instruments.capabilities import CurrentProfiler

#: Samples per chunk when a capture in memory is stored.
RECORD_CHUNK_POINTS = 1 << 20


def stream_profile(
    emit: Callable[[Event], None],
    test_id: str,
    name: str,
    chunks: Iterable[ProfileChunk],
    *,
    sample_rate: float,
    voltage: bool,
    channel: str = "",
    description: str = "",
    settings: Mapping[str, Any] | None = None,
    analysis: EnergyProfile | None = None,
    tables: Callable[[], Mapping[str, npt.NDArray[np.void]]] | None = None,
) -> int:
    """Store `chunks` as they come; return how many samples were stored. The tables stored
    beside them are `analysis`'s, or what `tables()` returns once the last chunk is in."""
    if not float(sample_rate) > 0:
        raise MeasurementError(f"{test_id}: profile {name!r}: sample rate must be > 0 S/s")
    emit(
        ProfileStreamStarted(
            test_id, name, float(sample_rate), voltage, channel, description, dict(settings or {})
        )
    )
    points = 0
    try:
        for chunk in chunks:
            emit(ProfileChunkRecorded(test_id, name, chunk))
            points += len(chunk)
    except BaseException as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        emit(ProfileStreamFinished(test_id, name, complete=False, message=why))
        raise
    measured = analysis.tables() if analysis is not None else tables() if tables else {}
    emit(ProfileStreamFinished(test_id, name, complete=True, tables=measured))
    return points


def capture_profile(
    emit: Callable[[Event], None],
    test_id: str,
    name: str,
    profiler: CurrentProfiler,
    duration: float,
    *,
    sample_rate: float,
    description: str = "",
    analyse: Callable[[CurrentProfile], EnergyProfile] | None = None,
) -> tuple[CurrentProfile, EnergyProfile | None]:
    """Capture `duration` s from `profiler`, storing each chunk as it comes, and return the
    capture with `analyse(capture)`, whose segmentation and events are stored beside it.

    A capture that breaks off is kept up to the break and its error goes on; an analysis
    that fails leaves the capture stored whole, without tables, and its error goes on.
    """
    stream = iter(profiler.stream(duration, sample_rate=sample_rate))
    settings = dict(getattr(profiler, "capture_info", {}))
    first = next(stream, None)  # says whether the profiler measures voltage too
    kept: list[ProfileChunk] = []
    result: dict[str, Any] = {}

    def chunks() -> Iterator[ProfileChunk]:
        for chunk in itertools.chain([first] if first is not None else [], stream):
            kept.append(chunk)
            yield chunk

    def measured() -> Mapping[str, npt.NDArray[np.void]]:
        capture = CurrentProfile.from_chunks(
            kept, sample_rate=sample_rate, channel=profiler.role, settings=settings
        )
        result["capture"] = capture
        if analyse is None:
            return {}
        try:
            result["analysis"] = analyse(capture)
        except AnalysisError as exc:
            result["error"] = exc
            return {}
        return dict(result["analysis"].tables())

    stream_profile(
        emit,
        test_id,
        name,
        chunks(),
        sample_rate=sample_rate,
        voltage=first is not None and first.voltage is not None,
        channel=profiler.role,
        description=description,
        settings=settings,
        tables=measured,
    )
    if "error" in result:
        raise result["error"]
    return result["capture"], result.get("analysis")


def record_profile(
    emit: Callable[[Event], None],
    test_id: str,
    name: str,
    profile: CurrentProfile,
    *,
    description: str = "",
    analysis: EnergyProfile | None = None,
) -> int:
    """Store a whole capture (in chunks of `RECORD_CHUNK_POINTS`) with `analysis` beside it."""
    if analysis is not None and analysis.segmentation.points != len(profile):
        raise MeasurementError(
            f"{test_id}: profile {name!r}: the analysis is of {analysis.segmentation.points} "
            f"samples, the capture has {len(profile)}"
        )
    return stream_profile(
        emit,
        test_id,
        name,
        _chunks(profile),
        sample_rate=profile.sample_rate,
        voltage=profile.voltage is not None,
        channel=profile.current.channel,
        description=description,
        settings=profile.settings,
        analysis=analysis,
    )


def _chunks(profile: CurrentProfile) -> Iterator[ProfileChunk]:
    current = profile.current.values
    voltage = None if profile.voltage is None else profile.voltage.values
    for start in range(0, len(profile), RECORD_CHUNK_POINTS):
        stop = min(start + RECORD_CHUNK_POINTS, len(profile))
        inside = (profile.ranges["index"] >= start) & (profile.ranges["index"] < stop)
        yield ProfileChunk(
            start,
            current[start:stop],
            None if voltage is None else voltage[start:stop],
            profile.ranges[inside],
        )
