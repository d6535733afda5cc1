"""Interchange formats written from run files: STDF V4 for yield and ATE tools, CSV for
spreadsheets (`export_runs`). Built from run files through `benchtest.results` only."""

from __future__ import annotations

from benchtest.export.formats import FORMATS, export_runs

__all__ = ["FORMATS", "export_runs"]
