"""What a waveform plot draws: the samples in view, or their min/max envelope, read lazily.

A record of 100 M points cannot be drawn point by point, nor read whole. `Envelope` answers
`view(start, stop, pixels)` with at most two points per pixel: the samples themselves when few
enough are in view (read from the file for that range only), else the minimum and maximum of
each pixel's samples, so that no peak is lost. The minima and maxima of fixed blocks of samples
(`BLOCK` samples, then every `FAN_IN` blocks of the level below) are kept in memory once read;
they cost 1/64 of the record's float64 size, and each block is read from the file at most once,
in `CHUNK`-sample pieces, never the whole record at a time. Nothing here needs Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Samples per block of the finest envelope level.
BLOCK = 256
#: Blocks of one level that make a block of the next.
FAN_IN = 8
#: Samples read from the file at a time (a multiple of BLOCK).
CHUNK = 1 << 20
#: Below this many samples per pixel the samples themselves are drawn (or reduced in memory).
RAW_PER_PIXEL = BLOCK


class Samples(Protocol):
    """A record's raw samples, sliceable without reading the rest (`StoredWaveform.codes`)."""

    def __getitem__(self, index: Any) -> npt.NDArray[Any]: ...

    def __len__(self) -> int: ...


class Record(Protocol):
    """A waveform as stored: raw samples, their scale and offset, and its time base."""

    @property
    def codes(self) -> Samples: ...

    @property
    def scale(self) -> float: ...

    @property
    def offset(self) -> float: ...

    @property
    def t0(self) -> float: ...

    @property
    def dt(self) -> float: ...


@dataclass(frozen=True)
class Trace:
    """Points to draw: `time` (s) and `values` (physical unit). `exact` when these are the
    samples themselves; otherwise each pixel's minimum and maximum, in turn, at its start time.
    `first` and `stop` are the sample indices the points cover."""

    time: FloatArray
    values: FloatArray
    exact: bool
    first: int
    stop: int

    def __len__(self) -> int:
        return len(self.time)


class Envelope:
    """Min/max envelope of `record` for drawing any part of it at any width (see module)."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.samples = record.codes
        self.size = len(self.samples)
        self.scale = float(record.scale)
        self.offset = float(record.offset)
        self.t0 = float(record.t0)
        self.dt = float(record.dt)
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"waveform with sample interval {self.dt!r}: cannot place it in time")
        blocks = -(-self.size // BLOCK)
        self._low: list[FloatArray] = [np.empty(blocks)]
        self._high: list[FloatArray] = [np.empty(blocks)]
        self._chunks_read = np.zeros(-(-self.size // CHUNK), dtype=bool)
        self._stale = False
        self.samples_read = 0  # how many samples were read from the file, for tests and figures

    @property
    def duration(self) -> tuple[float, float]:
        """Time of the first and of the last sample, s."""
        return self.t0, self.t0 + max(self.size - 1, 0) * self.dt

    def index_range(self, start: float, stop: float) -> tuple[int, int]:
        """Samples from time `start` to `stop` (one more each side), clipped to the record."""
        if not stop >= start:
            start, stop = stop, start
        first = math.floor((start - self.t0) / self.dt) if math.isfinite(start) else 0
        last = math.ceil((stop - self.t0) / self.dt) + 1 if math.isfinite(stop) else self.size
        return min(max(first, 0), self.size), min(max(last, 0), self.size)

    def physical(self, raw: npt.NDArray[Any]) -> FloatArray:
        return np.asarray(raw, dtype=np.float64) * self.scale + self.offset

    def view(self, start: float, stop: float, pixels: int) -> Trace:
        """What to draw of the samples from `start` to `stop` (s) on `pixels` columns."""
        pixels = max(int(pixels), 1)
        first, last = self.index_range(start, stop)
        count = last - first
        if count <= 2 * pixels:
            values = self.physical(self.samples[first:last]) if count else np.empty(0)
            self.samples_read += count
            time = self.t0 + np.arange(first, last, dtype=np.float64) * self.dt
            return Trace(time, values, True, first, last)
        per_pixel = count / pixels
        if per_pixel < RAW_PER_PIXEL:
            raw = self.physical(self.samples[first:last])
            self.samples_read += count
            return self._reduce(raw, raw, first, 1, pixels)
        level = self._level_for(per_pixel)
        factor = BLOCK * FAN_IN**level
        b0, b1 = first // factor, -(-last // factor)
        self._ensure(b0 * factor, min(b1 * factor, self.size))
        low, high = self._levels(level)
        return self._reduce(low[b0:b1], high[b0:b1], b0 * factor, factor, pixels, last)

    def _level_for(self, per_pixel: float) -> int:
        """The coarsest level with at least two blocks per pixel."""
        level = 0
        while BLOCK * FAN_IN ** (level + 1) * 2 <= per_pixel:
            level += 1
        return level

    def _reduce(
        self,
        low: FloatArray,
        high: FloatArray,
        first: int,
        factor: int,
        pixels: int,
        stop: int | None = None,
    ) -> Trace:
        """Minimum and maximum of each of `pixels` groups of the blocks `low`/`high` (each block
        `factor` samples from sample `first` on), as alternating points."""
        count = len(low)
        group = -(-count // pixels)
        groups = -(-count // group)
        pad = groups * group - count
        if pad:
            low = np.concatenate([low, np.full(pad, low[-1])])
            high = np.concatenate([high, np.full(pad, high[-1])])
        lows = low.reshape(groups, group).min(axis=1)
        highs = high.reshape(groups, group).max(axis=1)
        starts = first + np.arange(groups, dtype=np.float64) * group * factor
        time = np.repeat(self.t0 + starts * self.dt, 2)
        time[1::2] += 0.5 * group * factor * self.dt  # the maximum half a pixel later
        values = np.empty(2 * groups)
        values[0::2], values[1::2] = lows, highs
        end = min(stop if stop is not None else first + count * factor, self.size)
        np.minimum(time, self.t0 + (end - 1) * self.dt, out=time)  # a short last group
        return Trace(time, values, False, first, end)

    def _ensure(self, first: int, stop: int) -> None:
        """Read the chunks of samples `first` to `stop` that were never read."""
        for chunk in range(first // CHUNK, -(-stop // CHUNK)):
            if self._chunks_read[chunk]:
                continue
            a, b = chunk * CHUNK, min((chunk + 1) * CHUNK, self.size)
            raw = np.asarray(self.samples[a:b])
            self.samples_read += b - a
            blocks = -(-len(raw) // BLOCK)
            pad = blocks * BLOCK - len(raw)
            if pad:
                raw = np.concatenate([raw, np.full(pad, raw[-1], dtype=raw.dtype)])
            shaped = raw.reshape(blocks, BLOCK)
            lo = self.physical(shaped.min(axis=1))
            hi = self.physical(shaped.max(axis=1))
            if self.scale < 0:
                lo, hi = hi, lo
            k = a // BLOCK
            self._low[0][k : k + blocks], self._high[0][k : k + blocks] = lo, hi
            self._chunks_read[chunk] = True
            self._stale = True  # coarser levels are built again from the finest

    def _levels(self, level: int) -> tuple[FloatArray, FloatArray]:
        """The minima and maxima of `level` (coarser ones reduced from the finest, in memory)."""
        if self._stale:
            del self._low[1:], self._high[1:]
            self._stale = False
        while len(self._low) <= level:
            lo, hi = self._low[-1], self._high[-1]
            n = -(-len(lo) // FAN_IN)
            pad = n * FAN_IN - len(lo)
            lo = np.concatenate([lo, np.full(pad, lo[-1])]) if pad else lo
            hi = np.concatenate([hi, np.full(pad, hi[-1])]) if pad else hi
            self._low.append(lo.reshape(n, FAN_IN).min(axis=1))
            self._high.append(hi.reshape(n, FAN_IN).max(axis=1))
        return self._low[level], self._high[level]
