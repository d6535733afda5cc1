"""Configuration files known to be valid: jsonschema's verdicts on valid files, kept across runs.

Validating a bench file or DUT profile means importing jsonschema (~50 ms of CPU, more than
the rest of a bench run's start-up beside numpy and h5py) and running it (a few ms for a
profile). A run of the same plans on the same bench reads the same files night after night, so
a file that passed is remembered by a key naming everything its verdict depends on: the exact
bytes of the file, the exact text of the schema, and the jsonschema installed (where its
package is, and the size and time of its files, which an upgrade rewrites). A file that fails is
never remembered, and every error comes from jsonschema itself.

The cache is a folder of empty files named by their keys: `$BENCHTEST_CACHE_DIR`, else
`$XDG_CACHE_HOME/benchtest` (`~/.cache/benchtest`; `%LOCALAPPDATA%\\benchtest` on Windows),
in `valid-files/`. Each version of a file ever validated adds one empty file; deleting the
folder only costs the next runs their validation. A folder that cannot be read or written
(a read-only home in a container) turns the cache off: every file is validated.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import cache
from pathlib import Path

#: Bumped when what a key covers changes.
_KEY_VERSION = b"benchtest valid-files 1\n"


class ValidFiles:
    """The valid files remembered in `folder` (None: remember nothing)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @staticmethod
    def default() -> ValidFiles:
        """The cache of this process's user (see the module docstring)."""
        root = _cache_root()
        return ValidFiles(None if root is None else root / "valid-files")

    def key(self, schema: bytes, file_sha256: str) -> str:
        """The key of a file with SHA-256 `file_sha256` checked against the schema text
        `schema` by the jsonschema installed."""
        digest = hashlib.sha256(_KEY_VERSION)
        digest.update(hashlib.sha256(schema).digest())
        digest.update(file_sha256.encode())
        digest.update(_jsonschema_stamp())
        return digest.hexdigest()

    def known(self, key: str) -> bool:
        """Whether a file of `key` passed its schema before."""
        return self.folder is not None and (self.folder / key).is_file()

    def remember(self, key: str) -> None:
        """Remember that the file of `key` passed its schema (best effort: a folder that
        cannot be written is left as it is)."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / key).touch()
        except OSError:
            pass


def _cache_root() -> Path | None:
    """benchtest's cache folder for this user, or None when there is no home to put it in."""
    chosen = os.environ.get("BENCHTEST_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("LOCALAPPDATA" if os.name == "nt" else "XDG_CACHE_HOME")
    if base:
        return Path(base) / "benchtest"
    try:
        return Path.home() / ".cache" / "benchtest"
    except RuntimeError:  # no home folder can be determined
        return None


@cache
def _jsonschema_stamp() -> bytes:
    """What tells one installed jsonschema from another, without importing it: where its
    package is, and the size and modification time of each of its modules."""
    spec = importlib.util.find_spec("jsonschema")
    if spec is None or spec.origin is None:
        return b"no jsonschema"
    package = Path(spec.origin).parent
    stamp = [str(package)]
    try:
        for entry in sorted(os.scandir(package), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                info = entry.stat()
                stamp.append(f"{entry.name}:{info.st_size}:{info.st_mtime_ns}")
    except OSError:
        return b"unreadable jsonschema"
    return "\n".join(stamp).encode()
