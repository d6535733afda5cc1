"""Plan checks at collection: unknown parameters, units that disagree, unknown roles, ratings
the guard could not enforce on this bench, parametrised conditions beyond a rating.

A plan with such a mistake stops before any test runs, so nothing is powered and nothing
recorded is lost; the message names the test, the line and what was wrong. On a strict bench,
a selected test that requires a role the bench lacks stops the run the same way.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest.config.plan_rules import (
    measure_call_problems,
    parameter_problems,
    unguarded_ratings,
    unknown_roles,
)
from benchtest.config.ratings import bounded_conditions
from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import ITEM_DUT
from benchtest.plugin.markers import ClosestMarkers
from benchtest.run.instrument_pool import missing_roles_message


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    run = settings(config)
    if run is None or run.controller:
        return
    problems: list[str] = []
    checked: set[object] = set()
    bounded: dict[Path, frozenset[str]] = {}  # by profile: the conditions a rating bounds
    closest_marker = ClosestMarkers()
    for item in items:
        dut = item.stash.get(ITEM_DUT, None)
        if dut is None or closest_marker(item, "skip") is not None:
            continue
        if dut.path not in bounded:
            bounded[dut.path] = bounded_conditions(dut.data)
            problems += unguarded_ratings(run.bench, dut)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and not bounded[dut.path].isdisjoint(callspec.params):
            problems += [f"{item.nodeid}: {p}" for p in parameter_problems(callspec.params, dut)]
        marker = closest_marker(item, "requires")
        if marker is not None:
            for role in unknown_roles(marker.args, run.bench.roles, dut):
                known = {*run.bench.roles, *(str(s.get("role")) for s in dut.nets.values())}
                problems.append(
                    f"{item.nodeid}: requires({role!r}): no such role on bench "
                    f"{run.bench.name!r} or in the nets of {dut.name}; "
                    f"known roles: {', '.join(sorted(known))}"
                )
        function = getattr(item, "function", None)
        if function is not None and (function, dut.path) not in checked:
            checked.add((function, dut.path))
            problems += [f"{item.nodeid}: {p}" for p in measure_call_problems(function, dut)]
    if problems:
        raise pytest.UsageError(
            "benchtest: the plan does not fit the bench or DUT profile:\n  " + "\n  ".join(problems)
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    """A strict bench runs nothing when a selected test needs a role it lacks. (On a pytest-xdist
    worker, those tests are errors instead: see `instruments.pytest_runtest_setup`.)"""
    config = session.config
    run = settings(config)
    if run is None or run.controller or not run.bench.strict or hasattr(config, "workerinput"):
        return
    lacking: dict[str, list[str]] = {}
    closest_marker = ClosestMarkers()
    for item in session.items:
        marker = closest_marker(item, "requires")
        if marker is None or closest_marker(item, "skip") is not None:
            continue
        missing = [str(role) for role in marker.args if role not in run.bench.roles]
        if missing:
            lacking.setdefault(missing_roles_message(run.bench, missing), []).append(item.nodeid)
    if lacking:
        problems = [f"{reason}: {', '.join(tests)}" for reason, tests in lacking.items()]
        raise pytest.UsageError(
            "benchtest: the bench is strict (--strict-bench or strict: true) and lacks roles "
            "that selected tests require: " + "; ".join(problems)
        )
