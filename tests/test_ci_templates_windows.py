"""The Windows job of each ci/ template: PowerShell on a Windows runner, `benchtest run --sim`.

No Windows runner is at hand here, so what can be checked is checked by its logic: each
template (validated against its CI system's schema in test_ci_templates.py) runs
ci/sim-bench.ps1 in PowerShell on a Windows runner and keeps the artifacts the script writes,
and the `benchtest run` command of the script, with its variables filled in, passes here.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from test_ci_templates import (
    CI,
    QUICK_PLANS,
    REPO,
    environment,
    jenkins_stages,
    load_yaml,
    parse_jenkinsfile,
)

SCRIPT = CI / "sim-bench.ps1"


def script_default(variable: str) -> str:
    """The default the script gives `$<variable>` (`... else { 'nightly-out\\windows' }`)."""
    text = SCRIPT.read_text(encoding="utf-8")
    match = re.search(rf"^\${variable} = if .* else \{{ (?:@\()?'([^']+)'", text, re.MULTILINE)
    assert match is not None, f"no default for ${variable}"
    return match.group(1)


JUNIT = script_default("out").replace("\\", "/") + "/junit.xml"


def test_the_script_writes_its_junit_where_the_templates_collect_it() -> None:
    assert JUNIT == "nightly-out/windows/junit.xml"


def test_gitlab_runs_the_script_on_a_windows_runner() -> None:
    job = load_yaml(CI / "gitlab-ci.yml")["sim-bench:windows"]
    assert any("windows" in tag for tag in job["tags"])
    assert job["script"] == ["./ci/sim-bench.ps1"]
    assert "extends" not in job  # not the bash before_script of the Linux jobs
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == JUNIT


def test_github_runs_the_script_in_pwsh_on_windows() -> None:
    job = load_yaml(CI / "github-nightly.yml")["jobs"]["sim-bench-windows"]
    assert job["runs-on"] == "windows-latest"
    assert job["defaults"]["run"]["shell"] == "pwsh"
    assert [s["run"] for s in job["steps"] if "run" in s] == ["./ci/sim-bench.ps1"]
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-py"))
    assert setup["with"]["python-version"] == "3.11"
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "nightly-out/"


def test_jenkins_runs_the_script_in_powershell_on_a_windows_agent() -> None:
    stages = jenkins_stages(parse_jenkinsfile((CI / "Jenkinsfile").read_text(encoding="utf-8")))
    stage = stages["sim-bench-windows"]
    assert re.search(r"agent\s*\{\s*label\s+'windows'\s*\}", stage.body)
    steps = stage.one("steps").body
    assert re.search(r"powershell '.*& \.\\\\ci\\\\sim-bench\.ps1; exit \$LASTEXITCODE'", steps)
    always = stage.one("post").one("always").body
    assert f"junit testResults: '{JUNIT}', keepProperties: true" in always


def script_command(out: Path) -> list[str]:
    """The script's `benchtest run` line as an argument list, its variables filled in."""
    [line] = [
        line
        for line in SCRIPT.read_text(encoding="utf-8").splitlines()
        if line.startswith(".venv\\Scripts\\benchtest.exe run ")
    ]
    argv: list[str] = []
    for token in shlex.split(line.replace("\\", "/")):
        if token == "@plans":
            argv.append(QUICK_PLANS)
        elif token == "$dut":
            argv.append(script_default("dut").replace("\\", "/"))
        else:
            argv.append(token.replace("$out", str(out)))
    assert argv[0] == ".venv/Scripts/benchtest.exe" and not any("$" in a for a in argv), argv
    return ["benchtest", *argv[1:]]


def test_the_scripts_benchtest_run_passes_on_the_simulated_bench(tmp_path: Path) -> None:
    out = tmp_path / "windows"
    command = script_command(out)
    assert command[1:3] == ["run", QUICK_PLANS] and "--sim" in command
    done = subprocess.run(
        command, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list((out / "run").glob("*.h5"))) == 1
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert int(suite.get("tests", "0")) > 0
