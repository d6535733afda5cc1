"""The simulated supplies and multimeter over a real PyVISA socket: their dialects and the DUT."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.sim import Journal, LdoModel, World
from benchtest.sim.simulators.rigol_dp800 import RigolDP800
from benchtest.sim.simulators.scpi_dmm import ScpiMultimeter
from benchtest.sim.simulators.siglent_spd3303x import SiglentSPD3303X
from benchtest.sim.testing import visa_session, wait_until

PROFILE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
)


@pytest.fixture
def world() -> World:
    return World(LdoModel.from_mapping(PROFILE["model"]))


@pytest.fixture
def dp832(world: World) -> Iterator[Any]:
    with RigolDP800({2: world}, role="psu") as server, visa_session(server.address) as inst:
        yield inst


@pytest.fixture
def spd(world: World) -> Iterator[Any]:
    with SiglentSPD3303X({1: world}, role="psu") as server, visa_session(server.address) as inst:
        yield inst


def test_dp832_channel_wired_to_vin_powers_the_dut(dp832: Any, world: World) -> None:
    dp832.write(":APPLy CH2,5.0,0.1")
    dp832.write(":OUTPut:STATe CH2,ON")
    assert dp832.query(":OUTPut:STATe? CH2") == "ON" and dp832.query(":OUTP? CH1") == "OFF"
    assert world.powered
    assert dp832.query(":MEASure:VOLTage? CH2") == "5.0000"
    assert dp832.query(":MEAS:CURR? CH2") == "0.0000"  # 45 uA is below the 0.1 mA resolution
    assert dp832.query(":MEASure:ALL? CH2") == "5.0000,0.0000,0.0002"
    dp832.write(":OUTP CH2,OFF")
    assert dp832.query("*OPC?") == "1" and not world.powered


def test_dp832_settings_read_back_in_its_formats(dp832: Any) -> None:
    dp832.write(":APPLy CH1,12.5,1.5")
    assert dp832.query(":APPLy? CH1") == "CH1:30V/3A,12.500,1.5000"
    assert dp832.query(":APPLy? CH1,VOLT") == "12.500"
    dp832.write(":INSTrument:NSELect 3")
    dp832.write(":VOLT 3.3")
    assert dp832.query(":SOURce3:VOLTage?") == "3.300" and dp832.query(":INST?") == "CH3"
    dp832.write(":SOURce1:CURRent 0.25")
    assert dp832.query(":APPLy? CH1,CURRent") == "0.2500"
    assert dp832.query(":SYSTem:ERRor?") == '0,"No error"'


@pytest.mark.parametrize(
    ("command", "code"),
    [(":APPLy CH3,5.5", -222), (":APPLy CH4,1", -224), (":SOURce4:VOLT 1", -114),
     (":OUTP CH1,MAYBE", -224), (":APPL:VOLT 1", -113)],
)  # fmt: skip
def test_dp832_refusals_go_to_the_error_queue(dp832: Any, command: str, code: int) -> None:
    dp832.write(command)
    assert dp832.query(":SYST:ERR?").startswith(f"{code},")


def test_spd_output_state_is_only_in_the_status_word(spd: Any, world: World) -> None:
    assert spd.query("SYSTem:STATus?") == "0x0004"
    spd.write("CH1:VOLTage 5.0")
    spd.write("CH1:CURRent 0.1")
    spd.write("OUTPut CH1,ON")
    spd.write("OUTPut CH3,ON")
    assert spd.query("SYSTem:STATus?") == "0x0014" and world.powered
    assert spd.query("MEASure:VOLTage? CH1") == "5.000"
    assert spd.query("CH1:VOLTage?") == "5.000" and spd.query("CH1:CURRent?") == "0.100"
    spd.write("CH1:CURRent 10e-6")  # below the DUT's quiescent current: constant current
    assert int(spd.query("SYSTem:STATus?"), 16) & 1
    assert spd.query("SYSTem:ERRor?") == "0 No error"


@pytest.mark.parametrize(
    "command",
    [
        "OUTP? CH1",
        "*CLS",
        "*OPC?",
        "CH1:VOL 3",
        "CH3:VOLTage 3",
        "CH1:VOLTage 33",
        "MEAS:VOLT? CH3",
    ],
)
def test_spd_rejects_what_its_command_list_lacks(spd: Any, command: str) -> None:
    spd.write(command)
    code, _, message = spd.query("SYSTem:ERRor?").partition(" ")
    assert int(code) < 0 and message
    assert spd.query("SYSTem:ERRor?") == "0 No error"


def test_dmm_reads_the_net_mapped_to_its_role(world: World) -> None:
    world.apply_supply(world.supply.__class__(output=True, voltage=5.0, current_limit=0.01))
    with ScpiMultimeter(world, "vout") as dmm, visa_session(dmm.address) as inst:
        wait_until(lambda: float(inst.query(":MEAS:VOLT:DC?")) == pytest.approx(3.3))
        reply = inst.query(":MEASure:VOLTage:DC? AUTO")  # the ramp may still be settling
        assert re.fullmatch(r"[+-]\d\.\d{8}E[+-]\d\d", reply), reply
        assert float(reply) == pytest.approx(3.3, rel=1e-5)
        inst.write(":CONFigure:VOLTage:DC 1")
        assert float(inst.query(":READ?")) == 9.9e37  # beyond the 1 V range
        inst.write(":CONF:VOLT 10")
        inst.write(":VOLT:NPLC 0.5")
        assert inst.query(":SENSe:VOLTage:DC:NPLCycles?") == "+1.00000000E+00"  # rounded up
        assert float(inst.query(":READ?")) == pytest.approx(3.3)
        assert float(inst.query(":MEAS:RES?")) == 9.9e37  # open terminals
        assert float(inst.query(":MEAS:CURR? AUTO")) == 0.0  # nothing flows through vout
        inst.write(":MEAS:VOLT:DC? 2000")
        assert inst.query(":SYST:ERR?") == '-222,"Data out of range"'


def test_dmm_on_vin_measures_the_input_current(world: World) -> None:
    world.apply_supply(world.supply.__class__(output=True, voltage=5.0, current_limit=0.01))
    with ScpiMultimeter(world, "vin") as dmm, visa_session(dmm.address) as inst:
        assert float(inst.query(":MEASure:CURRent:DC?")) == pytest.approx(45e-6, rel=0.02)


def test_supply_changes_are_journaled_per_channel(world: World) -> None:
    journal = Journal()
    with (
        SiglentSPD3303X({1: world}, role="psu", journal=journal) as server,
        visa_session(server.address) as inst,
    ):
        inst.write("OUTPut CH2,ON")
        inst.write("OUTPut CH2,OFF")
        assert inst.query("SYSTem:STATus?") == "0x0004"
    events = [(e["role"], e["event"], e["value"]) for e in journal.entries]
    assert events == [("psu", "ch2.output", True), ("psu", "ch2.output", False)]
