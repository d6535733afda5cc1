"""A GPIB instrument behind a Prologix adapter is reached without VISA: a bench's
`visa_library` passes it by, and one given to it alone is refused, naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from benchtest.config.bench import LIBRARY_OPTION, Bench
from benchtest.driver.prologix import PrologixTransport
from benchtest.driver.registry import open_instrument
from benchtest.sim.models.load import OpenCircuit
from benchtest.sim.simulators.keithley2400 import Keithley2400
from benchtest.sim.simulators.prologix import PrologixAdapter
from benchtest.values.errors import ConfigError, InstrumentError


def bench_file(
    folder: Path, smu: dict[str, object], *, top: dict[str, object] | None = None
) -> Path:
    path = folder / "bench.yaml"
    data = {
        "schema_version": 1,
        **(top or {}),
        "instruments": {
            "smu": {"driver": "keithley.k2400", **smu},
            "dmm": {"driver": "generic.scpi_dmm", "resource": "TCPIP::192.168.1.20::5025::SOCKET"},
        },
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("resource", ["prologix://192.168.1.50/24", "sim://smu?gpib=24"])
def test_a_prologix_role_with_its_own_visa_library_is_refused(
    tmp_path: Path, resource: str
) -> None:
    path = bench_file(tmp_path, {"resource": resource, "options": {LIBRARY_OPTION: "@ivi"}})
    with pytest.raises(ConfigError) as refused:
        Bench.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: instruments.smu.options.visa_library: ")
    assert f"role 'smu' is a GPIB instrument behind a Prologix adapter ({resource})" in message
    assert "remove visa_library from this role" in message


@pytest.mark.parametrize("resource", ["prologix://192.168.1.50/24", "sim://smu?gpib=24"])
def test_the_bench_library_passes_a_prologix_role_by(tmp_path: Path, resource: str) -> None:
    path = bench_file(tmp_path, {"resource": resource}, top={LIBRARY_OPTION: "@ivi"})
    bench = Bench.load(path)
    assert LIBRARY_OPTION not in bench.roles["smu"].options
    assert bench.roles["dmm"].options[LIBRARY_OPTION].setting == "@ivi"  # a VISA role takes it
    again = Bench.load(path).with_visa_library("@py")  # the command line's, likewise
    assert LIBRARY_OPTION not in again.roles["smu"].options
    assert again.roles["dmm"].options[LIBRARY_OPTION].setting == "@py"
    assert LIBRARY_OPTION not in again.to_mapping()["instruments"]["smu"].get("options", {})


def test_a_driver_opened_behind_an_adapter_with_a_visa_library_is_refused() -> None:
    with PrologixAdapter({24: Keithley2400(OpenCircuit())}) as adapter:
        address = adapter.address_of(24)
        with pytest.raises(InstrumentError) as refused:
            open_instrument("keithley.k2400", address, role="smu", visa_library="@ivi")
        assert re.search(
            r"^\[smu\] visa_library '@ivi' does not apply to prologix://", str(refused.value)
        )
        assert "not through a VISA library" in str(refused.value)
        with pytest.raises(InstrumentError, match="does not apply"):
            PrologixTransport.open(address, visa_library="@py")
        transport = PrologixTransport.open(address, role="smu", timeout=2.0, block_terminators=1)
        try:  # without one, the options a VISA transport takes are all accepted
            assert transport.query("*IDN?").startswith("KEITHLEY INSTRUMENTS")
        finally:
            transport.close()
