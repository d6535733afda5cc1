"""Plan checks at collection: unknown parameters, units that disagree, unknown roles, ratings
the guard could not enforce on this bench, parametrised conditions beyond a rating.

A plan with such a mistake stops before any test runs, so nothing is powered and nothing
recorded is lost; the message names the test, the line and what was wrong. On a strict bench,
a selected test that requires a role the bench lacks stops the run the same way.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import ITEM_DUT
from benchtest.plugin.markers import ClosestMarkers

if TYPE_CHECKING:
    from benchtest.config.bench import Bench
    from benchtest.config.dut import DutProfile


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    run = settings(config)
    if run is None or run.controller:
        return
    from benchtest.config.plan_rules import measure_call_problems, parameter_problems, unknown_roles

    problems: list[str] = []
    closest_marker = ClosestMarkers()
    profiles = _Profiles(run.bench, problems)
    checked: set[tuple[object, int]] = set()  # (test function, profile) pairs read
    last: tuple[object, type, object] | None = None  # the previous test's (obj, type, DUT)
    for item in items:
        dut = item.stash.get(ITEM_DUT, None)
        if dut is None or closest_marker(item, "skip") is not None:
            continue
        profile, bounded = profiles.of(dut)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and bounded and not bounded.isdisjoint(callspec.params):
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
        # The tests of one parametrised function share its object: its calls were read with
        # the first of them (`item.function` costs ~1 us a test, 5 ms for 5 000 tests).
        this = (getattr(item, "obj", None), type(item), dut)
        if this[0] is not None and last is not None and all(map(operator.is_, this, last)):
            continue
        last = this
        function = getattr(item, "function", None)
        if function is not None and (function, profile) not in checked:
            checked.add((function, profile))
            problems += [f"{item.nodeid}: {p}" for p in measure_call_problems(function, dut)]
    if problems:
        raise pytest.UsageError(
            "benchtest: the plan does not fit the bench or DUT profile:\n  " + "\n  ".join(problems)
        )


class _Profiles:
    """The DUT profiles of the collected tests: each numbered, with the conditions its ratings
    bound, and its ratings the bench cannot guard added to `problems`, once per profile file.
    Looked up by the profile object (the tests' stash holds each one), its file found once."""

    def __init__(self, bench: Bench, problems: list[str]) -> None:
        self._bench, self._problems = bench, problems
        self._by_path: dict[Path, tuple[int, frozenset[str]]] = {}
        self._last: tuple[DutProfile, tuple[int, frozenset[str]]] | None = None

    def of(self, dut: DutProfile) -> tuple[int, frozenset[str]]:
        """(the number of `dut`'s profile file, the conditions its ratings bound)."""
        if self._last is not None and self._last[0] is dut:
            return self._last[1]
        found = self._by_path.get(dut.path)
        if found is None:
            from benchtest.config.plan_rules import unguarded_ratings
            from benchtest.config.ratings import bounded_conditions

            found = self._by_path[dut.path] = (len(self._by_path), bounded_conditions(dut.data))
            self._problems += unguarded_ratings(self._bench, dut)
        self._last = (dut, found)
        return found


def pytest_collection_finish(session: pytest.Session) -> None:
    """A strict bench runs nothing when a selected test needs a role it lacks. (On a pytest-xdist
    worker, those tests are errors instead: see `instruments.pytest_runtest_setup`.)"""
    config = session.config
    run = settings(config)
    if run is None or run.controller or not run.bench.strict or hasattr(config, "workerinput"):
        return
    from benchtest.run.instrument_pool import missing_roles_message

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
