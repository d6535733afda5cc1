"""HTML verification reports built from run files (never from a live run).

`write_report(run_path)` writes one self-contained HTML file: run header and verdict, every
test's measurements and waveform plots, and the instruments and DUT profile used.
"""

from __future__ import annotations

from benchtest.report.html import write_report

__all__ = ["write_report"]
