"""What ran: the plans' root, test ids relative to it, and the identity of the plan files.

A test id is the plan file's path relative to the plans' root plus pytest's name of the test
in that file (`ldo/test_ldo_basics.py::test_startup_ramp`), so a test keeps its id however
the plans are run: `benchtest demo`, `pytest test_plans/ldo`, `benchtest run`, from any folder.
The plans' root of a plan file is, in this order: the folder the `benchtest_plans_root` ini
option names; the nearest enclosing folder called `test_plans`; the nearest enclosing folder
that holds a project file (`pyproject.toml`, `pytest.ini`, `tox.ini`, `setup.cfg`) or `.git`;
the plan file's own folder.

`PlanIdentity.of(root, files)` records exactly which plans ran: a sha256 over the files'
contents, always, and the git commit of the repository holding them only when every file is
inside that repository's work tree (dirty when any of them differs from the commit: modified,
staged, untracked or ignored).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PLANS_FOLDER = "test_plans"
PROJECT_MARKERS = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg", ".git")
GIT_TIMEOUT = 10.0  # s for one git command


def plans_root(plan: Path, explicit: Path | None = None) -> Path:
    """The plans' root of the plan file `plan` (see the module docstring for the rule)."""
    plan = plan.resolve()
    if explicit is not None and plan.is_relative_to(explicit.resolve()):
        return explicit.resolve()
    folders = plan.parents
    for folder in folders:
        if folder.name == PLANS_FOLDER:
            return folder
    for folder in folders:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return plan.parent


def plan_test_id(plan: Path, nodeid: str, root: Path) -> str:
    """`nodeid` with its file part replaced by `plan` relative to `root`."""
    _, separator, name = nodeid.partition("::")
    relative = plan.resolve().relative_to(root).as_posix()
    return f"{relative}{separator}{name}"


@dataclass(frozen=True)
class PlanIdentity:
    """The plan files that ran: where, their content hash, and their git state.

    `manifest` has one line per file, `<sha256>  <path relative to root>`, sorted by path (what
    `sha256sum` prints), and `sha256` is the sha256 of the manifest: the same plans give the
    same hash on any machine, in git or not. `commit` is "" unless every file is inside one
    git work tree; `dirty` says that some file differs from that commit.
    """

    root: str = ""
    sha256: str = ""
    manifest: str = ""
    commit: str = ""
    dirty: bool = False

    @classmethod
    def of(cls, root: Path, files: Iterable[Path]) -> PlanIdentity:
        root = root.resolve()
        paths = sorted({Path(f).resolve() for f in files}, key=lambda p: _shown(p, root))
        manifest = "".join(f"{_file_sha256(p)}  {_shown(p, root)}\n" for p in paths)
        commit, dirty = git_state(root, paths)
        return cls(
            root=str(root),
            sha256=hashlib.sha256(manifest.encode()).hexdigest(),
            manifest=manifest,
            commit=commit,
            dirty=dirty,
        )


def python_files(root: Path) -> list[Path]:
    """Every `.py` file under `root`, outside hidden folders and caches."""
    return [
        path
        for path in root.rglob("*.py")
        if not any(part.startswith(".") or part == "__pycache__" for part in path.parts)
    ]


def git_state(root: Path, files: Sequence[Path]) -> tuple[str, bool]:
    """(commit, dirty) of the git work tree holding every one of `files` (searched from
    `root`); ("", False) when there is none, or when a file lies outside it."""
    top = _git(root, "rev-parse", "--show-toplevel")
    commit = _git(root, "rev-parse", "--verify", "HEAD") if top else None
    if not top or not commit:
        return "", False
    work_tree = Path(top).resolve()
    if not all(path.is_relative_to(work_tree) for path in files):
        return "", False
    if not files:
        return commit, False
    pathspecs = [path.relative_to(work_tree).as_posix() for path in files]
    status = _git(
        work_tree,
        "status",
        "--porcelain",
        "--untracked-files=all",
        "--ignored=matching",
        "--",
        *pathspecs,
    )
    return commit, status is None or bool(status)


def _git(directory: Path, *args: str) -> str | None:
    """git's output in `directory`, or None when git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def _file_sha256(path: Path) -> str:
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
