"""JUnit XML for CI: bench trouble as <error>, measurements as properties, the run file attached.

pytest's `--junitxml` writes one test case per test with a limit failure as <failure>. This
module adds each measurement as a test-case property (Jenkins keeps them with keepProperties),
turns a failure caused by bench trouble into <error> so it is not counted against the DUT,
and links the run file through `[[ATTACHMENT|path]]` in <system-out> (GitLab, Jenkins). Each
test suite carries what each run file's tests came to as a `benchtest.outcome` property
("BT-LDO33: passed, 3 skipped: no chamber on this bench (lab 3)"), so skips are not hidden
behind a green build. A test that ended in a bench error (an instrument that could not be
reached or stopped answering) carries a `benchtest.bench_error` property naming the role and
the error, beside its <error>. A test that ran more than once (`retry(n)`, instrument retries)
is one test case, its last attempt's, with the number of attempts as `benchtest.attempts`;
every attempt is in the run file.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import pytest
from _pytest.junitxml import mangle_test_address  # how junitxml names a test case

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import active, in_progress, summaries, test_id
from benchtest.plugin.runner import instrument_level
from benchtest.values.atomic import replacing
from benchtest.values.errors import BenchtestError

TEST_ID = "benchtest.test_id"
RUN_FILE = "benchtest.run_file"
OUTCOME = "benchtest.outcome"
BENCH_ERROR = "benchtest.bench_error"
ATTEMPTS = "benchtest.attempts"
BENCH_TROUBLE = pytest.StashKey[set[str]]()
# Attempts of each test (node id) run in this process: one teardown report each.
ATTEMPT_COUNTS = pytest.StashKey[Counter[str]]()


class JunitProperties:
    """Each test's properties for the XML; registered only on a run that writes JUnit XML
    (`--junitxml`; on a pytest-xdist worker too, whose reports carry them to the controller),
    so that other runs spend nothing on it per test."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        session = active(item.config)
        if call.when == "call" and session is not None and session.run_file:
            item.user_properties.append((TEST_ID, test_id(item)))
            item.user_properties.append((RUN_FILE, _shown(session.run_file)))
            test = in_progress()
            measure = test.measure if test is not None and test.item is item else None
            for m in measure.recorded if measure is not None else ():
                shown = f"{m.value:.6g} {m.unit} {m.outcome}".strip()
                item.user_properties.append((m.name, shown))
        report = yield
        # What the runner gives the report once it is made (`runner.pytest_exception_interact`),
        # found here from the error itself.
        error = call.excinfo.value if call.excinfo is not None else None
        if report.failed and isinstance(error, BenchtestError):
            item.config.stash.setdefault(BENCH_TROUBLE, set()).add(test_id(item))
        if call.when == "teardown":
            item.config.stash.setdefault(ATTEMPT_COUNTS, Counter())[item.nodeid] += 1
        run = settings(item.config)
        role = instrument_level(error, run) if run is not None else ""
        if (role and report.failed) or call.when == "setup":
            # Only the last attempt's bench error: an earlier one that a retry got past is gone.
            item.user_properties[:] = [p for p in item.user_properties if p[0] != BENCH_ERROR]
            if role and report.failed and call.excinfo is not None:
                error = call.excinfo.value
                shown = f"{role}: {type(error).__name__}: {error}"
                item.user_properties.append((BENCH_ERROR, shown))
        return report


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "xmlpath", None):
        config.pluginmanager.register(JunitProperties(), "benchtest-junit-properties")


def pytest_unconfigure(config: pytest.Config) -> None:
    xml_path = getattr(config.option, "xmlpath", None)
    if xml_path and Path(xml_path).is_file():
        outcomes = list(summaries(config).values())
        prefix = getattr(config.option, "junitprefix", None)
        attempts = {
            _case_name(nodeid, prefix): count
            for nodeid, count in config.stash.get(ATTEMPT_COUNTS, Counter()).items()
            if count > 1
        }
        rewrite(Path(xml_path), config.stash.get(BENCH_TROUBLE, set()), outcomes, attempts)


def _case_name(nodeid: str, prefix: str | None) -> tuple[str, str]:
    """(classname, name) of the test case junitxml writes for `nodeid`."""
    names = mangle_test_address(nodeid)
    return ".".join(([prefix] if prefix else []) + names[:-1]), names[-1]


def rewrite(
    xml_path: Path,
    bench_trouble: set[str],
    outcomes: list[str] | None = None,
    attempts: dict[tuple[str, str], int] | None = None,
) -> None:
    """Turn bench-trouble failures into errors, attach each test case's run file, keep one
    test case per test that ran several `attempts` ((classname, name): count), and give each
    suite the `outcomes` of the run files as properties. The file is replaced whole."""
    tree = ET.parse(xml_path)
    for suite in tree.getroot().iter("testsuite"):
        _suite_properties(suite, [(OUTCOME, outcome) for outcome in outcomes or ()])
        _last_attempts(suite, attempts or {})
        moved = 0
        for case in suite.iter("testcase"):
            failure = case.find("failure")
            if failure is not None and _property(case, TEST_ID) in bench_trouble:
                failure.tag = "error"
                moved += 1
            attachment = _property(case, RUN_FILE)
            if attachment:
                out = case.find("system-out")
                if out is None:
                    out = ET.SubElement(case, "system-out")
                out.text = f"{out.text or ''}\n[[ATTACHMENT|{attachment}]]\n".lstrip("\n")
        if moved:
            suite.set("failures", str(int(suite.get("failures", "0")) - moved))
            suite.set("errors", str(int(suite.get("errors", "0")) + moved))
    with replacing(xml_path, make_folder=False) as temporary:
        tree.write(temporary, encoding="utf-8", xml_declaration=True)


def _last_attempts(suite: ET.Element, attempts: dict[tuple[str, str], int]) -> None:
    """For a test that ran `count` times, junitxml wrote a test case per attempt: keep the
    last, with `benchtest.attempts`. A count that does not match (the same name from several
    sites) is left alone."""
    for (classname, name), count in attempts.items():
        cases = [
            case
            for case in suite.findall("testcase")
            if (case.get("classname"), case.get("name")) == (classname, name)
        ]
        if len(cases) != count:
            continue
        for earlier in cases[:-1]:
            suite.remove(earlier)
        properties = cases[-1].find("properties")
        if properties is None:
            properties = ET.Element("properties")
            cases[-1].insert(0, properties)
        ET.SubElement(properties, "property", name=ATTEMPTS, value=str(count))


def _suite_properties(suite: ET.Element, pairs: list[tuple[str, str]]) -> None:
    """Add `pairs` to the suite's <properties>, which must come first in a <testsuite>."""
    if not pairs:
        return
    properties = suite.find("properties")
    if properties is None:
        properties = ET.Element("properties")
        suite.insert(0, properties)
    for name, value in pairs:
        ET.SubElement(properties, "property", name=name, value=value)


def _property(case: ET.Element, name: str) -> str | None:
    for prop in case.iter("property"):
        if prop.get("name") == name:
            return prop.get("value")
    return None


@functools.cache
def _shown(path: Path) -> str:
    """The run file relative to the working directory when it is inside it (as CI expects)."""
    resolved = path.resolve()
    return (
        str(resolved.relative_to(Path.cwd()))
        if resolved.is_relative_to(Path.cwd())
        else str(resolved)
    )
