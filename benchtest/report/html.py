"""The verification report: one self-contained HTML file per run file.

The run file is read with `benchtest.results`, turned into plain rows here, and rendered by the
Jinja2 template `templates/report.html.j2` with autoescaping on, so every string from the run
(test ids, messages, instrument identities, the DUT profile) is escaped. Nothing in the page
refers to the network: CSS is inline and plots are inline SVG. The verdict and the failures
come first; the report carries the run file's SHA-256 and its own (see `digest`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchtest.__about__ import __version__
from benchtest.report.digest import PLACEHOLDER, RULE, file_sha256, seal
from benchtest.report.markers import Recorded, edge_marks
from benchtest.report.plot import Plot, family_plot, sweep_plot, waveform_plot
from benchtest.report.profile_notes import is_profile, profile_notes
from benchtest.report.templating import TEMPLATES
from benchtest.report.units import format_eng
from benchtest.results import Run, StoredWaveform, TestRecord, open_run
from benchtest.run.tally import describe
from benchtest.values.atomic import replacing
from benchtest.values.errors import ResultFileError
from benchtest.values.events import ConfigSnapshot, utc_now

#: What reading a damaged part of a run file may raise while a plot is drawn.
_UNREADABLE = (ResultFileError, OSError, KeyError, ValueError, RuntimeError)

#: Waveforms up to this many points are read into memory once, for their plot and their marks.
READ_ONCE = 1 << 22

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
    unreadable: list[str] = field(default_factory=list)  # plots that could not be drawn


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


@dataclass(frozen=True)
class InstrumentRow:
    """One instrument of the run, with its calibration due date and whether the run used it
    past that date."""

    role: str
    driver: str
    resource: str
    identity: str
    calibration_due: str
    expired: bool


def _instruments(run: Run) -> list[InstrumentRow]:
    started = _date(str(run.metadata.get("start_time", "")))
    rows = []
    for row in run.instruments:
        fields = {name: str(row[name]) for name in row.dtype.names or ()}
        due = fields.get("calibration_due", "")
        expired = started is not None and (_date(due) or dt.date.max) < started
        rows.append(
            InstrumentRow(
                fields.get("role", ""),
                fields.get("driver", ""),
                fields.get("resource", ""),
                fields.get("identity", ""),
                due or "—",
                expired,
            )
        )
    return rows


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _headline(run: Run, verdict_: str) -> tuple[str, str, str]:
    """(banner text, banner class, outcome line): a PASS with skipped tests is not green."""
    line = describe(run.outcome, ((t.outcome, t.message) for t in run.tests))
    skipped = sum(t.outcome == "skipped" for t in run.tests)
    if verdict_ == "PASS" and skipped:
        return f"PASS, {skipped} SKIPPED", "partial", line
    return verdict_, verdict_.lower(), line


def verdict(run: Run) -> str:
    """PASS only when the run finished as passed and every test passed or was skipped;
    DAMAGED before anything else when the run file is damaged."""
    if run.damaged:
        return "DAMAGED"
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
        ("Plans (sha256)", get("plans_sha256")),
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


def _recorded(measurements: npt.NDArray[Any]) -> list[Recorded]:
    """The test's measurements, for matching against the marks of its waveforms."""

    def limit(value: Any) -> float | None:
        number = float(value)
        return number if np.isfinite(number) else None

    return [
        Recorded(str(m["name"]), float(m["value"]), str(m["unit"]), limit(m["low"]),
                 limit(m["high"]))
        for m in measurements
    ]  # fmt: skip


def _waveform(wf: StoredWaveform, recorded: list[Recorded]) -> Plot:
    """A waveform's plot with its first edge marked. A record of up to READ_ONCE points is read
    once, for both; a longer one is read block by block by each, so memory stays bounded."""
    codes = wf.codes[...] if len(wf) <= READ_ONCE else None
    if is_profile(wf.group):  # a current profile: its states and events, no edge marks
        plot = waveform_plot(wf, None, codes=codes)
        return replace(plot, notes=(*plot.notes, *profile_notes(wf.group)))
    return waveform_plot(wf, edge_marks(wf, recorded, codes=codes), codes=codes)


def _section(test: TestRecord) -> TestSection:
    """A test's rows and plots: its waveforms (first edge marked), then its sweeps, then its
    families of curves; a plot whose data cannot be read (a damaged file) is named in
    `unreadable` instead."""
    section = TestSection(test, _rows(test.measurements), [])
    recorded = _recorded(test.measurements)
    drawings: list[tuple[str, Callable[[], Plot]]] = [
        *((name, lambda w=w: _waveform(w, recorded)) for name, w in test.waveforms.items()),
        *((name, lambda s=s: sweep_plot(s)) for name, s in test.sweeps.items()),
        *((name, lambda f=f: family_plot(f)) for name, f in test.families.items()),
    ]
    for name, draw in drawings:
        try:
            section.plots.append(draw())
        except _UNREADABLE as exc:
            section.unreadable.append(f"{name}: damaged, cannot be read: {exc}")
    return section


@dataclass(frozen=True)
class Failure:
    """A test that did not pass, as the summary at the top lists it."""

    section: TestSection
    failing: list[MeasurementRow]  # its measurements outside their limits


_NOT_PASSED = ("failed", "error", "incomplete")


def _failures(sections: list[TestSection]) -> list[Failure]:
    return [
        Failure(s, [m for m in s.rows if m.outcome == "fail"])
        for s in sections
        if s.record.outcome in _NOT_PASSED
    ]


def report_context(run: Run) -> dict[str, Any]:
    """Everything the template shows, as plain values. The report's digest field holds the
    placeholder: `seal` fills it in once the page is rendered."""
    counts = Counter(t.outcome for t in run.tests)
    size, sha256 = _identity(run.path)
    sections = [_section(t) for t in run.tests]
    unreadable = [f"{s.record.id}: {note}" for s in sections for note in s.unreadable]
    banner, banner_class, outcome_line = _headline(run, verdict(run))
    return {
        "title": f"{run.metadata.get('part', '')} {run.metadata.get('serial_number', '')}".strip(),
        "header": _header(run.metadata, run.path),
        "verdict": verdict(run),
        "banner": banner,
        "banner_class": banner_class,
        "outcome_line": outcome_line,
        "outcome": run.outcome,
        "counts": [(o, counts[o]) for o in _OUTCOMES if counts[o] or o in ("passed", "failed")],
        "total": len(run.tests),
        "tests": sections,
        "failures": _failures(sections),
        "run_file": run.path.name,
        "run_size": size,
        "run_sha256": sha256,
        "report_sha256": PLACEHOLDER,
        "digest_rule": RULE,
        "instruments": _instruments(run),
        "safe_state_log": run.safe_state_log,
        "unsafe": [e for e in run.safe_state_log if not e["ok"]],
        "dut_profile": _config(run.dut_profile),
        "bench_file": _config(run.bench_file),
        "problems": [*run.problems, *unreadable],
        "damaged": run.damaged or bool(unreadable),
        "readable": run.readable()
        + (f", of which {len(unreadable)} plots cannot be read" if unreadable else ""),
        "generated": utc_now(),
        "report_version": __version__,
    }


def _identity(path: Path) -> tuple[int, str]:
    """The run file's size in bytes and SHA-256, as the report prints them."""
    try:
        return path.stat().st_size, file_sha256(path)
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot read the run file to hash it: {exc}") from exc


def _sealed(context: dict[str, Any]) -> bytes:
    """The rendered report as UTF-8 bytes with its own digest filled in."""
    html = TEMPLATES.get_template("report.html.j2").render(context)
    # errors="replace": text of a damaged file that is not valid UTF-8 is shown as U+FFFD
    return seal(html.encode("utf-8", errors="replace"))


def render_report(run: Run) -> str:
    """The report of the open `run` as HTML text (with its digest, as `write_report` writes)."""
    return _sealed(report_context(run)).decode("utf-8")


def write_report(
    run_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str] | None = None,
    *,
    damage: list[str] | None = None,
) -> Path:
    """Write the HTML report of the run file `run_path`; by default next to it as `.html`.

    The file is written under a temporary name and renamed, so a reader never sees half a
    report. Returns the report's path. A damaged run file gets a report of what can still be
    read, under a damage notice; `damage`, when given, receives what is damaged and, last,
    what could still be read.
    """
    source = Path(run_path)
    target = source.with_suffix(".html") if out_path is None else Path(out_path)
    with open_run(source) as run:
        context = report_context(run)
        data = _sealed(context)
    if damage is not None and context["damaged"]:
        damage += [p for p in context["problems"] if "damaged" in p]
        damage.append(f"still readable: {context['readable']}")
    try:
        with replacing(target) as temporary:
            temporary.write_bytes(data)
    except OSError as exc:  # a full disk, a folder without write permission
        raise ResultFileError(f"{target}: cannot write the report: {exc}") from exc
    return target
