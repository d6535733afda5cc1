"""A DUT profile's absolute maximum ratings, checked as the profile loads.

The guard can only be as good as the ratings it is built from, so a profile is refused, naming
its file and field, when a rating's maximum is below its minimum, when its recommended
operating conditions reach beyond the ratings they are bound by, or when a parameter's test
condition does. `rating_for` says which rating bounds a condition of a given name; the plan
checks use it for the values a plan is parametrised with.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from benchtest.driver.numbers import plain
from benchtest.values.errors import ConfigError
from benchtest.values.ratings import QUANTITY_OF_UNIT, Rating, number_text

LIMIT_KEYS = ("min", "typ", "max")


def as_rating(name: str, spec: Mapping[str, Any], part: str) -> Rating:
    """The `absolute_maximum.<name>` entry `spec` as a `Rating`."""
    return Rating(
        name=name,
        quantity=QUANTITY_OF_UNIT.get(spec["unit"], spec["unit"]),
        unit=spec["unit"],
        min=spec.get("min"),
        max=spec.get("max"),
        part=part,
    )


def rating_for(name: str, data: Mapping[str, Any]) -> Rating | None:
    """The rating a condition called `name` must stay within: `absolute_maximum.<name>`, else
    the one its `recommended_operating.<name>` entry names (`rating:`); None when no rating
    bounds it."""
    ratings = data.get("absolute_maximum") or {}
    operating = (data.get("recommended_operating") or {}).get(name) or {}
    key = name if name in ratings else operating.get("rating")
    if not isinstance(key, str) or key not in ratings:
        return None
    return as_rating(key, ratings[key], data["part"]["name"])


def bounded_conditions(data: Mapping[str, Any]) -> frozenset[str]:
    """The names of the conditions a rating bounds: those `rating_for` finds a rating for."""
    names = {*(data.get("absolute_maximum") or {}), *(data.get("recommended_operating") or {})}
    return frozenset(name for name in names if rating_for(name, data) is not None)


def condition_problem(name: str, value: object, data: Mapping[str, Any]) -> str | None:
    """Why the condition `name` = `value` (a number or a list of numbers) is beyond the rating
    that bounds it, or None."""
    bound = rating_for(name, data)
    if bound is None:
        return None
    for number in _numbers(value):
        if not math.isfinite(number):
            return f"{number!r} is not a finite number"
        problem = bound.violation(number)
        if problem:
            return problem
    return None


def check_ratings(where: str, data: Mapping[str, Any]) -> None:
    """Raise ConfigError for the first problem with the profile's ratings (see module doc).
    Every number is finite already: `files.load_validated` refuses NaN and infinities."""
    for name, spec in (data.get("absolute_maximum") or {}).items():
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None and high < low:
            raise ConfigError(
                where,
                f"absolute_maximum.{name}",
                f"max ({number_text(high)} {spec['unit']}) is below min "
                f"({number_text(low)} {spec['unit']})",
            )
    for name, spec in (data.get("recommended_operating") or {}).items():
        _check_operating(where, name, spec, data)
    for name, spec in (data.get("parameters") or {}).items():
        for condition, value in (spec.get("conditions") or {}).items():
            problem = condition_problem(condition, value, data)
            if problem:
                raise ConfigError(where, f"parameters.{name}.conditions.{condition}", problem)


def _check_operating(
    where: str, name: str, spec: Mapping[str, Any], data: Mapping[str, Any]
) -> None:
    ratings = data.get("absolute_maximum") or {}
    linked = spec.get("rating")
    if linked is not None and linked not in ratings:
        known = ", ".join(sorted(ratings)) or "none"
        raise ConfigError(
            where,
            f"recommended_operating.{name}.rating",
            f"no absolute_maximum entry {linked!r} (ratings: {known})",
        )
    key = linked or name
    if key not in ratings:
        return
    bound = as_rating(key, ratings[key], data["part"]["name"])
    if bound.unit != spec["unit"]:
        raise ConfigError(
            where,
            f"recommended_operating.{name}.unit",
            f"{spec['unit']!r} does not match the unit {bound.unit!r} of the absolute maximum "
            f"rating {bound.name}",
        )
    for key in LIMIT_KEYS:
        value = spec.get(key)
        problem = None if value is None else bound.violation(value)
        if problem:
            raise ConfigError(
                where,
                f"recommended_operating.{name}.{key}",
                f"the recommended operating condition is beyond the rating: {problem}",
            )


def _numbers(value: object) -> Iterator[float]:
    """The numbers of a condition: the number itself (of any kind, numpy too), or those of a
    list or array; bools and text are not numbers."""
    items = value.tolist() if isinstance(value, np.ndarray) else value
    for item in items if isinstance(items, list | tuple) else [items]:
        number = plain(item)
        if isinstance(number, int | float) and not isinstance(number, bool):
            yield float(number)
