"""Checks of a plan against the bench and DUT profile that need no instrument.

Run at collection, before anything is powered: every `measure("<name>", ...)` with a literal
name must name a parameter of the profile (unless it gives inline limits and a unit), a
literal `unit=` must agree with the profile, and every role in `requires(...)` must be a role
the bench or the profile's nets know. What cannot be seen in the source is checked at run time.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

from benchtest.config.dut import DutProfile

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
