"""The characterisation page as a reader's browser shows it: the table rows, the Cpk flag, and
distribution plots whose limit lines sit where the limits are on the axis."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from browser import Browser
from characterise_units import write_units

from benchtest.report.characterise_page import histogram, render_page, write_page
from benchtest.review.characterise import Characterisation, characterise

UNITS = 30


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Characterisation:
    folder = tmp_path_factory.mktemp("units")
    write_units(folder, UNITS)
    return characterise([folder], cpk_min=1.67, sweeps=True)


def _figure(dom: str, title: str) -> str:
    """The <figure> whose SVG is labelled `title`."""
    for figure in re.findall(r"<figure.*?</figure>", dom, flags=re.S):
        if f'aria-label="{title}"' in figure:
            return str(figure)
    raise AssertionError(f"no plot {title!r} in the page")


def _tick_scale(svg: str) -> tuple[float, float]:
    """(pixels per unit, pixel of 0) of the x axis, from two of its tick labels."""
    ticks = re.findall(
        r'<text class="tick" x="([\d.]+)" y="[\d.]+" text-anchor="middle">([-\d.]+)<', svg
    )
    (x1, v1), (x2, v2) = (
        (float(ticks[0][0]), float(ticks[0][1])),
        (float(ticks[-1][0]), float(ticks[-1][1])),
    )
    scale = (x2 - x1) / (v2 - v1)
    return scale, x1 - v1 * scale


def test_the_page_shows_the_table_the_flag_and_limit_lines(
    result: Characterisation, browser: Browser, tmp_path: Path
) -> None:
    html = write_page(result, tmp_path / "characterise.html")
    page = browser.open(html, "characterise")
    accuracy = next(
        r for r in result.rows
        if r.parameter == "accuracy" and dict(r.conditions).get("vdd") == 3.3 and not r.group
    )  # fmt: skip
    assert f"BT-TEMP-S1 characterisation across {UNITS} units" in page.text
    row = f"accuracy temperature=25, vdd=3.3 {UNITS} {UNITS} "
    assert row in page.text
    cpk = f"{accuracy.spread.cpk:.2f}"
    assert re.search(
        rf"accuracy temperature=25, vdd=3.3 {UNITS} {UNITS} .*? {cpk} 100.0 % Cpk < 1.67", page.text
    )
    assert "Cpk below 1.67" in page.text and accuracy.flagged
    idd = next(r for r in result.rows if r.parameter == "idd_active" and not r.group)
    assert not idd.flagged and f"{idd.spread.cpk:.2f} 100.0 % idd_active" in page.text  # no flag

    svg = _figure(page.dom, "accuracy (temperature=25, vdd=3.3)")
    limits = [float(x) for x in re.findall(r'<line class="limit" x1="([\d.]+)"', svg)]
    scale, zero = _tick_scale(svg)
    assert limits == pytest.approx([zero - 0.5 * scale, zero + 0.5 * scale], abs=1.0)  # LSL, USL
    assert "LSL -0.5 °C" in svg and "USL 0.5 °C" in svg
    bars = [int(n) for n in re.findall(r'<rect class="bar[^"]*"[^>]*><title>(\d+)</title>', svg)]
    assert sum(bars) == UNITS
    idd_svg = _figure(page.dom, "idd_active (temperature=25, vdd=3.3)")
    assert idd_svg.count('<line class="limit"') == 1 and "USL 220 µA" in idd_svg

    sweep = _figure(page.dom, "accuracy against VDD (test_accuracy_against_supply)")
    assert sweep.count('<polyline class="unit-curve"') == UNITS and '<polygon class="band"' in sweep
    assert page.text.count("SN00") >= UNITS and "L1" in page.text and "L2" in page.text


def test_text_from_run_files_is_escaped(result: Characterisation) -> None:
    units = [dataclasses.replace(result.units[0], serial="<script>alert(1)</script>")]
    page = render_page(dataclasses.replace(result, units=units))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_histogram_without_limits_has_only_its_mean(result: Characterisation) -> None:
    row = next(r for r in result.rows if r.parameter == "idd_active" and not r.group)
    loose = dataclasses.replace(
        row, spread=dataclasses.replace(row.spread, low=float("nan"), high=float("nan"))
    )
    chart = histogram(loose)
    assert [m.kind for m in chart.vertical] == ["mean"]
    assert sum(b.count for b in chart.bars) == UNITS
