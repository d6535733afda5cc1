"""What a run pays at start-up: the plugin's modules registered without an entry-point search
each, and PyVISA left unimported until a VISA session is opened."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import benchtest.plugin


def test_plugin_modules_registered_in_order_without_entry_point_searches(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[str | None] = []
    search = pytest.PytestPluginManager.load_setuptools_entrypoints

    def counted(self: pytest.PytestPluginManager, group: str, name: str | None = None) -> Any:
        searched.append(name)
        return search(self, group, name)

    monkeypatch.setattr(pytest.PytestPluginManager, "load_setuptools_entrypoints", counted)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    config = pytester.parseconfig()

    ours = [name for name in searched if name is not None and name.startswith("benchtest")]
    assert ours == []  # pytest's one search for plugins found the package; nothing per module
    registered = [name for name, _ in config.pluginmanager.list_name_plugin()]
    listed = benchtest.plugin.pytest_plugins
    assert [name for name in registered if name in listed] == listed  # in the listed order
    assert config.pluginmanager.get_plugin("benchtest") is benchtest.plugin


def test_a_bench_without_visa_resources_does_not_import_pyvisa(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "schema_version: 1\ninstruments:\n  smu: {driver: keithley.k2450, resource: sim://smu}\n",
        encoding="utf-8",
    )
    script = textwrap.dedent(
        f"""
        import sys
        from benchtest.config.bench import Bench
        from benchtest.driver.registry import driver_class
        from benchtest.driver.transport import VisaTransport

        bench = Bench.load({str(bench)!r})
        driver_class(bench.roles["smu"].driver)
        print("pyvisa" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False"], done.stderr


def test_transport_reaches_pyvisa_once_it_is_used() -> None:
    import pyvisa
    from pyvisa.constants import StatusCode

    from benchtest.driver import transport

    assert getattr(transport, "pyvisa").VisaIOError is pyvisa.VisaIOError  # noqa: B009
    assert getattr(transport, "constants").StatusCode is StatusCode  # noqa: B009
    codes = transport._codes()
    assert StatusCode.success in codes.ended and StatusCode.error_timeout not in codes.ended
    warnings = (StatusCode.success_max_count_read, StatusCode.success_device_not_present)
    assert codes.chunk_warnings == warnings
    assert StatusCode.error_connection_lost in codes.lost
    assert StatusCode.error_timeout not in codes.lost
