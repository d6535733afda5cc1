"""A config file that a bench option's path chose: found at configure time, refused with the fix.

pytest chooses its rootdir and config file from the command line's free arguments before it
has loaded the plugins that declare options. `--dut /elsewhere/part.yaml`, written as two
arguments, is then one more free argument, and the config file nearest to that path can win
over the plans' own: its addopts, markers, testpaths and benchtest settings apply, and the
tests' ids are made relative to another folder. Written as one argument, `--dut=PATH`, pytest
skips it as an option. `benchtest run` writes the plugin's options that way before pytest
reads them (`benchtest.cli.run_options.joined_values`); a run of pytest itself is checked here.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest


def check_rootdir(config: pytest.Config) -> None:
    """Refuse the run when an option's value (`--dut PATH`) gave pytest another config file
    than the free arguments alone give."""
    option = config.option
    if option.inifilename or option.rootdir or hasattr(config, "workerinput"):
        return  # chosen by the user, or by the controller of this site worker
    free = [str(path) for path in getattr(option, "file_or_dir", None) or ()]
    given = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    given += [str(argument) for argument in config.invocation_params.args]
    given = given[: given.index("--")] if "--" in given else given
    values = [
        (name, value)
        for name, value in pairwise(given)
        if name.startswith("--")
        and "=" not in name
        and not value.startswith("-")
        and value not in free
    ]
    if not values:
        return
    expected = _setup_of(config, [argument for argument in given if argument in free])
    chosen = (config.rootpath, config.inipath)
    if expected is None or expected[1] == chosen[1]:
        return  # the same config file (or none either way): only pytest's own ids may differ
    here = config.invocation_params.dir
    steering = [
        (name, value)
        for name, value in values
        if (here / value).exists() and _is_within(here / value, config.rootpath)
    ] or values
    name, value = steering[0]
    raise pytest.UsageError(
        f"benchtest: pytest took its rootdir {config.rootpath} and {_config_file(chosen[1])} "
        f"from `{name} {value}`, read as a test path before the option was known, instead of "
        f"{expected[0]} and {_config_file(expected[1])}; write the option as one argument, "
        f"{name}={value} (or give --rootdir)"
    )


def _setup_of(config: pytest.Config, free: Sequence[str]) -> tuple[Path, Path | None] | None:
    """The rootdir and config file pytest finds for the free arguments `free`, or None when
    this pytest's way of finding them cannot be called (it is not public API)."""
    try:
        from _pytest.config.findpaths import determine_setup

        here, args = config.invocation_params.dir, list(free)
        try:
            found = determine_setup(
                inifile=None,
                override_ini=config.option.override_ini,
                args=args,
                rootdir_cmd_arg=None,
                invocation_dir=here,
            )
        except TypeError:  # pytest < 8.1 takes no override_ini
            found = determine_setup(  # type: ignore[call-arg]
                inifile=None, args=args, rootdir_cmd_arg=None, invocation_dir=here
            )
    except Exception:  # another pytest: the run goes on unchecked
        return None
    return Path(found[0]), None if found[1] is None else Path(found[1])


def _is_within(path: Path, folder: Path) -> bool:
    resolved = path.resolve()
    return folder == resolved or folder in resolved.parents


def _config_file(path: Path | None) -> str:
    return f"config file {path}" if path is not None else "no config file"
