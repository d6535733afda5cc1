"""The pipeline templates of ci/: valid for their CI system, and their pipeline runs here.

The GitLab file is validated against GitLab's published CI schema and the GitHub workflow
against SchemaStore's workflow schema (both vendored in ci/schemas/); the Jenkinsfile's
stages, agents, locks and JUnit step are checked by a structural parse. Each template's
sim-bench job script then runs as a plain shell script on the simulated bench, and
ci/nightly.sh is run for a regression, an unreachable bench, publishing to a real PostgreSQL
lab catalog (and one that cannot be reached), and bad settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pg_server import lab_url, postgres_server  # noqa: F401  (fixtures: a real PostgreSQL)
from test_run_truth import closed_port

from benchtest.config.files import parse_yaml
from benchtest.plugin.runner import EXIT_BENCH_ERROR
from benchtest.results import Catalog

REPO = Path(__file__).resolve().parents[1]
CI = REPO / "ci"
SCHEMAS = CI / "schemas"
# A quick plan for the pipelines' own tests: the sim-bench job's full plans take longer.
QUICK_PLANS = str(REPO / "test_plans" / "ldo" / "test_ldo_basics.py")
INSTALL = re.compile(r"python3 -m venv \.venv && \.venv/bin/pip install --quiet -e \.")


def load_yaml(path: Path) -> Any:
    """YAML read as the CI systems read it (`on:` is the key "on", not true)."""
    return parse_yaml(path.read_text(encoding="utf-8"), str(path))


def schema(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))


def messages(validator: jsonschema.Draft7Validator, document: Any) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]


# -- the vendored schemas ------------------------------------------------------------------


def test_the_vendored_schemas_are_the_published_files() -> None:
    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    assert "check-jsonschema` 0.39.0" in readme
    for name in ("gitlab-ci.json", "github-workflows.json"):
        digest = hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest()
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        assert f"`{digest}`" in row, f"{name} differs from the file the README names"
    for licence in ("LICENSE.gitlab", "LICENSE.schemastore"):
        assert (SCHEMAS / licence).stat().st_size > 500
    published = json.loads((SCHEMAS / "gitlab-ci.json").read_text(encoding="utf-8"))
    assert published["$id"] == "https://gitlab.com/.gitlab-ci.yml"


def test_the_readme_documents_every_setting_of_the_nightly_job() -> None:
    read = set(re.findall(r"\$\{?(BENCHTEST_[A-Z_]+)", (CI / "nightly.sh").read_text("utf-8")))
    readme = (CI / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Settings", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `(BENCHTEST_[A-Z_]+)`", table, re.MULTILINE))
    documented |= set(re.findall(r"`, `(BENCHTEST_[A-Z_]+)`", table))
    assert len(read) == 15 and read == documented


# -- GitLab CI -----------------------------------------------------------------------------


def gitlab_bench_jobs(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: job
        for name, job in pipeline.items()
        if isinstance(job, dict) and job.get("extends") == ".bench-night"
    }


def test_the_gitlab_pipeline_matches_gitlabs_schema() -> None:
    pipeline = load_yaml(CI / "gitlab-ci.yml")
    assert messages(schema("gitlab-ci.json"), pipeline) == []


def test_the_gitlab_schema_refuses_a_broken_pipeline() -> None:
    """The validation bites: a misspelt keyword and a resource group that is a list."""
    pipeline = load_yaml(CI / "gitlab-ci.yml")
    pipeline["sim-bench"]["scirpt"] = pipeline["sim-bench"].pop("script")
    pipeline["nightly:lab3-b2"]["resource_group"] = ["bench-lab3-b2"]
    found = messages(schema("gitlab-ci.json"), pipeline)
    assert any("'scirpt' was unexpected" in m for m in found), found
    assert any("is not of type 'string'" in m for m in found), found


def test_each_gitlab_bench_job_has_its_runner_its_resource_group_and_the_schedule() -> None:
    pipeline = load_yaml(CI / "gitlab-ci.yml")
    jobs = gitlab_bench_jobs(pipeline)
    assert jobs, "no bench job extends .bench-night"
    night = pipeline[".bench-night"]
    assert night["script"] == ["ci/nightly.sh"]
    assert night["retry"] == {"max": 1, "exit_codes": [EXIT_BENCH_ERROR]}
    assert any("schedule" in rule["if"] for rule in night["rules"])
    for name, job in jobs.items():
        [tag] = job["tags"]
        assert tag.startswith("bench-") and job["resource_group"] == tag, name
        assert {"BENCHTEST_BENCH", "BENCHTEST_DUT", "BENCHTEST_BASELINE"} <= set(job["variables"])
    artifacts = pipeline[".benchtest"]["artifacts"]
    assert artifacts["when"] == "always" and artifacts["paths"] == ["nightly-out/"]
    assert artifacts["reports"]["junit"] == "nightly-out/junit.xml"
    sim = pipeline["sim-bench"]
    assert "tags" not in sim and "resource_group" not in sim and "rules" not in sim
    assert sim["artifacts"]["reports"]["junit"] == "nightly-out/second-night/junit.xml"


def gitlab_sim_script() -> list[str]:
    pipeline = load_yaml(CI / "gitlab-ci.yml")
    before = pipeline[".benchtest"]["before_script"]
    assert INSTALL.fullmatch(before[0]) and before[1:] == ['export PATH="$PWD/.venv/bin:$PATH"']
    return list(pipeline["sim-bench"]["script"])


# -- GitHub Actions ------------------------------------------------------------------------


def test_the_github_workflow_matches_its_schema() -> None:
    workflow = load_yaml(CI / "github-nightly.yml")
    assert messages(schema("github-workflows.json"), workflow) == []
    bench = workflow["jobs"]["bench"]
    # The validation bites: a job without runs-on, and a misspelt keyword.
    for job in ({"steps": bench["steps"]}, {**bench, "timeout-minute": 5}):
        broken = {**workflow, "jobs": {**workflow["jobs"], "bench": job}}
        found = messages(schema("github-workflows.json"), broken)
        assert [m.split(":")[0] for m in found] == ["$.jobs.bench"], found


def test_the_github_bench_job_runs_self_hosted_one_job_per_bench() -> None:
    workflow = load_yaml(CI / "github-nightly.yml")
    assert workflow["on"]["schedule"] == [{"cron": "0 22 * * *"}]
    job = workflow["jobs"]["bench"]
    assert job["runs-on"] == ["self-hosted", "bench-${{ matrix.bench }}"]
    assert job["concurrency"] == {"group": "bench-${{ matrix.bench }}", "cancel-in-progress": False}
    assert all({"bench", "dut", "baseline"} <= set(m) for m in job["strategy"]["matrix"]["include"])
    runs = [step.get("run") for step in job["steps"]]
    assert "ci/nightly.sh" in runs
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "nightly-out/"
    assert workflow["jobs"]["sim-bench"]["runs-on"] == "ubuntu-latest"


def github_sim_script() -> list[str]:
    steps = load_yaml(CI / "github-nightly.yml")["jobs"]["sim-bench"]["steps"]
    runs = [str(step["run"]) for step in steps if "run" in step]
    assert INSTALL.search(runs[0]) and runs[0].startswith("rm -rf nightly-out && ")
    return runs[1:]


# -- Jenkins -------------------------------------------------------------------------------


@dataclass
class Block:
    """A `name(args) { body }` block of a Jenkinsfile, with the blocks inside it."""

    name: str
    args: str
    body: str
    children: list[Block] = field(default_factory=list)

    def find(self, name: str) -> list[Block]:
        return [child for child in self.children if child.name == name]

    def one(self, name: str) -> Block:
        [found] = self.find(name)
        return found


_STRING = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
_OPENING = re.compile(r"(\w+)\s*(\([^(){}]*\))?\s*\{")


def blank_strings_and_comments(text: str) -> str:
    """The text with string contents and comments blanked (same length), so braces inside
    them do not count."""
    out = re.sub(r"//[^\n]*", lambda m: " " * len(m.group()), text)
    out = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), out, flags=re.DOTALL)
    return _STRING.sub(lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[0], out)


def parse_jenkinsfile(text: str) -> Block:
    """The declarative pipeline's blocks; ValueError on unbalanced braces or parentheses."""
    masked = blank_strings_and_comments(text)
    for left, right in ("{}", "()", "[]"):
        if masked.count(left) != masked.count(right):
            raise ValueError(
                f"unbalanced {left}{right}: {masked.count(left)} against {masked.count(right)}"
            )

    def blocks(start: int, end: int) -> list[Block]:
        found: list[Block] = []
        position = start
        while (match := _OPENING.search(masked, position, end)) is not None:
            depth, index = 1, match.end()
            while depth:
                if index >= end:
                    raise ValueError(f"block {match.group(1)} is not closed")
                depth += {"{": 1, "}": -1}.get(masked[index], 0)
                index += 1
            body_start, body_end = match.end(), index - 1
            args = text[match.start(2) + 1 : match.end(2) - 1] if match.group(2) else ""
            found.append(
                Block(match.group(1), args, text[body_start:body_end], blocks(body_start, body_end))
            )
            position = index
        return found

    [pipeline] = blocks(0, len(masked))
    if pipeline.name != "pipeline":
        raise ValueError(f"expected one pipeline block, found {pipeline.name}")
    return pipeline


def stage_name(stage: Block) -> str:
    return stage.args.strip("'\"")


def jenkins_stages(pipeline: Block) -> dict[str, Block]:
    parallel = pipeline.one("stages").one("stage").one("parallel")
    return {stage_name(stage): stage for stage in parallel.find("stage")}


def check_jenkins_bench_stage(stage: Block) -> list[str]:
    """What a bench stage lacks: its agent label, a lock of the same name, the nightly script,
    JUnit with properties kept and archived artifacts (empty: nothing)."""
    problems = []
    label = re.search(r"agent\s*\{\s*label\s+'([^']+)'\s*\}", stage.body)
    lock = re.search(r"lock\(resource:\s*'([^']+)'\)", stage.one("options").body)
    if label is None or not label.group(1).startswith("bench-"):
        problems.append("no agent label bench-<name>")
    if lock is None or label is None or lock.group(1) != label.group(1):
        problems.append("no lock on the agent's bench")
    if "sh(script: 'ci/nightly.sh', returnStatus: true)" not in stage.one("steps").body:
        problems.append("does not run ci/nightly.sh")
    always = stage.one("post").one("always").body
    if not re.search(r"junit testResults: 'nightly-out/junit\.xml', keepProperties: true", always):
        problems.append("no junit step keeping properties")
    if "archiveArtifacts artifacts: 'nightly-out/**'" not in always:
        problems.append("no archived artifacts")
    return problems


def test_the_jenkinsfile_parses_into_bench_stages_with_label_lock_and_junit() -> None:
    pipeline = parse_jenkinsfile((CI / "Jenkinsfile").read_text(encoding="utf-8"))
    assert re.search(r"agent\s+none", pipeline.body)
    assert re.search(r"cron\('H 22 \* \* \*'\)", pipeline.one("triggers").body)
    stages = jenkins_stages(pipeline)
    assert set(stages) == {"lab3-b2", "sim-bench", "sim-bench-windows"}
    assert check_jenkins_bench_stage(stages["lab3-b2"]) == []
    steps = stages["lab3-b2"].one("steps").body
    assert "status == 69" in steps and "bench error" in steps  # told apart from a regression
    sim = stages["sim-bench"]
    assert re.search(r"agent\s+any", sim.body) and "lock(" not in sim.body
    assert "keepProperties: true" in sim.one("post").one("always").body


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("lock(resource: 'bench-lab3-b2')", "lock(resource: 'bench-lab9')"),
            "no lock on the agent's bench",
        ),
        ((", keepProperties: true", ""), "no junit step keeping properties"),
        (("label 'bench-lab3-b2'", "label 'linux'"), "no agent label bench-<name>"),
    ],
)
def test_the_jenkinsfile_check_finds_what_a_bench_stage_lacks(
    change: tuple[str, str], problem: str
) -> None:
    text = (CI / "Jenkinsfile").read_text(encoding="utf-8").replace(*change, 1)
    stage = jenkins_stages(parse_jenkinsfile(text))["lab3-b2"]
    assert problem in check_jenkins_bench_stage(stage)


def test_the_jenkinsfile_parse_refuses_unbalanced_braces() -> None:
    text = (CI / "Jenkinsfile").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unbalanced"):
        parse_jenkinsfile(text.replace("timestamps()\n    }", "timestamps()\n", 1))


def jenkins_sim_script() -> list[str]:
    stage = jenkins_stages(parse_jenkinsfile((CI / "Jenkinsfile").read_text(encoding="utf-8")))
    steps = re.findall(r"^\s*sh '([^']*)'", stage["sim-bench"].one("steps").body, re.MULTILINE)
    assert INSTALL.search(steps[0]) and steps[0].startswith("rm -rf nightly-out && ")
    return steps[1:]


# -- the pipelines, run here ---------------------------------------------------------------


def environment(**settings: str) -> dict[str, str]:
    """The job's environment: benchtest of this checkout on the PATH, no CI's own settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCHTEST_", "GITHUB_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(settings)
    return env


def run_script(lines: list[str], **settings: str) -> subprocess.CompletedProcess[str]:
    """The job's script lines as one plain shell script, from the checkout, as CI runs them."""
    script = "set -e\n" + "\n".join(lines) + "\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=environment(**settings),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


Job = tuple[subprocess.CompletedProcess[str], Path]  # how a job's script ran, its artifacts


@pytest.fixture(scope="module")
def sim_bench_jobs() -> dict[tuple[str, ...], Job]:
    """The sim-bench jobs run so far, by their script lines: templates whose job runs the very
    same lines (today each calls ci/sim-bench.sh) share one run; a job of its own runs alone."""
    return {}


@pytest.mark.parametrize(
    "script",
    [gitlab_sim_script, jenkins_sim_script, github_sim_script],
    ids=["gitlab", "jenkins", "github"],
)
def test_each_templates_sim_bench_job_runs_green(
    script: Any,
    sim_bench_jobs: dict[tuple[str, ...], Job],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    lines = tuple(script())
    if lines not in sim_bench_jobs:
        out = tmp_path_factory.mktemp("sim-bench") / "nightly-out"
        ran = run_script(list(lines), BENCHTEST_OUT=str(out), BENCHTEST_PLANS=QUICK_PLANS)
        sim_bench_jobs[lines] = (ran, out)
    done, out = sim_bench_jobs[lines]
    assert done.returncode == 0, done.stdout + done.stderr
    second = out / "second-night"
    for artifact in ("report.html", "compare.html", "compare.json", "junit.xml"):
        assert (second / artifact).stat().st_size > 0, artifact
    [run_file] = (second / "run").glob("*.h5")
    verdict = json.loads((second / "compare.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "no regression" and verdict["baseline"]["name"] == "sim-nightly"
    suite = ET.parse(second / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    with Catalog(out / "results") as catalog:  # the first night, promoted
        baseline = catalog.baseline_path("sim-nightly")
    assert baseline.resolve().parent == (out / "results").resolve()
    assert baseline.name == next((out / "first-night" / "run").glob("*.h5")).name
    assert (out / "results" / run_file.name).is_file()  # kept in the bench's history
    assert not list((out / "results").glob(".*.part"))


def nightly(**settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CI / "nightly.sh")], cwd=REPO, env=environment(**settings),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def quick_night(results: Path, out: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """A night of the quick plans on the simulated bench against `results`' baseline."""
    return nightly(
        BENCHTEST_OUT=str(out), BENCHTEST_RESULTS=str(results), BENCHTEST_SIM="1",
        BENCHTEST_BENCH=str(REPO / "benches" / "sim.yaml"), BENCHTEST_PLANS=QUICK_PLANS,
        BENCHTEST_DUT=str(REPO / "dut_profiles" / "bt_ldo33.yaml"),
        BENCHTEST_BASELINE="sim-nightly", **settings,
    )  # fmt: skip


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder whose baseline `sim-nightly` is a run of the quick plans."""
    out = tmp_path_factory.mktemp("first")
    results = out / "results"
    done = quick_night(results, out / "night", BENCHTEST_PROMOTE="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (out / "night" / "compare.json").exists()  # promoted, not compared
    return results


def test_a_regression_fails_the_night_with_every_artifact_kept(
    promoted: Path, tmp_path: Path
) -> None:
    """Another simulated unit (its own spread) against a tolerance of zero: it moved."""
    tolerance = tmp_path / "zero.yaml"
    tolerance.write_text("schema_version: 1\ndefault: {absolute: 0.0}\n", encoding="utf-8")
    out = tmp_path / "night"
    done = quick_night(
        promoted,
        out,
        BENCHTEST_TOLERANCE=str(tolerance),
        BENCHTEST_SERIAL_NUMBER="SN0007",
        GITHUB_ACTIONS="true",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REGRESSION against baseline 'sim-nightly'" in done.stdout
    assert "::error title=regression::against baseline 'sim-nightly'" in done.stdout
    assert json.loads((out / "compare.json").read_text(encoding="utf-8"))["verdict"] == "regression"
    for artifact in ("report.html", "compare.html", "junit.xml"):
        assert (out / artifact).is_file(), artifact
    assert len(list((out / "run").glob("*.h5"))) == 1


def test_the_night_is_published_to_the_lab_catalog(
    promoted: Path,
    tmp_path: Path,
    lab_url: str,  # noqa: F811
) -> None:
    done = quick_night(promoted, tmp_path / "night", BENCHTEST_CATALOG=lab_url)
    assert done.returncode == 0, done.stdout + done.stderr
    [run_file] = (tmp_path / "night" / "run").glob("*.h5")
    # `benchtest run` publishes the run as it ends; the night's own step finds it there.
    assert f"{run_file}: published to" in done.stdout, done.stdout
    assert f"{promoted / run_file.name}: already published" in done.stdout, done.stdout
    history = subprocess.run(
        ["benchtest", "lab", "history", "iq_sleep", "--catalog", lab_url],
        env={**environment(), "COLUMNS": "200"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert history.returncode == 0, history.stderr
    assert "BT-LDO33" in history.stdout and "sim" in history.stdout


def test_a_lab_catalog_that_cannot_be_reached_leaves_the_night_unjudged(
    promoted: Path, tmp_path: Path
) -> None:
    url = f"postgresql://benchtest@127.0.0.1:{closed_port()}/lab"
    done = quick_night(promoted, tmp_path / "night", BENCHTEST_CATALOG=url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the report (exit 0) or the publication (exit 2) failed" in done.stdout
    verdict = json.loads((tmp_path / "night" / "compare.json").read_text(encoding="utf-8"))
    assert verdict["verdict"] == "no regression"  # compared all the same, artifacts kept


def test_an_unreachable_bench_ends_the_night_as_a_bench_error(
    promoted: Path, tmp_path: Path
) -> None:
    bench = tmp_path / "lab.yaml"
    bench.write_text(
        "schema_version: 1\nname: lab bench\ninstruments:\n  smu:\n    driver: keithley.k2450\n"
        f"    resource: 'TCPIP::127.0.0.1::{closed_port()}::SOCKET'\n"
        "    options: {timeout: 0.5}\n",
        encoding="utf-8",
    )
    plan = tmp_path / "plans" / "test_smu.py"
    plan.parent.mkdir()
    plan.write_text(
        "def test_reads(smu, measure):\n"
        "    measure('x', float(smu.reading), unit='V', low=-1.0, high=1.0)\n",
        encoding="utf-8",
    )
    out = tmp_path / "night"
    done = nightly(
        BENCHTEST_OUT=str(out), BENCHTEST_RESULTS=str(promoted), BENCHTEST_BENCH=str(bench),
        BENCHTEST_DUT=str(REPO / "dut_profiles" / "bt_ldo33.yaml"), BENCHTEST_PLANS=str(plan),
        BENCHTEST_BASELINE="sim-nightly", BENCHTEST_INSTRUMENT_RETRIES="1",
    )  # fmt: skip
    assert done.returncode == EXIT_BENCH_ERROR, done.stdout + done.stderr
    assert "BENCH ERROR: an instrument of" in done.stdout
    case = ET.parse(out / "junit.xml").getroot().find(".//testcase")
    assert case is not None and case.find("error") is not None and case.find("failure") is None
    assert (out / "report.html").is_file() and len(list((out / "run").glob("*.h5"))) == 1


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"BENCHTEST_DUT": "x.yaml", "BENCHTEST_BASELINE": "n"}, "BENCHTEST_BENCH is not set"),
        (
            {"BENCHTEST_BENCH": "benches/sim.yaml", "BENCHTEST_BASELINE": "n"},
            "BENCHTEST_DUT is not set",
        ),
        (
            {"BENCHTEST_BENCH": "nope.yaml", "BENCHTEST_DUT": "d", "BENCHTEST_BASELINE": "n"},
            "no bench file nope.yaml",
        ),
        ({"BENCHTEST_INSTRUMENT_RETRIES": "two"}, "from 0 to 100, got 'two'"),
        ({"BENCHTEST_INSTRUMENT_RETRIES": "101"}, "from 0 to 100, got '101'"),
        ({"BENCHTEST_SIM": "yes"}, "BENCHTEST_SIM: expected 0 or 1, got 'yes'"),
        ({"BENCHTEST_TOLERANCE": "missing.yaml"}, "no tolerance file missing.yaml"),
    ],
)
def test_bad_settings_stop_the_night_before_anything_runs(
    settings: dict[str, str], said: str, tmp_path: Path
) -> None:
    complete = {
        "BENCHTEST_BENCH": "benches/sim.yaml",
        "BENCHTEST_DUT": "dut_profiles/bt_ldo33.yaml",
        "BENCHTEST_BASELINE": "nightly",
    }
    given = settings if "BENCHTEST_BASELINE" in settings else {**complete, **settings}
    done = nightly(
        BENCHTEST_OUT=str(tmp_path / "out"), BENCHTEST_RESULTS=str(tmp_path / "r"), **given
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "r").exists()


def test_a_used_artifact_folder_or_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "junit.xml").write_text("<old/>", encoding="utf-8")
    done = nightly(
        BENCHTEST_OUT=str(out), BENCHTEST_BENCH="benches/sim.yaml",
        BENCHTEST_DUT="dut_profiles/bt_ldo33.yaml", BENCHTEST_BASELINE="nightly",
    )  # fmt: skip
    assert done.returncode == 2 and "is not empty" in done.stderr
    assert (out / "junit.xml").read_text(encoding="utf-8") == "<old/>"
    done = nightly(
        BENCHTEST_OUT=str(out / "junit.xml"), BENCHTEST_BENCH="benches/sim.yaml",
        BENCHTEST_DUT="dut_profiles/bt_ldo33.yaml", BENCHTEST_BASELINE="nightly",
    )  # fmt: skip
    assert done.returncode == 2 and "junit.xml is a file, not a folder" in done.stderr
