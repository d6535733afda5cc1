"""What a run pays at start-up: the plugin's modules registered without an entry-point search
each, PyVISA and the run-file readers left unimported until they are used, and markers looked
up once per parent node at collection."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import benchtest.plugin
from benchtest.plugin.markers import ClosestMarkers

REPO = Path(__file__).resolve().parent.parent


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


def test_an_idle_bench_run_imports_neither_pyvisa_nor_the_run_file_readers(
    pytester: pytest.Pytester,
) -> None:
    """A bench whose instruments are VISA resources in the usual forms, and a plan that never
    opens them: collected without importing PyVISA or `benchtest.results`' readers."""
    pytester.makefile(
        ".yaml",
        bench="schema_version: 1\ninstruments:\n"
        "  smu: {driver: keithley.k2450, resource: 'TCPIP::127.0.0.1::9::SOCKET'}\n"
        "  dmm: {driver: generic.scpi_dmm, resource: 'GPIB0::22::INSTR'}\n"
        "  scope: {driver: rigol.ds1000z, resource: 'TCPIP::10.0.0.7::INSTR'}\n",
    )
    pytester.makeconftest(
        """
        import sys

        WATCHED = ("pyvisa", "benchtest.results.run", "benchtest.results.catalog")

        def pytest_collection_finish(session):
            print("IMPORTED:", *[name for name in WATCHED if name in sys.modules])
        """
    )
    pytester.makepyfile(
        test_plan="""
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_output(n, measure):
            measure("vout", 3.3)
        """
    )
    dut = REPO / "dut_profiles" / "bt_ldo33.yaml"
    done = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--bench", "bench.yaml", f"--dut={dut}", "--co", "-s"
    )
    done.assert_outcomes()  # nothing run, nothing failed
    assert "3 tests collected" in done.stdout.str()
    imported = [line for line in done.outlines if line.startswith("IMPORTED:")]
    assert imported == ["IMPORTED:"], done.stdout.str()


def test_closest_markers_are_the_markers_pytest_finds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.requires("smu")

        @pytest.mark.dut_kind("ldo")
        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.skip), 3])
        def test_function(n):
            pass

        def test_plain():
            pass

        @pytest.mark.requires("scope")
        class TestClass:
            @pytest.mark.parametrize(
                "v", [pytest.param(1, marks=pytest.mark.requires("dmm")), 2]
            )
            def test_method(self, v):
                pass

            @pytest.mark.dut_kind("mcu")
            def test_other(self):
                pass
        """
    )
    items, _ = pytester.inline_genitems(
        "-p", "no:benchtest", "-W", "ignore::pytest.PytestUnknownMarkWarning"
    )
    closest_marker = ClosestMarkers()
    for _ in range(2):  # the second time from what it kept
        for item in items:
            for name in ("requires", "dut_kind", "skip", "retry"):
                assert closest_marker(item, name) is item.get_closest_marker(name), (item, name)
    assert len(items) == 7
    found = [closest_marker(item, "requires") for item in items]
    assert [mark.args for mark in found if mark is not None] == [("smu",)] * 4 + [
        ("dmm",),
        ("scope",),
        ("scope",),
    ]


def test_the_run_file_readers_load_on_first_use() -> None:
    script = textwrap.dedent(
        """
        import sys
        import benchtest.results
        from benchtest.results.lab_catalog import CATALOG_VARIABLE

        print("benchtest.results.run" in sys.modules)
        from benchtest.results import Run, open_run

        print(Run.__module__, open_run.__module__, "Run" in dir(benchtest.results))
        for name in benchtest.results.__all__:
            getattr(benchtest.results, name)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == [
        "False",
        "benchtest.results.run",
        "benchtest.results.run",
        "True",
    ], done.stderr
