"""Review across runs: regression against a baseline (`compare_runs`) and datasheet-style
statistics across units (`characterise`). Built from run files through `benchtest.results`
only, so any of it can be made again years later."""

from __future__ import annotations

from benchtest.review.characterise import Characterisation, characterise
from benchtest.review.compare import Comparison, compare_runs

__all__ = ["Characterisation", "Comparison", "characterise", "compare_runs"]
