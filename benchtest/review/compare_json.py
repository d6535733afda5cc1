"""A `Comparison` as JSON data: the format `benchtest compare --json` writes.

The layout is documented in `docs/compare.md` and versioned (`format_version`). Numbers are
plain JSON numbers in the parameter's SI unit; a number that does not exist (the shift of a
missing parameter, the standard deviation of a single reading) is `null`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from benchtest.review.compare import Comparison, ParameterChange, Readings, RunSide, TestChange

FORMAT = "benchtest-compare"
FORMAT_VERSION = 1


def _number(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _side(side: RunSide) -> dict[str, Any]:
    return {
        "path": str(side.path),
        "name": side.name or None,
        "run_id": side.run_id,
        "part": side.part,
        "serial_number": side.serial_number,
        "start_time": side.start_time,
        "outcome": side.outcome,
    }


def _readings(readings: Readings | None) -> dict[str, Any] | None:
    if readings is None:
        return None
    return {
        "mean": _number(readings.mean),
        "std": _number(readings.std),
        "count": readings.count,
        "not_a_number": readings.unreadable,
        "low": _number(readings.low),
        "high": _number(readings.high),
    }


def _parameter(change: ParameterChange) -> dict[str, Any]:
    tolerance = change.tolerance
    allowance = change.allowance
    return {
        "test_id": change.test_id,
        "name": change.name,
        "unit": change.unit,
        "status": change.status,
        "regression": change.regression,
        "baseline": _readings(change.baseline),
        "run": _readings(change.run),
        "shift": _number(change.shift),
        "relative": _number(change.relative),
        "sigma": _number(change.sigma),
        "tolerance": {
            **{kind: _number(value) for kind, value in tolerance.bounds().items()},
            "source": tolerance.source,
            "allowed": _number(allowance.shift) if allowance is not None else None,
            "allowed_by": (allowance.by or None) if allowance is not None else None,
        },
    }


def _test(change: TestChange) -> dict[str, Any]:
    return {
        "test_id": change.test_id,
        "status": change.status,
        "regression": change.regression,
        "baseline_outcome": change.baseline_outcome or None,
        "run_outcome": change.run_outcome or None,
    }


def comparison_data(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data (see `docs/compare.md`)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "verdict": "regression" if comparison.regressed else "no regression",
        "exit_code": comparison.exit_code,
        "regressions": len(comparison.regressions),
        "baseline": _side(comparison.baseline),
        "run": _side(comparison.run),
        "parameters": [_parameter(p) for p in comparison.parameters],
        "tests": [_test(t) for t in comparison.tests],
        "notes": list(comparison.notes),
    }


def comparison_json(comparison: Comparison) -> str:
    """The comparison as JSON text (strict JSON: no NaN or Infinity)."""
    return json.dumps(comparison_data(comparison), indent=2, allow_nan=False) + "\n"
