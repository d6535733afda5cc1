"""The conditions a rating bounds, known per profile before a plan's parameters are checked.

Collection checks each parametrised test's values against the ratings only for the names a
rating bounds (`bounded_conditions`); that must be exactly the names `rating_for` finds a
rating for, or a value beyond a rating would go unchecked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest.config.dut import DutProfile
from benchtest.config.ratings import bounded_conditions, rating_for

REPO = Path(__file__).resolve().parent.parent
PROFILES = sorted((REPO / "dut_profiles").glob("*.yaml"))


@pytest.mark.parametrize("path", PROFILES, ids=[path.stem for path in PROFILES])
def test_the_bounded_conditions_are_those_a_rating_bounds(path: Path) -> None:
    data = DutProfile.load(path).data
    names = {
        *(data.get("absolute_maximum") or {}),
        *(data.get("recommended_operating") or {}),
        *(
            condition
            for spec in (data.get("parameters") or {}).values()
            for condition in (spec.get("conditions") or {})
        ),
        "n",
        "mode",
    }
    bounded = bounded_conditions(data)
    assert bounded == {name for name in names if rating_for(name, data) is not None}
    assert bounded <= names


def test_a_condition_is_bounded_by_its_own_rating_or_the_one_its_operating_range_names() -> None:
    data = DutProfile.load(REPO / "dut_profiles" / "bt_ldo33.yaml").data
    bounded = bounded_conditions(data)
    assert {"vin", "iout", "tj", "temperature"} <= bounded  # temperature: rating tj
    assert not {"n", "mode", "drop"} & bounded
