"""Choosing run files to characterise through a `Catalog`: a folder plus filters (part, plan,
lot, serial number, a date range).

The catalog is brought up to date through its public API; the selection is then read from its
SQLite index, opened read-only, so nothing here changes the catalog.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from benchtest.results import Catalog
from benchtest.review.characterise_read import CharacteriseError


@dataclass(frozen=True)
class Query:
    """Which runs of a catalog: every filter left None matches everything."""

    folder: Path
    part: str | None = None
    plan: str | None = None  # a plan file; matches its path or its trailing part
    lot: str | None = None
    serial: str | None = None
    start: str | None = None  # ISO date or time (UTC when naive), inclusive
    end: str | None = None  # ISO date or time (UTC when naive), exclusive

    def describe(self) -> str:
        filters = [f"{k}={v}" for k, v in vars(self).items() if k != "folder" and v is not None]
        return f"catalog {self.folder}" + (f" ({', '.join(filters)})" if filters else "")


def _seconds(text: str, what: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise CharacteriseError(
                f"--{what} {text!r}: expected an ISO date or time, e.g. 2026-11-28"
            ) from None
        moment = datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def select(query: Query) -> tuple[list[Path], list[tuple[str, str]]]:
    """The run files the query selects (by start time), and the (path, reason) of the files
    the catalog could not read."""
    if not query.folder.is_dir():
        raise CharacteriseError(f"{query.folder}: no such folder for --catalog")
    with Catalog(query.folder) as catalog:
        skipped = catalog.skipped
        index = catalog.index_path
    sql = "SELECT r.path FROM runs r WHERE 1"
    args: list[Any] = []
    for column, value in (("part", query.part), ("lot", query.lot), ("serial", query.serial)):
        if value is not None:
            sql += f" AND r.{column} = ?"
            args.append(value)
    if query.start is not None:
        sql += " AND r.start >= ?"
        args.append(_seconds(query.start, "since"))
    if query.end is not None:
        sql += " AND r.start < ?"
        args.append(_seconds(query.end, "until"))
    if query.plan is not None:
        sql += (
            " AND EXISTS (SELECT 1 FROM tests t WHERE t.run = r.id"
            " AND (t.plan = ? OR t.plan LIKE ? ESCAPE '\\'))"
        )
        escaped = query.plan.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args += [query.plan, f"%/{escaped}"]
    try:
        db = sqlite3.connect(f"{index.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = [str(p) for (p,) in db.execute(sql + " ORDER BY r.start, r.path", args)]
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise CharacteriseError(f"{index}: cannot read the catalog index: {exc}") from exc
    if not found:
        raise CharacteriseError(f"no run files match: {query.describe()}")
    return [query.folder / os.path.normpath(p) for p in found], skipped


__all__ = ["Query", "select"]
