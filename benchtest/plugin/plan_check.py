"""Plan checks at collection: unknown parameters, units that disagree, unknown roles.

A plan with such a mistake stops before any test runs, so nothing is powered and nothing
recorded is lost; the message names the test, the line and what was wrong.
"""

from __future__ import annotations

import pytest

from benchtest.config.plan_rules import measure_call_problems, unknown_roles
from benchtest.plugin.configuration import settings
from benchtest.plugin.dut_sessions import ITEM_DUT


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    run = settings(config)
    if run is None or run.controller:
        return
    problems: list[str] = []
    checked: set[object] = set()
    for item in items:
        dut = item.stash.get(ITEM_DUT, None)
        if dut is None or item.get_closest_marker("skip") is not None:
            continue
        marker = item.get_closest_marker("requires")
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
