"""The lab catalog: one interface over the embedded SQLite index and a lab-wide PostgreSQL store.

A results folder names the embedded `Catalog` (SQLite, the default), a `postgresql://` URL
the lab's `PostgresCatalog`, into which many bench hosts publish concurrently
(`benchtest.results.lab.open_catalog` opens either). Both answer the same questions
(`LabCatalog`): the values of a parameter, a parameter's history by part, bench and night,
the runs, and the named baselines. The URL may come from `--catalog` or from the
environment (`BENCHTEST_CATALOG`); its password, if it holds one, is never printed: every
message shows `redact(url)`, and the password is better kept in `PGPASSWORD` or `~/.pgpass`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Self
from urllib.parse import urlsplit, urlunsplit

from benchtest.values.errors import BenchtestError

if TYPE_CHECKING:  # the catalog's settings are read at a run's start, without numpy
    import numpy.typing as npt

#: The environment variable that names the lab catalog when `--catalog` is not given.
CATALOG_VARIABLE = "BENCHTEST_CATALOG"
_SCHEMES = ("postgresql", "postgres")
_PASSWORD_IN_CONNINFO = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)

Moment = datetime | date | str | float | None


class Baseline(NamedTuple):
    """One promotion of a run to a named baseline."""

    name: str
    path: str  # the run file: relative to the catalog's folder, or as published
    run_id: str
    part: str
    serial: str
    start_time: str  # when the run started (UTC ISO 8601)
    promoted: str  # when it was promoted (UTC ISO 8601)
    promoted_by: str
    note: str


class CatalogError(BenchtestError):
    """The lab catalog cannot be reached or used: names the catalog (redacted) and why."""


class NightlyValues(NamedTuple):
    """One parameter's values of one part on one bench in the runs started in one night."""

    part: str
    bench: str  # the bench file's station
    night: str  # YYYY-MM-DD: the evening the night started
    readings: int  # values measured (NaN, no valid value, not counted)
    mean: float
    minimum: float
    maximum: float
    failed: int  # values out of their limits


class LabCatalog(Protocol):
    """What every catalog answers; `benchtest.results.Catalog` and `PostgresCatalog` do."""

    def values(
        self,
        parameter: str,
        part: str | None = None,
        start: Moment = None,
        end: Moment = None,
        serial: str | None = None,
    ) -> npt.NDArray[Any]: ...

    def nightly(
        self,
        parameter: str,
        part: str | None = None,
        bench: str | None = None,
        start: Moment = None,
        end: Moment = None,
    ) -> list[NightlyValues]: ...

    def runs(self) -> Iterator[tuple[str, str, str, str]]: ...

    def baseline(self, name: str) -> Baseline: ...

    def baselines(self) -> list[Baseline]: ...

    def baseline_history(self, name: str | None = None) -> list[Baseline]: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


def moment_seconds(moment: Moment, default: float) -> float:
    """Seconds since the epoch (UTC) of a datetime, date (midnight UTC), ISO text or number;
    `default` for None."""
    if moment is None:
        return default
    if isinstance(moment, float | int):
        return float(moment)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:  # naive times are UTC, like every time in a run file
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso_seconds(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time; None when it is empty or not a time."""
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def is_database_url(target: str | os.PathLike[str]) -> bool:
    """Whether `target` is a PostgreSQL URL rather than a results folder."""
    return isinstance(target, str) and target.split(":", 1)[0].lower() in _SCHEMES


def redact(target: str) -> str:
    """`target` with its password, if any, replaced by `***`: what may be printed or logged."""
    if not is_database_url(target):
        return _PASSWORD_IN_CONNINFO.sub(r"\1***", target)
    try:
        parts = urlsplit(target)
        password = parts.password
    except ValueError:
        return f"{target.split(':', 1)[0]}://(a URL that cannot be parsed)"
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = _PASSWORD_IN_CONNINFO.sub(r"\1***", parts.query.replace("&", " ")).replace(" ", "&")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def catalog_target(given: str | None, folder: str | os.PathLike[str] | None = None) -> str | Path:
    """The catalog to use: `given` (`--catalog`), else `$BENCHTEST_CATALOG`, else `folder`."""
    target = given or os.environ.get(CATALOG_VARIABLE, "")
    if target:
        return target if is_database_url(target) else Path(target)
    if folder is None:
        raise CatalogError(
            f"no lab catalog given: pass --catalog postgresql://HOST/DB or set {CATALOG_VARIABLE}"
        )
    return Path(folder)


__all__ = [
    "CATALOG_VARIABLE",
    "Baseline",
    "CatalogError",
    "LabCatalog",
    "NightlyValues",
    "catalog_target",
    "is_database_url",
    "iso_seconds",
    "moment_seconds",
    "redact",
]
