"""docs/tutorial.md works as written: every command in it runs here, in order.

The tutorial's fenced blocks are turned into one shell script: a ```sh block is run as it is,
a ```python or ```yaml block whose first line is `# file: PATH` is written to PATH at that
point. It runs in a copy of the repository's benches, DUT profiles, plans and ci/ folder, with
this checkout's `benchtest` on the PATH. Two things are not run as written, as the tutorial
says: the install block (this environment is installed already; the tutorial's next block
checks the result), and the real bench's addresses in step 3, which point at simulated
instruments that this test starts with `benchtest sim --write-bench`.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_ci_templates import environment  # this checkout's benchtest first on the PATH

from benchtest.__about__ import __version__

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial.md"
INSTALL = ["python3 -m venv .venv && .venv/bin/pip install -e .", ". .venv/bin/activate"]
REAL_BENCH = "benches/lab-bench.yaml"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, in order."""
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(text)]


def script(served: dict[str, str]) -> str:
    """The tutorial as one shell script; the real bench's resources replaced by `served`."""
    found = blocks(TUTORIAL.read_text(encoding="utf-8"))
    language, install = found[0]
    assert (language, install.splitlines()) == ("sh", INSTALL), "the install block changed"
    lines = ["set -e -o pipefail"]
    for language, body in found[1:]:
        first = body.splitlines()[0]
        if first.startswith("# file: "):
            path = first.removeprefix("# file: ").strip()
            if path == REAL_BENCH:
                body = at_simulated_addresses(body, served)
            lines += [f"mkdir -p {Path(path).parent}", f"cat > {path} <<'TUTORIAL_FILE'",
                      body.rstrip("\n"), "TUTORIAL_FILE"]  # fmt: skip
        elif language == "sh":
            lines.append(body)
        else:
            assert language in ("yaml", "python", "text"), f"a {language} block without # file:"
    return "\n".join(lines) + "\n"


def at_simulated_addresses(text: str, served: dict[str, str]) -> str:
    bench = yaml.safe_load(text)
    for role, instrument in bench["instruments"].items():
        assert instrument["resource"] != served[role]
        instrument["resource"] = served[role]
    return yaml.safe_dump(bench, sort_keys=False)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """What a clone of the repository gives the tutorial (benchtest itself is installed)."""
    folder = tmp_path / "benchtest"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("benches", "dut_profiles", "test_plans", "ci"):
        shutil.copytree(REPO / name, folder / name, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", folder / "pyproject.toml")
    return folder


@pytest.fixture
def simulated_instruments(clone: Path) -> Iterator[dict[str, str]]:
    """The simulated bench served in the background, as `benchtest sim` does: each role's
    loopback address (or pseudo-terminal)."""
    served = clone.parent / "served.yaml"
    process = subprocess.Popen(
        ["benchtest", "sim", "--dut", str(clone / "dut_profiles" / "bt_ldo33.yaml"),
         "--write-bench", str(served)],
        cwd=clone, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        said = []
        for line in process.stdout:
            said.append(line)
            if "benchtest-sim ready" in line:
                break
        else:
            pytest.fail("benchtest sim did not start:\n" + "".join(said))
        instruments = yaml.safe_load(served.read_text(encoding="utf-8"))["instruments"]
        yield {role: str(entry["resource"]) for role, entry in instruments.items()}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_every_command_of_the_tutorial_runs(
    clone: Path, simulated_instruments: dict[str, str]
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", script(simulated_instruments)], cwd=clone, env=environment(),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"benchtest {__version__}" in done.stdout
    # Step 2: the first plan on the simulated bench, and its report.
    runs = sorted((clone / "results").glob("*.h5"))
    assert next(p.name for p in runs if "U0042" not in p.name).endswith("_BT-LDO33.h5")
    assert (clone / "results" / "first-report.html").stat().st_size > 0
    # Step 3: the "real" bench answered every role, and the run is of U0042.
    assert re.search(r"ok\s+smu\s+keithley\.k2450", done.stdout), done.stdout
    assert re.search(r"ok\s+uart\s+serial\.debug_port", done.stdout), done.stdout
    assert len([p for p in runs if p.name.endswith("_BT-LDO33_U0042.h5")]) == 2  # + the night
    # Step 4: the night against the promoted baseline, and the pipeline's own sim-bench job.
    verdict = json.loads((clone / "night-1" / "compare.json").read_text(encoding="utf-8"))
    assert (verdict["verdict"], verdict["baseline"]["name"]) == ("no regression", "nightly-ldo")
    for artifact in ("junit.xml", "report.html", "compare.html"):
        assert (clone / "night-1" / artifact).is_file(), artifact
    assert (clone / ".gitlab-ci.yml").read_bytes() == (REPO / "ci" / "gitlab-ci.yml").read_bytes()
    sim = json.loads((clone / "sim-night" / "second-night" / "compare.json").read_text("utf-8"))
    assert sim["verdict"] == "no regression"
    assert time.monotonic() - started < 120  # a slow tutorial test is one nobody runs


def test_the_tutorial_names_files_that_exist() -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:docs|ci|dut_profiles)/[\w./-]+\.(?:md|yaml|yml|sh))`", text))
    assert named, "no file named"
    assert sorted(name for name in named if not (REPO / name).is_file()) == []
