"""Test ids and the plans' identity: one test is one id however it is run, and the run file
records exactly which plans ran (content hash always, git commit only for plans inside git)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import h5py

from benchtest.config.assets import DEMO_PLANS, asset
from benchtest.results import open_run
from benchtest.run.plans import PlanIdentity, plan_test_id, plans_root

REPO = Path(__file__).resolve().parents[1]
PLAN = "def test_value(measure):\n    measure('x', 1.0, unit='V', low=0.0, high=2.0)\n"
BENCH = (
    "schema_version: 1\nname: idle bench\ninstruments:\n"
    "  smu: {driver: keithley.k2450, resource: 'TCPIP::127.0.0.1::9::SOCKET'}\n"
)


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
         "-c", "commit.gpgsign=false", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def make_plans(base: Path) -> Path:
    """`base/test_plans/conftest.py` and `base/test_plans/family/test_one.py`; returns the plan."""
    (base / "test_plans" / "family").mkdir(parents=True)
    (base / "test_plans" / "conftest.py").write_text("# shared fixtures\n", encoding="utf-8")
    plan = base / "test_plans" / "family" / "test_one.py"
    plan.write_text(PLAN, encoding="utf-8")
    (base / "bench.yaml").write_text(BENCH, encoding="utf-8")
    (base / "ldo.yaml").write_text(
        (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return plan


def run_plans(cwd: Path, base: Path, target: str, *extra: str, cli: bool = False) -> Path:
    """Run `target` from `cwd` (pytest, or `benchtest run`); return the run file."""
    results = base / "results" / f"{len(list((base / 'results').glob('*')))}"
    options = ["--bench", str(base / "bench.yaml"), "--dut", str(base / "ldo.yaml")]
    options += ["--results-dir", str(results), "-p", "no:cacheprovider", *extra]
    command = (
        [sys.executable, "-m", "benchtest.cli", "run"] if cli else [sys.executable, "-m", "pytest"]
    )
    done = subprocess.run(
        [*command, target, *options], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = results.glob("*.h5")
    return path


def stored_ids(path: Path) -> list[str]:
    with open_run(path) as run:
        return [t.id for t in run.tests]


def test_a_test_has_one_id_however_the_plans_are_run(tmp_path: Path) -> None:
    base = tmp_path / "project"
    make_plans(base)
    (base / "pyproject.toml").write_text("[tool.pytest.ini_options]\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = [
        run_plans(base, base, "test_plans/family"),
        run_plans(base / "test_plans", base, "family/test_one.py"),
        run_plans(elsewhere, base, str(base / "test_plans")),
        run_plans(elsewhere, base, str(base / "test_plans" / "family"), cli=True),
        run_plans(tmp_path, base, str(base / "test_plans"), "--rootdir", str(tmp_path)),
    ]
    ids = {tuple(stored_ids(path)) for path in runs}
    assert ids == {("family/test_one.py::test_value",)}


def test_the_demo_and_pytest_give_the_same_ids() -> None:
    demo_plan = asset(DEMO_PLANS) / "test_ldo_basics.py"
    root = plans_root(demo_plan)
    assert root.name == "test_plans"
    assert plan_test_id(demo_plan, "x/y/test_ldo_basics.py::test_a[1]", root) == (
        "ldo/test_ldo_basics.py::test_a[1]"
    )
    repo_plan = REPO / "test_plans" / "ldo" / "test_ldo_basics.py"
    assert plan_test_id(repo_plan, "test_ldo_basics.py::test_a[1]", plans_root(repo_plan)) == (
        "ldo/test_ldo_basics.py::test_a[1]"
    )


def test_an_explicit_plans_root_wins(tmp_path: Path) -> None:
    plan = make_plans(tmp_path)
    assert plans_root(plan) == (tmp_path / "test_plans").resolve()
    assert plans_root(plan, explicit=tmp_path) == tmp_path.resolve()
    loose = tmp_path / "loose" / "test_x.py"
    loose.parent.mkdir()
    loose.write_text(PLAN, encoding="utf-8")
    assert plans_root(loose) == loose.parent.resolve()  # no marker anywhere up to tmp
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    assert plans_root(loose) == tmp_path.resolve()


def test_an_untracked_plan_makes_the_plans_dirty(tmp_path: Path) -> None:
    plan = make_plans(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "test_plans")
    git(tmp_path, "commit", "-q", "-m", "plans")
    head = git(tmp_path, "rev-parse", "HEAD")
    root = plans_root(plan)
    files = [plan, root / "conftest.py"]
    clean = PlanIdentity.of(root, files)
    assert (clean.commit, clean.dirty) == (head, False)
    new_plan = plan.with_name("test_two.py")
    new_plan.write_text(PLAN, encoding="utf-8")
    untracked = PlanIdentity.of(root, [*files, new_plan])
    assert (untracked.commit, untracked.dirty) == (head, True)
    (tmp_path / "scratch.py").write_text("x = 1\n", encoding="utf-8")  # not a plan that ran
    assert PlanIdentity.of(root, files).dirty is False
    plan.write_text(PLAN + "\n# changed\n", encoding="utf-8")
    assert PlanIdentity.of(root, files).dirty is True


def test_an_ignored_plan_file_is_not_in_the_commit(tmp_path: Path) -> None:
    plan = make_plans(tmp_path)
    (tmp_path / ".gitignore").write_text("test_two.py\n", encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "plans")
    ignored = plan.with_name("test_two.py")
    ignored.write_text(PLAN, encoding="utf-8")
    assert PlanIdentity.of(plans_root(plan), [plan, ignored]).dirty is True


def test_plans_outside_git_get_no_commit_but_a_content_hash(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pyproject.toml").write_text("[tool.pytest.ini_options]\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    plan = make_plans(outside)
    # Run from inside the repository, its rootdir the repository: the plans are not in it.
    path = run_plans(repo, outside, str(plan), "--rootdir", str(repo))
    with h5py.File(path, "r") as file:
        assert file.attrs["plans_commit"] == ""
        assert not file.attrs["plans_dirty"]
        manifest = file["run_info/plans_manifest"][()].decode()
        digest = str(file.attrs["plans_sha256"])
    sha = {name: hashlib.sha256((outside / "test_plans" / name).read_bytes()).hexdigest()
           for name in ("conftest.py", "family/test_one.py")}  # fmt: skip
    assert manifest == "".join(f"{sha[n]}  {n}\n" for n in sorted(sha))
    assert digest == hashlib.sha256(manifest.encode()).hexdigest()
    with open_run(path) as run:
        assert run.metadata["plans_sha256"] == digest


def test_plans_in_a_subfolder_of_a_repository_get_its_commit(tmp_path: Path) -> None:
    plan = make_plans(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "test_plans")
    git(tmp_path, "commit", "-q", "-m", "plans")
    path = run_plans(tmp_path / "test_plans", tmp_path, str(plan))
    with h5py.File(path, "r") as file:
        assert file.attrs["plans_commit"] == git(tmp_path, "rev-parse", "HEAD")
        assert not file.attrs["plans_dirty"]
    (plan.parent / "test_new.py").write_text(PLAN, encoding="utf-8")
    path = run_plans(tmp_path, tmp_path, "test_plans")
    with h5py.File(path, "r") as file:
        assert file.attrs["plans_dirty"]  # the untracked plan ran


def test_git_missing_from_path_records_no_commit(tmp_path: Path) -> None:
    plan = make_plans(tmp_path)
    git(tmp_path, "init", "-q")
    env = {**os.environ, "PATH": str(tmp_path / "no-bin")}
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from benchtest.run.plans import PlanIdentity;"
         f"i = PlanIdentity.of(Path({str(plan.parent.parent)!r}), [Path({str(plan)!r})]);"
         "print(repr(i.commit), i.dirty, len(i.sha256))"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["''", "False", "64"]
