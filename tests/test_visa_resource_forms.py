"""The usual forms of VISA resources are read without PyVISA, into exactly what PyVISA reads.

A bench file's resources are checked as it loads, and most benches name their instruments in a
few usual forms (`TCPIP::host::port::SOCKET`, `TCPIP::host::INSTR`, `GPIB::n`, `USB::...`,
`ASRL...`). `benchtest.driver.ownership` reads those itself, so a run whose bench opens no VISA
session never imports PyVISA; every other text goes to PyVISA's parser. These tests hold the
two readers to the same answer over thousands of spellings, good and bad.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from benchtest import Bench, ConfigError
from benchtest.driver.ownership import _pyvisa_parts, _usual_visa_parts, resource_key

USUAL = [
    "TCPIP::10.0.0.5::5025::SOCKET",
    "tcpip0::bench-smu.lab.example::5025::socket",
    "TCPIP1::10.0.0.5::0x13A1::SOCKET",
    "TCPIP::10.0.0.5::INSTR",
    "TCPIP::10.0.0.5",
    "TCPIP0::scope-3::hislip0::INSTR",
    "TCPIP::10.0.0.5::gpib0,5::INSTR",
    "tcpip::h::inst1",
    "GPIB::5",
    "GPIB0::5::INSTR",
    "gpib1::5::96::instr",
    "USB::0x2A8D::0x9101::MY511::INSTR",
    "USB0::10893::37121::my511::0::INSTR",
    "usb::0x0957::0x1796::MY_12.3-4::2",
    "ASRL3::INSTR",
    "ASRL::INSTR",
    "asrl7",
    "ASRL/dev/ttyUSB0::INSTR",
    "ASRL/dev/serial/by-id/usb-FTDI_FT232R_A1B2C3-if00-port0",
]

# Pieces of resources, put together below in every order up to four parts: good and bad
# spellings of each interface, its parts and classes, and their cases.
PREFIXES = ["TCPIP", "tcpip0", "GPIB", "gpib1", "USB", "usb0", "ASRL", "asrl3", "ASRL/dev/ttyS0"]
PARTS = [
    "",
    "h",
    "10.0.0.5",
    "-h",
    "5025",
    "0x2A8D",
    "inst0",
    "hislip1",
    "gpib0,5",
    "MY511",
    "x.y-z",
    "INSTR",
    "socket",
    "raw",
    "intfc",
]
CLASSES = ["", "::INSTR", "::instr", "::SOCKET", "::RAW", "::INTFC"]


def spellings() -> list[str]:
    found = []
    for prefix, count, suffix in itertools.product(PREFIXES, range(4), CLASSES):
        for parts in itertools.product(PARTS, repeat=count):
            found.append(prefix + "".join(f"::{part}" for part in parts) + suffix)
    return found


@pytest.mark.parametrize("resource", USUAL)
def test_the_usual_forms_are_read_without_pyvisa(resource: str) -> None:
    assert _usual_visa_parts(resource) is not None
    assert _usual_visa_parts(resource) == _pyvisa_parts(resource)


def test_what_is_read_without_pyvisa_is_what_pyvisa_reads() -> None:
    read = 0
    for resource in spellings():
        usual = _usual_visa_parts(resource)
        if usual is None:
            continue  # PyVISA's to read (or to refuse)
        read += 1
        try:
            assert _pyvisa_parts(resource) == usual, resource
        except ValueError as exc:
            pytest.fail(f"{resource!r} was read as {usual}, but PyVISA refuses it: {exc}")
    assert read > 1000  # the usual forms are a good part of the spellings


@pytest.mark.parametrize(
    ("resource", "words"),
    [
        ("TCPIP::10.0.0.5::SOCKET", "port part is mandatory"),  # PyVISA's
        ("TCPIP::INSTR", "not enough parts"),
        ("USB::0x2A8D::0x9101::INSTR", "serial_number part is mandatory"),
        ("GPIB::5::6::7::INSTR", "too many parts"),
        ("TCPIP::10.0.0.5::99999::SOCKET", "port 99999 is not between 1 and 65535"),  # ours
        ("TCPIP::10.0.0.5::telnet::SOCKET", "port 'telnet' is not a number"),
        ("USB::0957::0x1796::MY1::INSTR", "manufacturer_id '0957' is not a number"),
    ],
)
def test_a_malformed_resource_is_refused_whichever_reads_it(resource: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        resource_key(resource, resolve=False)


@pytest.mark.parametrize(
    ("resource", "words"),
    [
        ("TCPIP::10.0.0.5::SOCKET", "port part is mandatory"),
        ("TCPIP::10.0.0.5::70000::SOCKET", "port 70000 is not between 1 and 65535"),
        ("FOO::1::INSTR", "unknown interface type"),
    ],
)
def test_a_bench_file_with_a_malformed_visa_resource_is_refused_as_it_loads(
    tmp_path: Path, resource: str, words: str
) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "schema_version: 1\ninstruments:\n"
        "  smu: {driver: keithley.k2450, resource: 'TCPIP::10.0.0.4::5025::SOCKET'}\n"
        f"  dmm: {{driver: generic.scpi_dmm, resource: '{resource}'}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=words) as refused:
        Bench.load(bench)
    assert (refused.value.path, refused.value.field) == (str(bench), "instruments.dmm.resource")
    assert resource in refused.value.problem


def test_two_roles_on_one_instrument_are_refused_however_it_is_written(tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(
        "schema_version: 1\ninstruments:\n"
        "  smu: {driver: keithley.k2450, resource: 'TCPIP0::10.0.0.4::inst0::INSTR'}\n"
        "  dmm: {driver: generic.scpi_dmm, resource: 'tcpip::10.0.0.4'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="both use the instrument") as refused:
        Bench.load(bench)
    assert refused.value.field == "instruments.dmm.resource"
