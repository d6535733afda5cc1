"""Opening the catalog a target names: a results folder (SQLite) or a PostgreSQL URL.

Both kinds answer the questions of `benchtest.results.lab_catalog.LabCatalog`, so trends,
comparisons and the lab's history read either without knowing which.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchtest.results.catalog import Catalog
from benchtest.results.lab_catalog import CatalogError, LabCatalog, is_database_url


def open_catalog(target: str | os.PathLike[str]) -> LabCatalog:
    """The catalog `target` names: a `postgresql://` URL, or a results folder."""
    if is_database_url(target):
        from benchtest.results.lab_postgres import PostgresCatalog  # needs psycopg

        return PostgresCatalog(str(target))
    folder = Path(target)
    if not folder.is_dir():
        raise CatalogError(f"{folder}: no such results folder, and not a postgresql:// URL")
    return Catalog(folder)


__all__ = ["open_catalog"]
