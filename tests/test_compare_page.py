"""The comparison page: trends over a catalog's runs, escaping of run strings, nothing from the
network, and the page without trends."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from compare_runs import IQ, PLAN, write_run

from benchtest.report.compare_page import render_compare_page, trend_plot, write_compare_page
from benchtest.results.catalog import INDEX_NAME
from benchtest.review import trend as trend_module
from benchtest.review.compare import compare_runs
from benchtest.review.trend import trends

NIGHTS = [f"2026-11-{day:02d}T22:00:00+00:00" for day in range(1, 11)]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten nights of one unit (iq 1.20 uA + 0.01 uA per night), and an eleventh that drifted."""
    folder = tmp_path_factory.mktemp("results")
    for night, start in enumerate(NIGHTS):
        write_run(folder / f"night{night:02d}.h5", {IQ: {"iq_sleep": [1.20e-6 + night * 1e-8]}},
                  start=start)  # fmt: skip
    write_run(folder / "drifted.h5", {IQ: {"iq_sleep": [1.8e-6]}}, start="2026-11-11T22:00:00Z")
    return folder


def test_the_trend_holds_every_run_of_the_catalog_in_time_order(nightly: Path) -> None:
    comparison = compare_runs(nightly / "night09.h5", nightly / "drifted.h5")
    [moved] = [p for p in comparison.parameters if p.status == "moved"]
    [trend], notes = trends(comparison, nightly, [moved])
    assert notes == []
    assert [p.role for p in trend.points] == ["history"] * 9 + ["baseline", "run"]
    assert [p.value for p in trend.points][:3] == pytest.approx([1.20e-6, 1.21e-6, 1.22e-6])
    plot = trend_plot(trend)
    xs = [m.x for m in plot.markers]
    assert xs == sorted(xs) and len(xs) == 11
    labels = [t.label for t in plot.x_ticks]  # every other day, at midnight UTC
    assert labels == [f"2026-11-{day:02d}" for day in range(int(labels[0][-2:]), 12, 2)]
    assert len(labels) >= 5
    baseline_y = plot.baseline_y
    assert plot.band is not None and baseline_y is not None
    assert plot.band[0] < baseline_y < plot.band[1]  # the band straddles the baseline (pixels)
    run = plot.markers[-1]
    assert run.role == "run" and run.y < plot.band[0]  # above the allowed band
    assert run.label == "1.8 µA, U0001, 2026-11-11 22:00:00 UTC (run)"
    assert [t.label for t in plot.limit_lines] == ["high limit 2 µA"]


def test_the_history_is_the_newest_readings(nightly: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trend_module, "MAX_HISTORY", 3)
    comparison = compare_runs(nightly / "night09.h5", nightly / "drifted.h5")
    [trend], _ = trends(comparison, nightly, comparison.changed())
    assert [p.path for p in trend.of("history")] == ["night06.h5", "night07.h5", "night08.h5"]


def test_run_strings_are_escaped_and_nothing_comes_from_the_network(tmp_path: Path) -> None:
    odd = f"{PLAN}::test_x[<script>alert(1)</script>]"
    base = write_run(tmp_path / "a.h5", {odd: {"iq_sleep": [1e-6]}}, serial="<b>U1</b>")
    run = write_run(tmp_path / "b.h5", {odd: {"iq_sleep": [2e-6]}}, serial="<b>U1</b>")
    comparison = compare_runs(base, run)
    found, _ = trends(comparison, tmp_path, comparison.regressions)  # type: ignore[arg-type]
    html = render_compare_page(comparison, found)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>U1</b>" not in html and "&lt;b&gt;U1&lt;/b&gt;" in html
    for tag, attrs in _tags(html):
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not re.match(r"(https?:)?//", value), (tag, name, value)


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    assert parser.tags, "no tags parsed"
    return parser.tags


def test_without_a_moved_parameter_the_page_says_so_and_reads_no_catalog(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a.h5", {IQ: {"iq_sleep": [1e-6]}})
    comparison = compare_runs(base, base)
    found, notes = trends(comparison, None, [])
    target = write_compare_page(comparison, found, tmp_path / "out" / "page.html", notes)
    html = target.read_text(encoding="utf-8")
    assert '<header class="banner pass">NO REGRESSION' in html
    assert "No parameter moved beyond its tolerance: no trend to show." in html
    assert "<svg" not in html and not (tmp_path / INDEX_NAME).exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]  # no .part left
