"""The report as a reader's browser shows it: a passing, a failing and a killed run opened in
headless Chromium (screenshots kept in test-output/screenshots/), checked for what the page
shows: the verdict first, the failing rows, the limits and marks on the plots, collapsed logs."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_runs
from browser import Browser

from benchtest.report import write_report
from benchtest.report.units import format_eng
from benchtest.results import open_run


class Elements(HTMLParser):
    """Start tags with their attributes, and each element's text (for the few we look at)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags(dom: str, name: str, **match: str) -> list[dict[str, str]]:
    parser = Elements()
    parser.feed(dom)
    return [a for t, a in parser.tags if t == name and all(a.get(k) == v for k, v in match.items())]


def _report(tmp_path: Path, name: str) -> Path:
    run = tmp_path / f"{name}.h5"
    if name == "killed":
        report_runs.write_killed_run(run)
    else:
        events = report_runs.passing_events() if name == "passing" else report_runs.failing_events()
        report_runs.write_run(run, events)
    return write_report(run)


def _recorded(run_path: Path, test: int, name: str) -> float:
    with open_run(run_path) as run:
        rows = run.tests[test].measurements
        return float(rows["value"][rows["name"] == name][0])


def test_passing_run_page(tmp_path: Path, browser: Browser) -> None:
    page = browser.open(_report(tmp_path, "passing"), "report-passing")
    text = page.text
    assert text.startswith("PASS LDO-3V3 SN0042 PASS : 2 tests: 2 passed, 0 failed.")
    assert "did not pass" not in text and 'id="failures"' not in page.dom
    # the sweep's limits, as lines at their values, labelled
    limits = tags(page.dom, "line", **{"class": "limit"})
    assert sorted(float(a["data-value"]) for a in limits) == list(report_runs.SWEEP_LIMITS)
    assert "low limit 3.25 V" in text and "high limit 3.35 V" in text
    # the start-up's first edge marked where the recorded rise time puts it
    rise = _recorded(tmp_path / "passing.h5", 0, "t_rise")
    edges = [float(a["data-value"]) for a in tags(page.dom, "line", **{"data-kind": "edge"})]
    assert len(edges) == 2 and edges[1] - edges[0] == pytest.approx(rise, rel=1e-6)
    assert f"recorded as t_rise = {format_eng(rise, 's')}" in text
    over = tags(page.dom, "line", **{"data-kind": "overshoot"})
    assert len(over) == 1 and 3.4 < float(over[0]["data-value"]) < 3.6  # 6.8 % above 3.3 V
    (rise_limit,) = [
        float(a["data-value"]) for a in tags(page.dom, "line", **{"data-kind": "limit"})
        if a["x1"] == a["x2"]
    ]  # fmt: skip
    assert rise_limit == pytest.approx(edges[0] + report_runs.RISE_LIMIT)
    assert "t_rise max 30 µs" in text and "startup_overshoot max 10 %" in text
    assert len(tags(page.dom, "line", **{"data-kind": "settling"})) == 1
    assert not tags(page.dom, "circle")  # no sweep point outside its limits


def test_failing_run_page(tmp_path: Path, browser: Browser) -> None:
    page = browser.open(_report(tmp_path, "failing"), "report-failing")
    text = page.text
    # the verdict, then the failures, before the run's details
    assert text.startswith("FAIL LDO-3V3 SN0042 FAIL : 2 tests: 0 passed, 2 failed.")
    failures = text.index("2 tests did not pass; 1 instrument not made safe")
    assert failures < text.index("Verification report") < text.index("Serial number")
    summary = text[failures : text.index("Verification report")]
    assert "t_rise = 7.883 µs (limits 0 s to 5 µs)" in summary
    assert "line_reg = 3.38 V (limits 3.25 V to 3.35 V)" in summary
    assert "t_rise is above the high limit 5 µs" in summary
    assert "AssertionError: vout out of limits" in summary and "line 29" not in summary
    assert "Not made safe: smu (timeout after 2 s)" in summary
    # the failing measurement row is marked as such
    assert re.search(r'<tr class="fail"><td>t_rise</td><td class="num">7\.883 µs</td>', page.dom)
    # the point above the sweep's high limit is circled, the rise-time limit drawn on the edge
    (circle,) = tags(page.dom, "circle", **{"class": "outside"})
    assert "outside the limits: 3.38 V at 4.982 V" in page.dom
    high = [a for a in tags(page.dom, "line", **{"class": "limit"}) if a["data-value"] == "3.35"]
    assert len(high) == 1 and float(circle["cy"]) < float(high[0]["y1"])  # above the line
    edges = [float(a["data-value"]) for a in tags(page.dom, "line", **{"data-kind": "edge"})]
    limit = [float(a["data-value"]) for a in tags(page.dom, "line", **{"data-kind": "limit"})]
    assert any(edges[0] < v < edges[1] for v in limit)  # 5 µs after the 10 % instant: too soon
    # long logs collapsed: the 31-line traceback and the safe-state log are closed <details>
    details = tags(page.dom, "details")
    assert {d.get("class") for d in details} >= {"long", "log"}
    assert all("open" not in d for d in details)
    assert "AssertionError: vout out of limits (31 lines)" in text
    assert "7 entries, 1 not made safe" in text


def test_killed_run_page(tmp_path: Path, browser: Browser) -> None:
    page = browser.open(_report(tmp_path, "killed"), "report-killed")
    text = page.text
    assert text.startswith("INCOMPLETE LDO-3V3 SN0042 INCOMPLETE : 2 tests: 1 passed, 0 failed, 1")
    summary = text[text.index("1 test did not pass") : text.index("Verification report")]
    assert "test_cut[3.3]" in summary and "the run stopped while this test was running" in summary
    assert "Ended (UTC) —" in text
    # what the killed run finished is all there: its waveform, marked
    assert len(tags(page.dom, "line", **{"data-kind": "edge"})) == 2
    assert "recorded as t_rise" in text


def test_printing_breaks_pages_between_tests(tmp_path: Path, browser: Browser) -> None:
    html = _report(tmp_path, "passing")
    pdf = tmp_path / "passing.pdf"
    subprocess.run(
        [browser.executable, "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={browser.profile}", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", html.resolve().as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes())
    # the summary, one page per test (each fits on one), the instruments: on screen it is
    # about two pages long, so only the page breaks make it four
    assert len(pages) == 4
    text = html.read_text(encoding="utf-8")
    print_css = text[text.index("@media print") :]
    assert "details::details-content { content-visibility: visible" in print_css  # printed open
    assert "print-color-adjust: exact" in print_css  # the verdict keeps its colour
