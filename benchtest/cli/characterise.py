"""`benchtest characterise`: see `register`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sub-command(s) of this module to the `benchtest` parser."""
