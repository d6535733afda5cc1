"""The HTML report: content, plots, escaping of run strings, and no reference to the network."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import report_runs

from benchtest.report import write_report
from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import run_started, write_example_run
from benchtest.values.events import MeasurementRecorded, RunFinished, WaveformRecorded
from benchtest.values.events import TestFinished as Finished  # renamed: pytest collects Test* names
from benchtest.values.events import TestStarted as Started
from benchtest.values.measurement import Limits, Measurement
from benchtest.values.waveform import Waveform


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture
def report(tmp_path: Path) -> str:
    run = write_example_run(tmp_path / "run.h5", points=50_000)
    path = write_report(run)
    assert path == tmp_path / "run.html"
    return path.read_text(encoding="utf-8")


def test_header_banner_and_counts(report: str) -> None:
    assert '<header class="banner fail">FAIL' in report
    for text in ("LDO-3V3", "SN0042", "bench-3", "ada", "2026-11-28T15:43:00.000000+00:00"):
        assert text in report
    assert "0.1.0" in report
    assert "3 tests:" in report and "1 passed, 1 failed, 1 skipped." in report


def test_measurements_are_shown_in_engineering_notation(report: str) -> None:
    assert "<td>iq</td>" in report
    assert "45.1 µA" in report and "71.3 µA" in report and "60 µA" in report
    assert "182 mV" in report and "250 mV" in report
    assert '<tr class="fail"><td>iq</td><td class="num">71.3 µA</td>' in report
    assert "iq = 7.13e-05 A is above the high limit 6e-05 A" in report  # failure message


def test_waveforms_are_inline_svg_with_labelled_axes(report: str) -> None:
    tags = parse(report)
    assert sum(tag == "svg" for tag, _ in tags) == 2  # the skipped test has none
    polylines = [attrs for tag, attrs in tags if tag == "polyline"]
    assert len(polylines) == 2 and len((polylines[0]["points"] or "").split()) > 100
    assert "time (µs)" in report and "vout_startup (V)" in report


def test_instruments_and_dut_profile(report: str) -> None:
    assert "KEITHLEY INSTRUMENTS,MODEL 2450,04512345,1.7.3" in report
    assert "TCPIP::127.0.0.1::5025::SOCKET" in report
    assert "ldo_3v3.yaml" in report
    assert "<details><summary>DUT profile text</summary><pre>schema_version: 1" in report
    assert "timeout after 2 s" in report  # safe-state log


def test_report_is_standalone(report: str) -> None:
    assert "http://" not in report and "https://" not in report and "//" not in report
    for tag, attrs in parse(report):
        assert tag not in ("script", "link", "img", "iframe", "object")
        assert "src" not in attrs
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href


def _hostile_run(path: Path) -> Path:
    evil = "plan.py::test_x[<script>alert(1)</script>]"
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(Started(evil, "t", conditions={"<b>": "<i>"}))
        m = Measurement.judge("<img src=x>", 1.0, "V", Limits(0.0, 2.0, "V"))
        writer(MeasurementRecorded(evil, m))
        wf = Waveform(np.arange(10, dtype=np.int16), dt=1.0, unit="V")
        writer(WaveformRecorded(evil, "</svg><script>", wf))
        writer(Finished(evil, "failed", "t", 1.0, "a & b <c>"))
        writer(RunFinished("t", "failed"))
    return path


def test_every_run_string_is_escaped(tmp_path: Path) -> None:
    out = write_report(_hostile_run(tmp_path / "evil.h5"), tmp_path / "out" / "r.html")
    html = out.read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "plan.py::test_x[&lt;script&gt;alert(1)&lt;/script&gt;]" in html
    assert "&lt;img src=x&gt;" in html
    assert "a &amp; b &lt;c&gt;" in html
    assert not [tag for tag, _ in parse(html) if tag in ("script", "img", "b", "i")]


def test_ten_million_points_make_a_small_svg(tmp_path: Path) -> None:
    path = tmp_path / "big.h5"
    n = 10_000_000
    codes = (np.arange(n) % 4000 - 2000).astype(np.int16)
    codes[n // 3] = 32000  # one spike that the envelope must keep
    with Hdf5RunWriter(path) as writer:
        writer(run_started())
        writer(Started("p.py::test_big", "t"))
        writer(WaveformRecorded("p.py::test_big", "vout", Waveform(codes, dt=1e-7, scale=1e-4)))
        writer(Finished("p.py::test_big", "passed", "t", 1.0))
        writer(RunFinished("t", "passed"))
    html = write_report(path).read_text(encoding="utf-8")
    assert len(html.encode()) < 100_000
    assert '<header class="banner pass">PASS' in html
    assert "time (ms)" in html and "vout (V)" in html
    assert "min/max envelope" in html
    assert 'text-anchor="end">3</text>' in html  # the y axis reaches the 3.2 V spike


def test_verdict_and_failures_come_first_without_a_browser(tmp_path: Path) -> None:
    run = report_runs.write_run(tmp_path / "f.h5", report_runs.failing_events())
    html = write_report(run).read_text(encoding="utf-8")
    order = [
        html.index('<header class="banner fail">FAIL'),
        html.index('<section id="failures">'),
        html.index("t_rise = 7.883 µs (limits 0 s to 5 µs)"),
        html.index("<h1>Verification report</h1>"),
        html.index('<code id="run-sha256">'),
        html.index('<section class="test"'),
        html.index('<details class="log">'),
    ]
    assert order == sorted(order)
    assert '<details class="long"><summary>AssertionError: vout out of limits (31 lines)' in html
    tags = parse(html)
    limits = [a for t, a in tags if t == "line" and a.get("class") == "limit"]
    assert sorted(float(a["data-value"] or "nan") for a in limits) == [3.25, 3.35]
    assert len([a for t, a in tags if t == "circle"]) == 1  # the point above 3.35 V
