"""The `benchtest` command line: sub-commands, the demo, and scanning and checking a bench.

The `benchtest` script and `python -m benchtest.cli` both run `main`.
"""

from __future__ import annotations

from benchtest.cli.commands import main

__all__ = ["main"]
