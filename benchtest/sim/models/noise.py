"""Reproducible gaussian noise addressed by sample index, generated block by block.

Noise for points `start .. start+count` of a record depends only on the seed and the indices, so a
record read in chunks of any size is identical to the same record read at once, and a chunk of a
24 M-point memory costs only the blocks it touches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Samples generated at a time: a screen read (about 1 000 points) costs one block (~60 us;
#: 65 536 samples took ~1 ms, on the path of every shared-scope capture), a 24 M-point memory
#: read about 3 000 (their set-up adds ~10 % to its ~0.4 s).
BLOCK = 1 << 13


def gaussian(seed: Sequence[int], start: int, count: int, rms: float) -> npt.NDArray[np.float64]:
    """Noise samples `start .. start+count-1` of the stream named by `seed`, with RMS `rms`."""
    if count <= 0:
        return np.empty(0, dtype=np.float64)
    first, last = start // BLOCK, (start + count - 1) // BLOCK
    blocks = [
        np.random.default_rng([*seed, block]).standard_normal(BLOCK)
        for block in range(first, last + 1)
    ]
    offset = start - first * BLOCK
    return np.concatenate(blocks)[offset : offset + count] * rms
