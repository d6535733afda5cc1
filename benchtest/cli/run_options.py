"""The options of `benchtest run`, taken from the pytest plugin that owns them.

`benchtest run` hands its command line to pytest unchanged, so its own parser exists to give
usage and `--help`. Its options are the ones the plugin's modules declare in their
`pytest_addoption` hooks, read here through a stand-in parser: `run --help` lists every bench
option pytest accepts, with the same help, and cannot drift from the plugin.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, cast

import pytest

# The plugin's option group: the options `benchtest run` lists as its own.
BENCH_GROUP = "benchtest"


class _Group:
    """One option group of the stand-in parser: records the group's options into argparse."""

    def __init__(self, target: argparse._ArgumentGroup | None) -> None:
        self._target = target

    def addoption(self, *names: str, **attrs: Any) -> None:
        if self._target is not None:
            self._target.add_argument(*names, **attrs)


class _OptionsOf:
    """What `pytest_addoption` hooks are given instead of pytest's parser: the options of the
    benchtest group go into `target`; other groups' options and ini values are pytest's own."""

    def __init__(self, target: argparse._ArgumentGroup) -> None:
        self._bench = _Group(target)
        self._other = _Group(None)

    def getgroup(self, name: str, description: str = "", after: str | None = None) -> _Group:
        return self._bench if name == BENCH_GROUP else self._other

    def addoption(self, *names: str, **attrs: Any) -> None:
        """An option outside any group: pytest's, not listed as a bench option."""

    def addini(self, name: str, help: str, type: Any = None, default: Any = None) -> None:
        """An ini value: set in pytest.ini or pyproject.toml, not on the command line."""


def add_plugin_options(parser: argparse.ArgumentParser) -> None:
    """Add the benchtest plugin's pytest options to `parser`, in the plugin's order."""
    from benchtest import plugin

    group = parser.add_argument_group("bench options (also pytest options)")
    options = cast(pytest.Parser, _OptionsOf(group))
    for name in plugin.pytest_plugins:
        hook = getattr(importlib.import_module(name), "pytest_addoption", None)
        if hook is not None:
            hook(options)


def joined_values(arguments: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """`arguments` with each option of `parser` (one `add_plugin_options` filled) that takes a
    value written as one argument: `--dut PATH` becomes `--dut=PATH`. pytest chooses its
    rootdir and config file from the free arguments before it knows the plugin's options, and
    would count PATH as one (see `benchtest.plugin.rootdir`). Arguments after `--` are left as
    they are."""
    takes_value = {
        name for action in parser._actions if action.nargs != 0 for name in action.option_strings
    }
    joined: list[str] = []
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        if argument == "--":
            return joined + arguments[position:]
        if argument in takes_value and position + 1 < len(arguments):
            joined.append(f"{argument}={arguments[position + 1]}")
            position += 2
        else:
            joined.append(argument)
            position += 1
    return joined
