"""Names of a package that load their module on first use (PEP 562 module `__getattr__`).

A package lists its public names with the module each comes from; importing the package then
imports none of them, so a process pays only for what it uses (a pytest run's start-up, a
simulator process, a script that reads one run file).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, whose attribute `name` is the attribute
    of that name of the module `names[name]`, imported on first use and then kept."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        if name in names:
            value = getattr(import_module(names[name]), name)
            namespace[name] = value  # found directly from now on
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
