"""The verification report: one self-contained HTML file per run file.

The run file is read with `benchtest.results`, turned into plain rows here, and rendered by the
Jinja2 template `templates/report.html.j2` with autoescaping on, so every string from the run
(test ids, messages, instrument identities, the DUT profile) is escaped. Nothing in the page
refers to the network: CSS is inline and plots are inline SVG.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy.typing as npt

from benchtest.__about__ import __version__
from benchtest.report.plot import Plot, family_plot, sweep_plot, waveform_plot
from benchtest.report.units import format_eng
from benchtest.results import Run, TestRecord, open_run
from benchtest.values.events import ConfigSnapshot, utc_now

_OUTCOMES = ("passed", "failed", "error", "skipped", "incomplete")


@dataclass(frozen=True)
class MeasurementRow:
    name: str
    value: str
    low: str
    high: str
    outcome: str


@dataclass(frozen=True)
class TestSection:
    """One test as the report shows it."""

    __test__ = False  # not a pytest test class

    record: TestRecord
    rows: list[MeasurementRow]
    plots: list[Plot]


def _rows(measurements: npt.NDArray[Any]) -> list[MeasurementRow]:
    return [
        MeasurementRow(
            name=str(m["name"]),
            value=format_eng(float(m["value"]), str(m["unit"])),
            low=format_eng(float(m["low"]), str(m["unit"])),
            high=format_eng(float(m["high"]), str(m["unit"])),
            outcome=str(m["outcome"]),
        )
        for m in measurements
    ]


def verdict(run: Run) -> str:
    """PASS only when the run finished as passed and every test passed or was skipped."""
    outcomes = {t.outcome for t in run.tests}
    if "failed" in outcomes or run.outcome == "failed":
        return "FAIL"
    if "error" in outcomes or run.outcome == "error" or run.problems:
        return "ERROR"
    if "incomplete" in outcomes or run.outcome == "passed":
        return "INCOMPLETE" if "incomplete" in outcomes else "PASS"
    return run.outcome.upper()


def _header(metadata: dict[str, Any], path: Path) -> list[tuple[str, str]]:
    def get(key: str) -> str:
        return str(metadata.get(key, "")) or "—"

    commit = get("plans_commit") + (
        " (with uncommitted changes)" if metadata.get("plans_dirty") else ""
    )
    return [
        ("Part", get("part")),
        ("Serial number", get("serial_number")),
        ("Lot", get("lot")),
        ("Station", get("station")),
        ("Operator", get("operator")),
        ("Host", get("host")),
        ("Started (UTC)", get("start_time")),
        ("Ended (UTC)", get("end_time")),
        ("Run id", get("run_id")),
        ("Plans commit", commit),
        ("benchtest version", get("creator_version")),
        ("Run file", f"{path.name} (schema {get('benchtest_schema_version')})"),
    ]


def _config(snapshot: ConfigSnapshot | None) -> dict[str, str] | None:
    if snapshot is None:
        return None
    return {
        "name": Path(snapshot.path).name,
        "path": snapshot.path,
        "sha256": snapshot.sha256,
        "text": snapshot.text,
    }


def _plots(test: TestRecord) -> list[Plot]:
    """A test's waveforms, then its sweeps, then its families of curves."""
    return [
        *(waveform_plot(w) for w in test.waveforms.values()),
        *(sweep_plot(s) for s in test.sweeps.values()),
        *(family_plot(f) for f in test.families.values()),
    ]


def report_context(run: Run) -> dict[str, Any]:
    """Everything the template shows, as plain values."""
    counts = Counter(t.outcome for t in run.tests)
    return {
        "title": f"{run.metadata.get('part', '')} {run.metadata.get('serial_number', '')}".strip(),
        "header": _header(run.metadata, run.path),
        "verdict": verdict(run),
        "outcome": run.outcome,
        "counts": [(o, counts[o]) for o in _OUTCOMES if counts[o] or o in ("passed", "failed")],
        "total": len(run.tests),
        "tests": [TestSection(t, _rows(t.measurements), _plots(t)) for t in run.tests],
        "instruments": run.instruments,
        "safe_state_log": run.safe_state_log,
        "dut_profile": _config(run.dut_profile),
        "bench_file": _config(run.bench_file),
        "problems": run.problems,
        "generated": utc_now(),
        "report_version": __version__,
    }


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("benchtest.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(run: Run) -> str:
    """The report of the open `run` as HTML text."""
    return _ENV.get_template("report.html.j2").render(report_context(run))


def write_report(
    run_path: str | os.PathLike[str], out_path: str | os.PathLike[str] | None = None
) -> Path:
    """Write the HTML report of the run file `run_path`; by default next to it as `.html`.

    The file is written under a temporary name and renamed, so a reader never sees half a
    report. Returns the report's path.
    """
    source = Path(run_path)
    target = source.with_suffix(".html") if out_path is None else Path(out_path)
    with open_run(source) as run:
        html = render_report(run)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_text(html, encoding="utf-8")
    partial.replace(target)
    return target
