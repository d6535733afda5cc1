"""Checks of a plan against the bench and DUT profile that need no instrument.

Run at collection, before anything is powered: every `measure("<name>", ...)` with a literal
name must name a parameter of the profile (unless it gives inline limits and a unit), a
literal `unit=` must agree with the profile, and every role in `requires(...)` must be a role
the bench or the profile's nets know. The guard needs bench and profile to agree too: a rating
whose role the bench lacks, while the bench has an instrument able to source that quantity on no
net of the profile, is a role named two ways; and a value a test is parametrised with under a
rating's name (`vin`) must be within that rating. What cannot be seen in the source is checked
at run time.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from benchtest.config.bench import Bench
from benchtest.config.dut import DutProfile
from benchtest.config.ratings import condition_problem
from benchtest.driver.registry import driver_class
from benchtest.values.ratings import QUANTITY_OF_UNIT

#: What an instrument of each capability can force on a DUT net.
SOURCED_BY = {
    "SourceMeter": {"voltage", "current"},
    "PowerSupply": {"voltage", "current"},
    "Chamber": {"temperature"},
}

INLINE_LIMITS = {"low", "high", "nominal", "expected", "limits"}


def measure_call_problems(function: Callable[..., Any], dut: DutProfile) -> list[str]:
    """Problems with the literal `measure(...)` calls in `function`'s source."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return []  # no source to read (built dynamically): checked at run time instead
    problems = []
    first_line = function.__code__.co_firstlineno
    for call, unit_keyword in _measure_calls(tree):
        name = call.args[0].value  # type: ignore[attr-defined]
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        called = "measure.sweep" if unit_keyword == "y_unit" else "measure"
        where = f"line {first_line + call.lineno - 1}: {called}({name!r})"
        unit = keywords.get(unit_keyword)
        literal_unit = unit.value if isinstance(unit, ast.Constant) else None
        parameter = dut.parameters.get(name)
        if parameter is None and not INLINE_LIMITS & keywords.keys():
            known = ", ".join(sorted(dut.parameters))
            problems.append(
                f"{where}: {name!r} is not a parameter of DUT profile {dut.name} "
                f"({dut.path}); known parameters: {known}"
            )
        elif parameter is not None and literal_unit is not None and literal_unit != parameter.unit:
            problems.append(
                f"{where}: unit {literal_unit!r} does not match the unit "
                f"{parameter.unit!r} of {name} in DUT profile {dut.name}"
            )
        elif parameter is None and unit_keyword not in keywords:
            problems.append(f"{where}: inline limits need a unit (the profile has no {name!r})")
    return problems


def _measure_calls(tree: ast.AST) -> Iterable[tuple[ast.Call, str]]:
    """`measure("name", ...)` and `measure.sweep("name", ...)` calls with a literal name, each
    with the keyword that gives its unit."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func, first = node.func, node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        if isinstance(func, ast.Name) and func.id == "measure":
            yield node, "unit"
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "sweep"
            and isinstance(func.value, ast.Name)
            and func.value.id == "measure"
        ):
            yield node, "y_unit"


def unknown_roles(
    required: Iterable[str], bench_roles: Iterable[str], dut: DutProfile
) -> list[str]:
    """Roles in `requires(...)` that neither the bench nor the profile's nets know."""
    known = set(bench_roles) | {str(spec.get("role")) for spec in dut.nets.values()}
    return [role for role in required if role not in known]


def unguarded_ratings(bench: Bench, dut: DutProfile) -> list[str]:
    """Ratings the guard could not enforce on this bench: the rating's net is driven by a role
    the bench lacks, while a bench role that no net of the profile names can source the
    rating's quantity (most likely the same instrument under another name)."""
    named = {str(spec.get("role")) for spec in dut.nets.values()}
    problems = []
    for name, spec in dut.ratings.items():
        role = str(dut.nets[spec["net"]].get("role"))
        quantity = QUANTITY_OF_UNIT.get(spec["unit"], spec["unit"])
        if role in bench.roles:
            continue
        suspects = [
            f"{other} ({cfg.driver})"
            for other, cfg in bench.roles.items()
            if other not in named and quantity in _sourced(cfg.driver)
        ]
        if suspects:
            problems.append(
                f"{dut.path}: absolute_maximum.{name}: the {quantity} rating of net "
                f"{spec['net']} is guarded on role {role!r}, which bench {bench.name!r} "
                f"({bench.path}) lacks, while {', '.join(suspects)} can source {quantity} on no "
                f"net of the profile; name the role that drives {spec['net']} in "
                f"nets.{spec['net']}.role"
            )
    return problems


def parameter_problems(params: Mapping[str, Any], dut: DutProfile) -> list[str]:
    """Values a test is parametrised with under a condition's name (`vin`, `temperature`)
    that are beyond the absolute maximum rating bounding that condition."""
    problems = []
    for name, value in params.items():
        problem = condition_problem(name, value, dut.data)
        if problem:
            problems.append(f"parametrized {name}={value!r}: {problem} ({dut.path})")
    return problems


def _sourced(driver: str) -> set[str]:
    """The quantities an instrument of registry name `driver` can force on a net."""
    capabilities = driver_class(driver).capabilities
    return set().union(*(SOURCED_BY.get(c, set()) for c in capabilities))
