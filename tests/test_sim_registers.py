"""The simulated firmware's registers: built from the profile's map, tied to the simulated world.

Command lines are parsed from the profile's templates; fields with a `state` read and write the
World, so the debug-port driver can put the DUT to sleep through CTRL and the SMU sees it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.sim import LdoModel, SimulatedBench, SupplyState, World
from benchtest.sim.models.register_file import CommandTemplate
from benchtest.sim.simulators.debug_port import Firmware, PortConfig
from benchtest.sim.testing import visa_session
from benchtest.values.errors import SimulatorError
from instruments.serial.debug_port import SerialDebugPort

ROOT = Path(__file__).resolve().parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles" / "bt_ldo33.yaml").read_text())


def make_firmware(section: dict[str, Any] = PROFILE["debug_port"]) -> tuple[Firmware, World]:
    world = World(LdoModel.from_mapping(PROFILE["model"]))
    world.apply_supply(SupplyState(output=True, voltage=5.0, current_limit=0.01))
    return Firmware(world, PortConfig.from_mapping(section)), world


def reply(firmware: Firmware, line: str) -> str:
    return firmware.respond(line).decode().removesuffix("\r\n> ")


@pytest.mark.parametrize(
    ("template", "line", "values"),
    [
        ("reg read {address:#04x}", "reg read 0x1F", {"address": 0x1F}),
        ("reg read {address:#04x}", "reg read 1f", {"address": 0x1F}),
        ("reg  write {address:#x} {value:#x}", "reg write 0x2 0xab", {"address": 2, "value": 0xAB}),
        ("poke {name} = {value:d}", "poke PWR_CR = 515", {"name": "PWR_CR", "value": 515}),
        ("rd {address:o}", "rd 0o17", {"address": 15}),
        ("bit {address:b}", "bit 101", {"address": 5}),
        ("reg read {address:#04x}", "reg read 0xZZ", None),
        ("reg read {address:#04x}", "reg read", None),
    ],
)
def test_command_template_read_backwards(
    template: str, line: str, values: dict[str, Any] | None
) -> None:
    assert CommandTemplate.compile(template).parse(line) == values


def test_registers_start_at_their_reset_values_and_answer_in_the_reply_format() -> None:
    firmware, _ = make_firmware()
    assert reply(firmware, "reg read 0x00") == "0x32"
    assert reply(firmware, "reg read 0x03") == "0x80"
    assert reply(firmware, "reg   read 0x01") == "0x04"  # spacing as the console normalises it


def test_ctrl_mode_and_the_mode_command_drive_the_same_world_state() -> None:
    firmware, world = make_firmware()
    assert reply(firmware, "reg write 0x01 0x05") == "OK"
    assert world.mode == "sleep"
    assert reply(firmware, "mode") == "sleep"
    assert reply(firmware, "reg read 0x02") == "0x03"  # STATUS: PG=1, MODE=sleep
    assert reply(firmware, "mode active") == "OK"
    assert reply(firmware, "reg read 0x01") == "0x04"  # the other CTRL bits kept
    assert reply(firmware, "reg read 0x02") == "0x01"


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("reg write 0x02 0x00", "ERR register STATUS is read-only"),
        ("reg read 0x04", "ERR register FAULT_CLEAR is write-only"),
        ("reg read 0x42", "ERR no register at 0x42"),
        ("reg write 0x42 0x01", "ERR no register at 0x42"),
        ("reg write 0x01 0x1ff", "ERR 0x1ff does not fit 8 bit(s) (0..0xff)"),
        ("reg write 0x01 0x07", "ERR CTRL.MODE: 3 names no power mode (active=0, sleep=1)"),
    ],
)
def test_refused_accesses_answer_an_error_line_and_change_nothing(line: str, error: str) -> None:
    firmware, world = make_firmware()
    assert reply(firmware, line) == error
    assert (world.mode, reply(firmware, "reg read 0x01")) == ("active", "0x04")


def test_status_reports_no_power_good_without_supply_and_a_power_cycle_resets() -> None:
    firmware, world = make_firmware()
    assert reply(firmware, "reg write 0x03 0x90") == "OK"
    world.apply_supply(SupplyState(output=False))
    assert reply(firmware, "reg read 0x02") == "0x00"
    world.apply_supply(SupplyState(output=True, voltage=5.0, current_limit=0.01))
    assert reply(firmware, "reg read 0x03") == "0x80"


def test_a_generic_map_by_name_in_decimal_is_served_from_the_profile_alone() -> None:
    mode = {"bits": [31, 30], "values": {"active": 1, "sleep": 2}, "state": "mode"}
    section: dict[str, Any] = {
        "prompt": "> ",
        "commands": {"read_register": "get {name}", "write_register": "set {name} {value:d}"},
        "register_reply": r"^(?P<value>\d+)$",
        "register_radix": 10,
        "registers": {
            "PMODE": {"address": 0x4000_7000, "width": 32, "access": "rw", "reset": 7},
        },
    }
    section["registers"]["PMODE"]["fields"] = {"M": mode}
    firmware, world = make_firmware(section)
    assert reply(firmware, "get PMODE") == str(7 | 1 << 30)
    assert reply(firmware, f"set PMODE {2 << 30}") == "OK"
    assert world.mode == "sleep"
    assert reply(firmware, "get NOPE") == "ERR no register at NOPE"


@pytest.mark.parametrize(
    ("field", "words"),
    [
        (
            {"bits": 0, "state": "temperature"},
            "no state 'temperature' (mode, power_good, reset_cause)",
        ),
        ({"bits": [1, 0], "values": {"active": 0}, "state": "mode"}, "needs values for active"),
    ],
)
def test_a_field_tied_to_an_unknown_or_unusable_state_stops_the_simulator(
    field: dict[str, Any], words: str
) -> None:
    section = copy.deepcopy(PROFILE["debug_port"])
    section["registers"]["CTRL"]["fields"] = {"X": field}
    with pytest.raises(SimulatorError, match=r"registers\.CTRL\.fields\.X\.state") as info:
        make_firmware(section)
    assert words in str(info.value)


def test_a_bad_register_map_is_a_simulator_error_naming_the_field() -> None:
    section = copy.deepcopy(PROFILE["debug_port"])
    section["registers"]["CTRL"]["reset"] = 0x100
    with pytest.raises(SimulatorError, match=r"debug_port.registers.CTRL.reset: reset value"):
        PortConfig.from_mapping(section)


def test_sleep_through_the_ctrl_register_lowers_the_current_the_smu_measures() -> None:
    bench = {
        "instruments": {
            "smu": {"driver": "keithley.k2450", "resource": "sim://smu"},
            "uart": {"driver": "serial.debug_port", "resource": "sim://uart"},
        }
    }
    with SimulatedBench(PROFILE, bench) as sim:
        options = SerialDebugPort.profile_options(PROFILE)
        uart = SerialDebugPort.open(sim.addresses["uart"], role="uart", **options)
        with uart, visa_session(sim.addresses["smu"]) as smu:
            smu.write(":SOUR:VOLT 5;:SOUR:VOLT:ILIM 0.01;:OUTP ON")
            assert float(smu.query(":READ?")) == pytest.approx(45e-6, rel=0.02)
            assert uart.read_field("STATUS", "PG") == 1
            uart.write_field("CTRL", "MODE", "sleep")
            assert float(smu.query(":READ?")) == pytest.approx(1.2e-6, rel=0.02)
            assert uart.read_field("STATUS", "MODE") == 1
            assert uart.read_register("CTRL") == 0x05
            assert uart.command("mode") == "sleep"
            smu.write(":OUTP OFF")
