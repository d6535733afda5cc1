"""Numerical building blocks shared by the measurements, each a vectorised pass over the samples.

Transitions are found with two levels as hysteresis, so noise around one level cannot make false
transitions. The instant a transition crosses a reference level (IEEE Std 181-2011, 5.3.3) is
placed by counting the samples still on the old side of the level: for a monotonic edge this is
the linearly interpolated crossing, and with additive noise it does not come early as the first
crossing would. With noise, a parabola fitted over the samples within the noise of the level then
places it without the bias counting has on a curved edge. Extremes are fitted with a parabola over
as many samples as the noise needs, within the waveform's own time scale, so a noise spike is not
taken for a peak and a narrow peak is not averaged away. A state's level is a trimmed mean.
"""

from __future__ import annotations

import math

import numpy as np

from benchtest.analysis.trace import BoolArray, FloatArray, IntArray

NOISE_PROBES = 20_000  # places where finite differences estimate the noise
DIFFERENCE_ORDERS = (2, 3, 4)
MAD_TO_SIGMA = 1.4826  # median absolute deviation of a normal distribution, in sigmas
LOCATE_PRECISION = 5e-4  # noise left when locating an extreme, fraction of the amplitude
PEAK_PRECISION = 2e-3  # standard error of a fitted peak, fraction of its height
PEAK_SHAPE = 0.25  # a peak is fitted where it is within this fraction of its height
TRIM = 3.0  # samples further than this many noise rms from a level are not in its state
BAND = 3.0  # with noise, a crossing is fitted to the samples within this many noise rms of it


def noise_rms(values: FloatArray) -> float:
    """Rms of the white noise on `values`, from the spread of finite differences.

    The k-th difference of white noise has variance C(2k, k) sigma^2, while a smooth waveform's
    shrinks with every order; the smallest estimate over orders 2..4 is the noise, so a coarsely
    sampled sine is not mistaken for noise. The median absolute deviation ignores the edges.
    """
    n = len(values)
    if n < 2 * DIFFERENCE_ORDERS[-1] + 1:
        return 0.0
    reach = DIFFERENCE_ORDERS[-1]
    step = max(1, (n - 2 * reach) // NOISE_PROBES)
    centre = np.arange(reach, n - reach, step)
    window = values[centre[:, None] + np.arange(-reach, reach + 1)]
    estimates = []
    for order in DIFFERENCE_ORDERS:
        difference = np.diff(window[:, reach - order // 2 : reach + order - order // 2 + 1], order)
        spread = float(np.median(np.abs(difference - np.median(difference))))
        estimates.append(MAD_TO_SIGMA * spread / math.sqrt(math.comb(2 * order, order)))
    return min(estimates)


def trimmed_mean(values: FloatArray, centre: float, noise: float) -> float:
    """Mean of the `values` within TRIM noise rms of `centre`, re-centred until it stays put.

    This is the level of a state: unbiased for symmetric noise, nearly as precise as the plain
    mean, and blind to edges, spikes and the tail of an approach. Without noise, or without a
    sample in the band, it is `centre`.
    """
    band = TRIM * noise
    for _ in range(50):
        inside = values[np.abs(values - centre) <= band]
        if band <= 0.0 or not inside.size:
            return centre
        moved = float(np.mean(inside))
        if abs(moved - centre) <= 1e-4 * noise:
            return moved
        centre = moved
    return centre


def hysteresis_transitions(
    values: FloatArray, low: float, high: float
) -> tuple[IntArray, IntArray, BoolArray]:
    """Passages between `<= low` and `>= high`: last sample of the old side, first of the new.

    Returns (start, end, rising); consecutive transitions alternate in direction.
    """
    side = (values >= high).view(np.int8) - (values <= low).view(np.int8)
    where = np.flatnonzero(side)
    sides = side[where]
    change = np.flatnonzero(sides[1:] != sides[:-1])
    return where[change], where[change + 1], sides[change + 1] > 0


def crossing_windows(
    start: IntArray, end: IntArray, length: int, reach: int
) -> tuple[IntArray, IntArray]:
    """Sample windows [first, stop) around each transition, `reach` durations wide on each side,
    never reaching into the neighbouring transitions."""
    span = np.maximum(end - start, 1) * reach
    previous_end = np.concatenate(([0], end[:-1]))
    next_start = np.concatenate((start[1:], [length - 1]))
    first = np.maximum(start - span, previous_end)
    stop = np.minimum(end + span, next_start) + 1
    return first, stop


def crossings(
    values: FloatArray, level: float, rising: BoolArray, first: IntArray, stop: IntArray
) -> FloatArray:
    """Fractional sample index at which the edge in each window [first, stop) crosses `level`.

    The number of samples still on the old side of `level` gives the first sample on the new side;
    when that sample and its predecessor straddle the level, linear interpolation between them
    places the crossing, otherwise (noise) it is put half a sample before.
    """
    if not len(first):
        return np.zeros(0)
    lo, hi = int(first.min()), int(stop.max())
    segment = values[lo:hi]
    count = np.zeros(len(first), dtype=np.intp)
    for old_side, on_old_side in ((rising, np.less), (~rising, np.greater)):
        if old_side.any():
            cumulative = np.concatenate(([0], np.cumsum(on_old_side(segment, level))))
            count[old_side] = cumulative[stop[old_side] - lo] - cumulative[first[old_side] - lo]
    new = first + count
    before = np.clip(new - 1, 0, len(values) - 2)
    v0, v1 = values[before], values[before + 1]
    sign = np.where(rising, 1.0, -1.0)
    straddle = (before == new - 1) & (sign * v0 < sign * level) & (sign * v1 >= sign * level)
    fraction = (level - v0) / np.where(straddle, v1 - v0, 1.0)
    index = np.where(straddle, before + fraction, new - 0.5)
    return np.clip(index, 0.0, len(values) - 1.0)


def fitted_crossings(
    values: FloatArray,
    level: float,
    rising: BoolArray,
    windows: tuple[IntArray, IntArray],
    band: float,
) -> FloatArray:
    """Fractional sample index at which each edge crosses `level`, through noise of any size.

    The crossings of `level` and of `level` +- `band` are first placed by counting (`crossings`);
    a least-squares parabola through the samples between the latter two then places the crossing.
    Counting alone is biased on a curved edge, by curvature x noise^2 / (2 slope^3) (+0.25 % of
    the 10-90 % time of an RC edge at 1 % noise, growing with the square of the noise); the
    parabola follows the curvature. With `band` 0, or where the fit fails, the counted crossing.
    """
    first, stop = windows
    counted = crossings(values, level, rising, first, stop)
    if band <= 0.0 or not len(counted):
        return counted
    below, above = (crossings(values, level + d, rising, first, stop) for d in (-band, band))
    lo = np.maximum(np.floor(np.minimum(below, above)).astype(np.intp), first)
    hi = np.minimum(np.ceil(np.maximum(below, above)).astype(np.intp) + 1, stop)
    fitted = _parabola_crossings(values, level, lo, np.maximum(hi, lo), counted)
    return np.where(np.isfinite(fitted), fitted, counted)


def _parabola_crossings(
    values: FloatArray, level: float, first: IntArray, stop: IntArray, near: FloatArray
) -> FloatArray:
    """Where the least-squares parabola through each values[first:stop] reaches `level`: the
    root nearest `near` inside the segment, NaN for a segment of fewer than 4 samples or whose
    parabola does not reach the level there."""
    lengths = stop - first
    usable = lengths >= 4
    result = np.full(len(first), np.nan)
    if not usable.any():
        return result
    first, lengths, near = first[usable], lengths[usable], near[usable]
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    index = np.arange(int(lengths.sum())) - np.repeat(offsets - first, lengths)
    scale = np.maximum(lengths / 2, 1.0)
    x = (index - np.repeat(near, lengths)) / np.repeat(scale, lengths)
    y = values[index] - level
    powers = x[:, None] ** np.arange(5)
    moments = np.add.reduceat(powers, offsets, axis=0)
    weighted = np.add.reduceat(powers[:, :3] * y[:, None], offsets, axis=0)
    normal = moments[:, np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4]])]
    c0, c1, c2 = np.linalg.solve(normal, weighted[:, :, None])[:, :, 0].T
    root = _nearest_root(c2, c1, c0)
    lo = (first - near) / scale
    hi = (first + lengths - 1 - near) / scale
    inside = (root >= lo) & (root <= hi)
    result[usable] = np.where(inside, near + root * scale, np.nan)
    return result


def _nearest_root(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    """The root of a x^2 + b x + c nearest 0 (NaN if there is none), stable for small a."""
    discriminant = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        q = -(b + np.copysign(np.sqrt(discriminant), b)) / 2
        root: FloatArray = np.where(np.abs(q) > 0, c / q, np.nan)
    return root


def segment_argmax(
    values: FloatArray, first: IntArray, stop: IntArray, sign: FloatArray
) -> IntArray:
    """Index of the first maximum of `sign * values` in each non-empty segment [first, stop)."""
    if not len(first):
        return np.zeros(0, dtype=np.intp)
    lengths = stop - first
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    index = np.arange(int(lengths.sum())) - np.repeat(offsets - first, lengths)
    segment = values[index] * np.repeat(sign, lengths)
    at_peak = np.flatnonzero(segment == np.repeat(np.maximum.reduceat(segment, offsets), lengths))
    owner = np.searchsorted(offsets, at_peak, side="right") - 1
    found: IntArray = index[at_peak[np.flatnonzero(np.diff(owner, prepend=-1))]]
    return found


def moving_average(values: FloatArray, width: int) -> FloatArray:
    """Centred running mean over `width` samples (fewer at the ends); width 1 returns `values`."""
    n = len(values)
    width = min(width, n)
    if width <= 1:
        return values
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    left, right = width // 2, width - width // 2  # the window of i is [i - left, i + right)
    averaged = np.empty(n)
    averaged[left : n - right + 1] = (cumulative[width:] - cumulative[:-width]) / width
    head = np.arange(right, width)  # windows [0, i + right) for i < left
    averaged[:left] = cumulative[head] / head
    tail = np.arange(n - right + 1, n) - left  # windows [i - left, n) for the last samples
    averaged[n - right + 1 :] = (cumulative[n] - cumulative[tail]) / (n - tail)
    return averaged


def twiced_average(values: FloatArray, width: int) -> FloatArray:
    """Tukey's twiced running mean, 2 M(v) - M(M(v)): as smooth as the running mean M, without
    its bias on a curved waveform (the running mean of an exponential approach lies above it and
    would settle late); a quadratic passes unchanged."""
    once = moving_average(values, width)
    if once is values:
        return values
    twice: FloatArray = 2 * once - moving_average(once, width)
    return twice


def fit_half_width(noise: float, precision: float) -> int:
    """Half the number of samples a least-squares fit needs to bring `noise` down to `precision`
    (standard error of the fitted value, ~1.5 noise / sqrt(samples) for a parabola's vertex)."""
    if noise <= 0.0 or precision <= 0.0:
        return 1
    return max(1, math.ceil((1.5 * noise / precision) ** 2 / 2))


def extremum(
    values: FloatArray,
    first: int,
    stop: int,
    *,
    maximum: bool,
    reference: float,
    noise: float,
    amplitude: float,
    span: int,
) -> tuple[float, int]:
    """Highest (or lowest) value of values[first:stop] and its index, fitted through the noise.

    `span` is the shortest time scale of the waveform in samples (its fastest transition): no
    peak of a band-limited waveform is narrower. The extreme is located on a running mean that
    brings the noise to LOCATE_PRECISION of the amplitude, but spans at most half of `span`, so
    it cannot average a peak away. A parabola is then fitted to the raw samples around it: as many
    as bring the noise to PEAK_PRECISION of the peak's height above `reference`, but only where
    the peak is within PEAK_SHAPE of its height, or half of `span` either side when noise hides
    the peak's shape. Noise-free, this is the three-point parabola through the extreme.
    """
    sign = 1.0 if maximum else -1.0
    segment = sign * values[first:stop]
    span = max(span, 1)
    smooth = moving_average(
        segment, min(fit_half_width(noise, LOCATE_PRECISION * amplitude), span // 2)
    )
    top = int(np.argmax(smooth))
    height = max(float(smooth[top]) - sign * reference, 0.0)
    left, right = _hump(smooth, top, smooth[top] - PEAK_SHAPE * height)
    half_width = fit_half_width(noise, PEAK_PRECISION * height)
    reach = max(1, span // 2)
    lo = max(0, top - min(half_width, max(top - left, reach)))
    hi = min(len(segment), top + min(half_width, max(right - top, reach)) + 1)
    if hi - lo < 3:
        return sign * float(segment[top]), first + top
    return sign * _parabola_top(segment[lo:hi], top - lo), first + top


def _hump(values: FloatArray, top: int, threshold: float) -> tuple[int, int]:
    """First and last index of the run of `values >= threshold` that contains `top`."""
    below_left = np.flatnonzero(values[:top] < threshold)
    below_right = np.flatnonzero(values[top:] < threshold)
    left = int(below_left[-1]) + 1 if below_left.size else 0
    right = top + int(below_right[0]) - 1 if below_right.size else len(values) - 1
    return left, right


def _parabola_top(samples: FloatArray, centre: int) -> float:
    """Vertex value of the least-squares parabola through `samples`, or its value at `centre`."""
    x = np.arange(len(samples), dtype=np.float64) - centre
    scale = max(float(np.max(np.abs(x))), 1.0)
    c2, c1, c0 = np.polyfit(x / scale, samples, 2)
    if c2 < 0:
        vertex = -c1 / (2 * c2)
        if x[0] <= vertex * scale <= x[-1]:
            return float(c0 - c1 * c1 / (4 * c2))
    return float(c0)


def interval_mean(values: FloatArray, start: float, stop: float, power: int = 1) -> float:
    """Mean of `values**power` between two fractional indices, integrating the linear interpolant.

    Over whole periods the trapezoidal rule converges fast, so coarse sampling stays accurate.
    """
    i0, i1 = math.ceil(start), math.floor(stop)
    ends = (_value_at(values, start) ** power, _value_at(values, stop) ** power)
    if i1 < i0:
        return float(sum(ends) / 2)
    inner = values[i0 : i1 + 1]
    first, last = float(inner[0]) ** power, float(inner[-1]) ** power
    total = _power_sum(inner, power) - (first + last) / 2
    total += (i0 - start) * (ends[0] + first) / 2 + (stop - i1) * (ends[1] + last) / 2
    return float(total / (stop - start))


def _value_at(values: FloatArray, index: float) -> float:
    i = min(int(index), len(values) - 2)
    return float(values[i] + (index - i) * (values[i + 1] - values[i]))


def _power_sum(values: FloatArray, power: int) -> float:
    if power == 1:
        return float(np.sum(values))
    return float(np.dot(values, values))
