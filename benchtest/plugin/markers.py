"""Markers looked up for every collected test, once per parent node rather than once per test.

`item.get_closest_marker(name)` walks from the test up through its class, module and packages;
a plan of 5 000 parametrised tests would walk the same parents 5 000 times for each marker the
collection hooks ask about. `ClosestMarkers` gives the same answer, looking at each test's own
markers and at each parent's once. It is meant for one pass over the items of one hook: markers
added to a parent after it was asked about are not seen.

PYTEST_DONT_REWRITE (see `benchtest.plugin`).
"""

from __future__ import annotations

import pytest


class ClosestMarkers:
    """`item.get_closest_marker(name)` for many items, each parent's answer kept."""

    def __init__(self) -> None:
        self._of_parent: dict[tuple[object, str], pytest.Mark | None] = {}

    def __call__(self, item: pytest.Item, name: str) -> pytest.Mark | None:
        for mark in item.own_markers:  # the test's own: its parameter set's marks differ
            if mark.name == name:
                return mark
        parent = item.parent
        if parent is None:
            return None
        try:
            return self._of_parent[parent, name]
        except KeyError:
            found = self._of_parent[parent, name] = parent.get_closest_marker(name)
            return found
