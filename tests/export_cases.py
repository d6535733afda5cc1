"""Run files for the export tests, written from events through the real writer, and the
STDF they export to read back by two independent readers (stdf-convert and pystdf)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchtest.storage import Hdf5RunWriter
from benchtest.storage.example import BENCH_TEXT, DUT_TEXT
from benchtest.values.events import (
    ConfigSnapshot,
    Event,
    MeasurementRecorded,
    RunFinished,
    RunStarted,
    TestFinished,
    TestStarted,
)
from benchtest.values.measurement import Limits, Measurement

MULTI_SITE_BENCH = "schema_version: 1\nsites:\n  B: {instruments: {}}\n  A: {instruments: {}}\n"


def _snapshot(path: str, text: str) -> ConfigSnapshot:
    return ConfigSnapshot(path, text, hashlib.sha256(text.encode()).hexdigest())


@dataclass
class Test:
    """One test of a generated run: its measurements and how it ended (None: never ended)."""

    __test__ = False
    id: str
    outcome: str | None = "passed"
    measurements: list[Measurement] = field(default_factory=list)
    conditions: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1


def judge(
    name: str,
    value: float,
    unit: str,
    low: float | None = None,
    high: float | None = None,
    margin: float = 0.0,
    conditions: dict[str, Any] | None = None,
) -> Measurement:
    return Measurement.judge(
        name, value, unit, Limits(low, high, unit, margin), conditions=conditions
    )


def write_run(
    path: Path,
    tests: Sequence[Test],
    *,
    serial: str,
    outcome: str | None,
    minute: int,
    site: str = "",
    bench_text: str = BENCH_TEXT,
) -> Path:
    """A run file at `path` whose run starts at 10:`minute` (so exports order it); outcome
    None ends it without RunFinished, as a killed run's file reads."""
    start = f"2026-11-28T10:{minute:02d}:00+00:00"
    events: list[Event] = [
        RunStarted(
            run_id=f"run-{path.stem}",
            started=start,
            framework_version="0.1.0",
            bench=_snapshot("benches/lab.yaml", bench_text),
            dut=_snapshot("dut_profiles/ldo_3v3.yaml", DUT_TEXT),
            part="LDO-3V3",
            serial_number=serial,
            lot="L7",
            operator="ada",
            station="bench-3",
            host="lab-pc-3",
            site=site,
        )
    ]
    for n, test in enumerate(tests, start=1):
        at = f"2026-11-28T10:{minute:02d}:{n:02d}+00:00"
        events.append(TestStarted(test.id, at, dict(test.conditions), test.attempt))
        events += [MeasurementRecorded(test.id, m) for m in test.measurements]
        if test.outcome is not None:
            message = "" if test.outcome == "passed" else f"{test.outcome} on purpose"
            events.append(TestFinished(test.id, test.outcome, at, 0.5, message, test.attempt))
    if outcome is not None:
        events.append(RunFinished(f"2026-11-28T10:{minute:02d}:59+00:00", outcome))
    with Hdf5RunWriter(path) as writer:
        for event in events:
            writer(event)
    return path


LONG = "x" * 300  # a test id may be as long as it likes
LONG_NAME = "y" * 90  # a measurement name takes at most 96 bytes in the run file


def edge_tests() -> list[Test]:
    """NaN, one-sided and missing limits, equality, skipped, errored, a retried test, the
    same parameter at two conditions, names past STDF's 255 bytes, text beyond ASCII."""
    return [
        Test("plans/test_edges.py::test_nan", "failed", [judge("vref", math.nan, "V", 1.1, 1.3)]),
        Test(
            "plans/test_edges.py::test_one_sided",
            "passed",
            [judge("iq", 45e-6, "A", high=60e-6), judge("vout", 3.31, "V", low=3.0)],
            {"vin": np.float64(3.6), "load": "1 mA"},
        ),
        Test("plans/test_edges.py::test_no_limits", "passed", [judge("temp", 25.25, "degC")]),
        Test("plans/test_edges.py::test_equal", "passed", [judge("id", 5.0, "", 5.0, 5.0)]),
        Test("plans/test_edges.py::test_skipped", "skipped"),
        Test("plans/test_edges.py::test_error", "error", [judge("vdd", 1.8, "V", 1.7, 1.9)]),
        Test("plans/test_edges.py::test_retry", "failed", [judge("f", 9.0e6, "Hz", 9.9e6, 10.1e6)]),
        Test(
            "plans/test_edges.py::test_retry",
            "passed",
            [judge("f", 10.0e6, "Hz", 9.9e6, 10.1e6)],
            attempt=2,
        ),
        Test(
            "plans/test_edges.py::test_load",
            "passed",
            [
                judge("vout", 3.30, "V", 3.2, 3.4, conditions={"iload": 0.01}),
                judge("vout", 3.28, "V", 3.2, 3.4, conditions={"iload": 0.1}),
            ],
        ),
        Test(
            f"plans/test_edges.py::test_long[{LONG}]",
            "passed",
            [
                judge(f"a{LONG_NAME}", 1.0, "V", 0.5, 1.5),
                judge(f"b{LONG_NAME}", 1.0, "V", 0.5, 1.5),
            ],
        ),
        Test(
            "plans/test_edges.py::test_text",
            "passed",
            [
                judge(
                    "vout_Δ",
                    0.012,
                    "V",
                    -0.05,
                    0.05,
                    conditions={"note": 'quoted "x", and\nnewline', "unit": "q"},
                )
            ],
        ),
    ]


# -- reading STDF back --------------------------------------------------------------------


@dataclass(frozen=True)
class StdfPart:
    """A PIR ... PRR bracket as an independent reader reads it."""

    pir: dict[str, Any]
    ptrs: list[dict[str, Any]]
    dtrs: list[str]
    prr: dict[str, Any]


def _flag(value: Any) -> int:
    """A B*1 flag as an int (stdf-convert gives bytes, pystdf an int)."""
    return value[0] if isinstance(value, bytes) else int(value)


def read_stdf_convert(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every record in file order, as stdf-convert reads it: (type, fields)."""
    import stdf_convert

    found: list[tuple[int, str, dict[str, Any]]] = []
    for kind, table in stdf_convert.tables(path).items():
        for row in table.to_pylist():
            found.append((row["sequence_number"], kind, row))
    return [(kind, _plain(row)) for _, kind, row in sorted(found, key=lambda f: f[0])]


def read_pystdf(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every record in file order, as pystdf reads it: (type, fields)."""
    from pystdf.IO import Parser

    found: list[tuple[str, dict[str, Any]]] = []

    class Sink:
        def after_send(self, source: Any, data: Any) -> None:
            kind, values = data
            found.append(
                (type(kind).__name__.upper(), dict(zip(kind.fieldNames, values, strict=True)))
            )

    with path.open("rb") as stream:
        parser = Parser(inp=stream)
        parser.addSink(Sink())
        parser.parse()
    return [(kind, _plain(row)) for kind, row in found]


_FLAGS = {"TEST_FLG", "PARM_FLG", "OPT_FLAG", "PART_FLG"}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _flag(v) if k in _FLAGS and v is not None else v for k, v in row.items()}


def stdf_parts(records: list[tuple[str, dict[str, Any]]]) -> list[StdfPart]:
    """The parts of a file in order (sites tested one after the other)."""
    parts: list[StdfPart] = []
    current: dict[str, Any] | None = None
    ptrs: list[dict[str, Any]] = []
    dtrs: list[str] = []
    for kind, row in records:
        if kind == "PIR":
            assert current is None, "PIR inside a part"
            current, ptrs, dtrs = row, [], []
        elif kind == "PTR":
            assert current is not None and row["SITE_NUM"] == current["SITE_NUM"]
            ptrs.append(row)
        elif kind == "DTR":
            dtrs.append(row["TEXT_DAT"])
        elif kind == "PRR":
            assert current is not None and row["SITE_NUM"] == current["SITE_NUM"]
            parts.append(StdfPart(current, ptrs, dtrs, row))
            current = None
    assert current is None, "a PIR without its PRR"
    return parts


def float32(value: float) -> float:
    """What an STDF R*4 field holds of `value`."""
    return float(np.float32(value))


def same_r4(stored: float, value: float) -> bool:
    return (math.isnan(stored) and math.isnan(value)) or stored == float32(value)


def records_of(records: list[tuple[str, dict[str, Any]]], kind: str) -> Iterator[dict[str, Any]]:
    return (row for k, row in records if k == kind)
