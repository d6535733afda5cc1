"""Engineering notation and plot helpers of the report."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchtest.report.plot import envelope, nice_ticks
from benchtest.report.units import format_eng, scale_for


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (45.1e-6, "A", "45.1 µA"),
        (0.182, "V", "182 mV"),
        (3.3, "V", "3.3 V"),
        (0.0, "A", "0 A"),
        (-12.5e-9, "A", "-12.5 nA"),
        (999.96e-6, "A", "1 mA"),
        (1.2345678e6, "Hz", "1.235 MHz"),
        (25.0, "degC", "25 °C"),
        (47e3, "Ohm", "47 kΩ"),
        (0.5, "", "0.5"),
        (float("nan"), "V", "—"),
        (None, "V", "—"),
    ],
)
def test_format_eng(value: float | None, unit: str, shown: str) -> None:
    assert format_eng(value, unit) == shown


def test_scale_for_picks_the_prefix_of_the_largest_value() -> None:
    assert scale_for(9e-4, "s") == (1e-6, "µs")
    assert scale_for(0.9, "s") == (1e-3, "ms")
    assert scale_for(25.0, "degC") == (1.0, "°C")


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(-1e-4, 9e-4) == pytest.approx([0.0, 2e-4, 4e-4, 6e-4, 8e-4])
    assert nice_ticks(0.0, 3.3) == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert nice_ticks(-0.21, 0.21) == pytest.approx([-0.2, -0.1, 0.0, 0.1, 0.2])


class Chunked:
    """An array that counts how many elements each read asked for."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.largest_read = 0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: slice) -> np.ndarray:
        block = self.data[index]
        self.largest_read = max(self.largest_read, len(block))
        return block


def test_envelope_matches_a_direct_reduction_and_reads_in_blocks() -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(-2000, 2000, 3_000_001).astype(np.int16)
    source = Chunked(data)
    starts, low, high = envelope(source, 700)  # type: ignore[arg-type]
    edges = np.append(starts, len(data))
    assert low.tolist() == [data[a:b].min() for a, b in itertools.pairwise(edges)]
    assert high.tolist() == [data[a:b].max() for a, b in itertools.pairwise(edges)]
    assert source.largest_read <= 1 << 20
