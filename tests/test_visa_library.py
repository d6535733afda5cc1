"""The VISA library a bench talks through: the bench file's `visa_library` (or a role's own, or
`--visa-library`), pyvisa-sim instrument files as QCoDeS and PyMeasure users write them, and one
clear message, naming the bench file and the field, for each way a library or a resource
cannot be used."""

from __future__ import annotations

import ctypes.util
import re
import sys
from pathlib import Path

import pytest
import pyvisa
from test_run_truth import run  # a pytester run of a plan on a bench

from benchtest.cli.commands import main
from benchtest.cli.discovery import check_bench
from benchtest.config.bench import Bench
from benchtest.driver import visa_library
from benchtest.driver.registry import open_instrument
from benchtest.driver.transport import VisaTransport
from benchtest.driver.visa_library import (
    VisaLibrary,
    VisaLibraryError,
    parse_visa_library,
    resource_manager,
)
from benchtest.values.errors import ConfigError, ConnectionLostError

DMM = "TCPIP::192.168.1.30::INSTR"
INSTRUMENTS = """\
spec: "1.1"
devices:
  dmm:
    eom:
      TCPIP INSTR: {q: "\\n", r: "\\n"}
    error: '-113,"Undefined header"'
    dialogues:
      - q: "*IDN?"
        r: "Keysight Technologies,34461A,MY53001234,A.03.01-02.40"
      - q: "*CLS"
      - q: ":SYSTem:ERRor?"
        r: '+0,"No error"'
      - q: ":MEASure:VOLTage:DC? AUTO"
        r: "+3.30012000E+00"
resources:
  TCPIP::192.168.1.30::INSTR: {device: dmm}
"""


def bench_file(folder: Path, top: str = "", dmm_options: str = "", extra: str = "") -> Path:
    """A bench with a DMM at the address the pyvisa-sim file defines (and `extra` roles)."""
    (folder / "sim").mkdir(exist_ok=True)
    (folder / "sim" / "instruments.yaml").write_text(INSTRUMENTS, encoding="utf-8")
    text = f"schema_version: 1\nname: sim lab\n{top}instruments:\n"
    text += f"  dmm:\n    driver: generic.scpi_dmm\n    resource: '{DMM}'\n{dmm_options}{extra}"
    path = folder / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the setting -------------------------------------------------------------------------------


def test_settings_and_paths_resolved_against_the_bench_folder(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libvisa.so").write_bytes(b"")
    (tmp_path / "sim.yaml").write_text(INSTRUMENTS, encoding="utf-8")
    for setting in ("@py", "@ivi", "@sim"):
        assert parse_visa_library(setting, folder=tmp_path).setting == setting
    assert parse_visa_library("sim.yaml@sim", folder=tmp_path).setting == (
        f"{tmp_path / 'sim.yaml'}@sim"
    )
    assert parse_visa_library("lib/libvisa.so", folder=tmp_path).setting == str(
        tmp_path / "lib" / "libvisa.so"
    )
    assert parse_visa_library("./lib/libvisa.so@ivi", folder=tmp_path).backend == "ivi"
    bare = parse_visa_library("libvisa.so.7", folder=tmp_path)  # the system's library search
    assert bare.setting == "libvisa.so.7" and bare.describe() == "the VISA library libvisa.so.7"


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("'@foo'", "unknown VISA library '@foo'; expected @py (pyvisa-py), @ivi"),
        ("''", "expected a VISA library: @py"),  # the schema's word
        ("missing.yaml@sim", "no pyvisa-sim instrument file"),
        ("notes.txt@sim", "a pyvisa-sim instrument file is a .yaml file"),
        ("lib/nowhere/libvisa.so", "no VISA shared library at"),
        ("'@ivi@ivi'", "unknown VISA library '@ivi@ivi'"),
        ("'lib.so@py'", "unknown VISA library 'lib.so@py'"),
    ],
)
def test_a_bad_setting_names_the_bench_file_and_field(
    tmp_path: Path, setting: str, words: str
) -> None:
    path = bench_file(tmp_path, top=f"visa_library: {setting}\n")
    with pytest.raises(ConfigError, match=re.escape(words)) as info:
        Bench.load(path)
    assert str(info.value).startswith(f"{path}: visa_library: ")


def test_a_bad_setting_of_a_role_names_its_option(tmp_path: Path) -> None:
    path = bench_file(tmp_path, dmm_options="    options: {visa_library: '@foo'}\n")
    with pytest.raises(ConfigError, match="unknown VISA library") as info:
        Bench.load(path)
    assert str(info.value).startswith(f"{path}: instruments.dmm.options.visa_library: ")


def test_a_debug_port_takes_no_visa_library(tmp_path: Path) -> None:
    uart = "  uart:\n    driver: serial.debug_port\n    resource: /dev/ttyUSB0\n"
    uart += "    options: {visa_library: '@py'}\n"
    with pytest.raises(ConfigError, match=r"instruments\.uart\.options"):
        Bench.load(bench_file(tmp_path, extra=uart))


def test_pyvisa_sim_cannot_serve_a_role_of_the_simulated_bench(tmp_path: Path) -> None:
    smu = "  smu:\n    driver: keithley.k2450\n    resource: sim://smu\n"
    path = bench_file(tmp_path, top="visa_library: sim/instruments.yaml@sim\n", extra=smu)
    with pytest.raises(
        ConfigError, match="sim://smu is served by benchtest's simulated bench"
    ) as info:
        Bench.load(path)
    assert str(info.value).startswith(f"{path}: instruments.smu.resource: ")


def test_the_bench_library_reaches_its_visa_roles_and_survives_a_rewrite(tmp_path: Path) -> None:
    own = "  psu:\n    driver: rigol.dp800\n    resource: 'TCPIP::192.168.1.40::5555::SOCKET'\n"
    own += "    options: {visa_library: '@py', timeout: 2.0}\n"
    uart = "  uart:\n    driver: serial.debug_port\n    resource: /dev/ttyUSB0\n"
    path = bench_file(tmp_path, top="visa_library: sim/instruments.yaml@sim\n", extra=own + uart)
    bench = Bench.load(path)
    dmm = bench.roles["dmm"].options["visa_library"]
    assert dmm.setting == f"{tmp_path / 'sim' / 'instruments.yaml'}@sim"
    assert dmm.resource_field == f"{path}: instruments.dmm.resource"
    assert bench.roles["psu"].options["visa_library"].setting == "@py"
    assert "visa_library" not in bench.roles["uart"].options  # pyserial, not VISA
    # written elsewhere (as a run does for the simulator), it still names the same files
    elsewhere = tmp_path / "copy" / "bench.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(bench.to_yaml(), encoding="utf-8")
    again = Bench.load(elsewhere)
    assert again.roles["dmm"].options["visa_library"].setting == dmm.setting
    psu = again.roles["psu"].options
    assert psu["visa_library"].setting == "@py" and psu["timeout"] == 2.0
    assert psu["visa_library"].field == "instruments.psu.options.visa_library"  # still its own


def test_the_command_line_replaces_the_bench_library_but_not_a_roles_own(tmp_path: Path) -> None:
    own = "  psu:\n    driver: rigol.dp800\n    resource: 'TCPIP::192.168.1.40::5555::SOCKET'\n"
    own += "    options: {visa_library: '@py'}\n"
    bench = Bench.load(bench_file(tmp_path, top="visa_library: '@ivi'\n", extra=own))
    chosen = bench.with_visa_library(str(tmp_path / "sim" / "instruments.yaml") + "@sim")
    assert chosen.roles["dmm"].options["visa_library"].backend == "sim"
    assert chosen.roles["dmm"].options["visa_library"].field == "--visa-library"
    assert chosen.roles["psu"].options["visa_library"].setting == "@py"
    with pytest.raises(ConfigError, match=r"^--visa-library: unknown VISA library '@foo'"):
        bench.with_visa_library("@foo")


# -- a pyvisa-sim bench, as QCoDeS and PyMeasure users have one ---------------------------------


def test_check_identifies_and_a_driver_measures_a_pyvisa_sim_instrument(tmp_path: Path) -> None:
    path = bench_file(tmp_path, top="visa_library: sim/instruments.yaml@sim\n")
    bench, results = check_bench(path)
    assert [(r.role, r.ok, r.identity) for r in results] == [
        ("dmm", True, "Keysight Technologies,34461A,MY53001234,A.03.01-02.40")
    ]
    dmm = open_instrument("generic.scpi_dmm", DMM, role="dmm", **bench.roles["dmm"].options)
    try:
        assert dmm.measure_voltage_dc() == pytest.approx(3.30012)  # type: ignore[attr-defined]
    finally:
        dmm.close()


def test_a_resource_the_pyvisa_sim_file_lacks_is_named_with_its_field(tmp_path: Path) -> None:
    ghost = "  ghost:\n    driver: generic.scpi_dmm\n    resource: ASRL4::INSTR\n"
    path = bench_file(tmp_path, top="visa_library: sim/instruments.yaml@sim\n", extra=ghost)
    _, results = check_bench(path)
    problem = {r.role: r.problem for r in results}["ghost"]
    assert problem.startswith("[ghost] cannot open ASRL4::INSTR: pyvisa-sim defines no such")
    assert f"{path}: instruments.ghost.resource" in problem
    assert "TCPIP0::192.168.1.30::inst0::INSTR" in problem  # what it does define
    assert "VISA library: pyvisa-sim (@sim, " in problem


def test_benchtest_check_takes_the_library_on_its_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bench_file(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative --visa-library is the working folder's
    assert main(["check", str(path), "--visa-library", "sim/instruments.yaml@sim"]) == 0
    assert "Keysight Technologies,34461A" in capsys.readouterr().out
    assert main(["check", str(path), "--visa-library", "@foo"]) == 2
    assert "benchtest check: --visa-library: unknown VISA library '@foo'" in capsys.readouterr().err


def test_a_run_takes_the_library_on_its_command_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "sim").mkdir()
    (pytester.path / "sim" / "instruments.yaml").write_text(INSTRUMENTS, encoding="utf-8")
    bench = "schema_version: 1\nname: sim lab\ninstruments:\n  dmm:\n"
    bench += f"    driver: generic.scpi_dmm\n    resource: '{DMM}'\n"
    plan = (
        "def test_reads_the_dmm(dmm, measure):\n"
        "    measure('v', dmm.measure_voltage_dc(), unit='V', low=3.2, high=3.4)\n"
    )
    result, _ = run(pytester, bench, "--visa-library", "sim/instruments.yaml@sim", plan=plan)
    result.assert_outcomes(passed=1)


# -- a library that cannot be loaded -----------------------------------------------------------


def located(setting: str) -> VisaLibrary:
    return VisaLibrary(setting, path="bench.yaml", field="visa_library")


def test_no_ivi_library_installed() -> None:
    from pyvisa.ctwrapper import IVIVisaLibrary

    if IVIVisaLibrary.get_library_paths():
        pytest.skip("an IVI VISA library is installed on this machine")
    with pytest.raises(VisaLibraryError) as info:
        resource_manager(located("@ivi"))
    assert str(info.value) == (
        "bench.yaml: visa_library: no IVI VISA library is installed (NI-VISA or Keysight IO "
        "Libraries); install one, or use @py (pyvisa-py)"
    )


def test_a_shared_library_that_is_gone_or_not_visa(tmp_path: Path) -> None:
    with pytest.raises(VisaLibraryError, match=r"^bench\.yaml: visa_library: cannot load the VISA"):
        resource_manager(located(str(tmp_path / "libvisa.so")))  # deleted since the bench loaded
    libc = ctypes.util.find_library("c")
    if libc is None or sys.platform == "win32":
        pytest.skip("no C library to load by name")
    with pytest.raises(
        VisaLibraryError, match=re.escape(f"bench.yaml: visa_library: {libc} is not a VISA")
    ):
        resource_manager(located(libc))


def test_pyvisa_sim_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyvisa_sim", None)  # import pyvisa_sim fails
    monkeypatch.delitem(pyvisa.highlevel._WRAPPERS, "sim", raising=False)
    monkeypatch.setattr(visa_library, "_managers", {})
    with pytest.raises(VisaLibraryError) as info:
        resource_manager(located("@sim"))
    assert str(info.value) == (
        "bench.yaml: visa_library: pyvisa-sim is not installed: pip install 'benchtest[pyvisa-sim]'"
    )


def test_an_unreadable_pyvisa_sim_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: '1.1'\ndevices: [\n", encoding="utf-8")
    with pytest.raises(
        VisaLibraryError,
        match=re.escape(f"bench.yaml: visa_library: pyvisa-sim cannot read {broken}: "),
    ):
        resource_manager(located(f"{broken}@sim"))


def test_one_resource_manager_per_library_and_process(tmp_path: Path) -> None:
    (tmp_path / "sim.yaml").write_text(INSTRUMENTS, encoding="utf-8")
    setting = f"{tmp_path / 'sim.yaml'}@sim"
    manager = resource_manager(setting)
    assert resource_manager(VisaLibrary(setting)) is manager
    manager.close()  # closed by someone: the next one asked for is open
    again = resource_manager(setting)
    assert again.list_resources("?*") == ("TCPIP0::192.168.1.30::inst0::INSTR",)


def test_a_resource_pyvisa_py_cannot_open_names_field_and_library() -> None:
    library = VisaLibrary(
        "@py", path="bench.yaml", resource_field="bench.yaml: instruments.scope.resource"
    )
    usb = "USB0::0x1AB1::0x04CE::DS1ZA000000001::INSTR"
    with pytest.raises(ConnectionLostError) as info:
        VisaTransport.open(usb, role="scope", timeout=0.5, visa_library=library)
    said = str(info.value)
    assert said.startswith(f"[scope] cannot open {usb}: ")
    assert said.endswith("[bench.yaml: instruments.scope.resource; VISA library: pyvisa-py (@py)]")
    if "PyUSB" in said:  # pyvisa-py without pyusb: how to get it
        assert "pip install 'benchtest[usb]'" in said


def test_a_session_opened_elsewhere_is_opened_again_through_its_own_library(
    tmp_path: Path,
) -> None:
    (tmp_path / "sim.yaml").write_text(INSTRUMENTS, encoding="utf-8")
    manager = resource_manager(f"{tmp_path / 'sim.yaml'}@sim")
    resource = manager.open_resource(DMM, read_termination="\n", write_termination="\n")
    transport = VisaTransport(resource, role="dmm")
    try:
        transport.resync()  # pyvisa-sim has no device clear: closed and opened again
        assert transport._resource is not resource
        assert transport._resource.visalib is resource.visalib
        assert transport.query("*IDN?").startswith("Keysight Technologies,34461A")
    finally:
        transport.close()
