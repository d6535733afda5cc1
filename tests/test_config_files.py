"""Bench files and DUT profiles: valid ones load; a bad one gets one message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchtest import Bench, ConfigError, DutProfile, MeasurementError, SafetyError
from benchtest.config.bench import SIM_SCHEME


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sim_bench_loads_with_its_roles(sim_bench_text: str, tmp_path: Path) -> None:
    bench = Bench.load(write(tmp_path, "sim.yaml", sim_bench_text))
    roles = ["smu", "scope", "uart", "psu", "dmm", "load", "profiler", "chamber"]
    assert list(bench.roles) == roles
    assert bench.roles["smu"].driver == "keithley.k2450"
    assert bench.simulated_roles == list(bench.roles)
    assert all(r.resource.startswith(SIM_SCHEME) for r in bench.roles.values())
    assert len(bench.sha256) == 64


def test_with_resources_replaces_only_named_roles(sim_bench_text: str, tmp_path: Path) -> None:
    bench = Bench.load(write(tmp_path, "sim.yaml", sim_bench_text))
    real = bench.with_resources({"smu": "TCPIP::127.0.0.1::5025::SOCKET"})
    assert real.roles["smu"].resource == "TCPIP::127.0.0.1::5025::SOCKET"
    assert real.roles["scope"].resource == "sim://scope"
    again = Bench.load(write(tmp_path, "again.yaml", real.to_yaml()))
    assert again.roles["smu"].resource == "TCPIP::127.0.0.1::5025::SOCKET"
    assert again.roles["uart"].options == {"timeout": 2.0}


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            "schema_version: 1\ninstruments: {smu: {driver: keithley.k2450}}",
            "instruments.smu",
            "'resource' is required",
        ),
        (
            "schema_version: 2\ninstruments: {smu: {driver: keithley.k2450, resource: x}}",
            "schema_version",
            "expected schema_version: 1, got 2",
        ),
        (
            "schema_version: 1\ninstruments: {smu: {driver: acme.zap, resource: x}}",
            "instruments.smu.driver",
            "unknown driver 'acme.zap'",
        ),
        (
            "schema_version: 1\ninstruments: {Smu-1: {driver: keithley.k2450, resource: x}}",
            "instruments",
            "role name",
        ),
        (
            "schema_version: 1\ninstruments: {smu: {driver: keithley.k2450, resource: x, baud: 9}}",
            "instruments.smu",
            "'baud' was unexpected",
        ),
        ("schema_version: 1\ninstruments: [smu]", "instruments", "mapping of role name"),
        (
            "schema_version: 1\ninstruments: {smu: {driver: keithley.k2450, resource: [x}}",
            "line 2",
            "not valid YAML",
        ),
        ("- just\n- a list\n", "", "must be a YAML mapping"),
    ],
)
def test_bad_bench_file_names_file_field_and_expectation(
    tmp_path: Path, text: str, field: str, words: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        Bench.load(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert field in message
    assert words in message
    assert "\n" not in message


def test_missing_bench_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: bench file not found"):
        Bench.load(tmp_path / "nope.yaml")


def test_ldo_profile_gives_limits_and_guard(ldo_profile_text: str, tmp_path: Path) -> None:
    dut = DutProfile.load(write(tmp_path, "ldo.yaml", ldo_profile_text))
    assert dut.name == "BT-LDO33"
    iq = dut.parameter("iq_sleep")
    assert (iq.unit, iq.limits.high, iq.limits.low) == ("A", 2.0e-6, None)
    guard = dut.guard_for("smu")
    guard.check("voltage", 5.5)
    with pytest.raises(SafetyError, match=r"vin <= 6 V of BT-LDO33"):
        guard.check("voltage", 7.0)
    with pytest.raises(SafetyError, match=r"iin <= 0.5 A"):
        guard.check("current", 1.0)
    assert dut.guard_for("scope").ratings == ()


def test_unknown_parameter_lists_known_ones(ldo_profile_text: str, tmp_path: Path) -> None:
    dut = DutProfile.load(write(tmp_path, "ldo.yaml", ldo_profile_text))
    with pytest.raises(
        MeasurementError, match=r"'iq_deep' is not in DUT profile BT-LDO33.*iq_sleep"
    ):
        dut.parameter("iq_deep")


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        (
            "    unit: A\n    typ: 1.2e-6",
            "    unit: uA\n    typ: 1.2e-6",
            "parameters.iq_sleep.unit",
            "prefixes belong in the number",
        ),
        (
            "    typ: 45.0e-6\n    max: 60.0e-6",
            "    typ: 45.0e-6\n    max: 40.0e-6",
            "parameters.iq_active",
            "typ (4.5e-05) must not exceed max (4e-05)",
        ),
        (
            "    net: vin\n    min: -0.3",
            "    net: vcore\n    min: -0.3",
            "absolute_maximum.vin.net",
            "net 'vcore' is not listed under nets",
        ),
        ("  family: ldo\n", "", "part", "'family' is required"),
        ("    max: 2.0e-6", "    max: two", "parameters.iq_sleep.max", "expected a number"),
    ],
)
def test_bad_dut_profile_names_file_field_and_expectation(
    ldo_profile_text: str, tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    assert old in ldo_profile_text
    path = write(tmp_path, "bad.yaml", ldo_profile_text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        DutProfile.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}")
    assert words in message


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        (
            "DISCHARGE: {bits: 4,",
            "DISCHARGE: {bits: 3,",
            "debug_port.registers.CTRL.fields.DISCHARGE.bits",
            "bits 3..3 overlap field SOFT_START (bit 3)",
        ),
        (
            "          bits: [1, 0]\n          values: {active: 0, sleep: 1}",
            "          bits: [8, 7]\n          values: {active: 0, sleep: 1}",
            "debug_port.registers.CTRL.fields.MODE.bits",
            "bits 8..7 do not fit the 8-bit register",
        ),
        (
            "          bits: [1, 0]\n          values: {active: 0, sleep: 1}",
            "          bits: [0, 1]\n          values: {active: 0, sleep: 1}",
            "debug_port.registers.CTRL.fields.MODE.bits",
            "msb >= lsb",
        ),
        (
            "PG: {lsb: 0,",
            "PG: {lsb: 9,",
            "debug_port.registers.STATUS.fields.PG.lsb",
            "do not fit the 8-bit register",
        ),
        (
            "PG: {lsb: 0,",
            "PG: {lsb: 0, bits: 0,",
            "debug_port.registers.STATUS.fields.PG",
            "either bits or lsb",
        ),
        (
            "          values: {active: 0, sleep: 1}\n          state: mode",
            "          values: {active: 0, sleep: 4}\n          state: mode",
            "debug_port.registers.CTRL.fields.MODE.values.sleep",
            "0x4 does not fit 2 bit(s)",
        ),
        (
            "      reset: 0x04",
            "      reset: 0x104",
            "debug_port.registers.CTRL.reset",
            "reset value 0x104 does not fit 8 bit(s)",
        ),
        (
            "      address: 0x02",
            "      address: 0x01",
            "debug_port.registers.STATUS.address",
            "address 0x1 is already register CTRL's",
        ),
        (
            "      access: rw",
            "      access: rx",
            "debug_port.registers.CTRL.access",
            "expected an access: rw, ro or wo",
        ),
        (
            "      width: 8\n      access: rw",
            "      width: 0\n      access: rw",
            "debug_port.registers.CTRL.width",
            "a width in bits from 1 to 64",
        ),
        (
            "DISCHARGE: {bits: 4,",
            "DISCHARGE: {",
            "debug_port.registers.CTRL.fields.DISCHARGE",
            "expected a field with bits",
        ),
        ("  registers:\n    ID:", "  registers:\n    1D:", "debug_port.registers", "letters"),
        (
            '    read_register: "reg read {address:#04x}"\n',
            "",
            "debug_port.commands.read_register",
            "is required when the register map has such registers",
        ),
        (
            '"reg read {address:#04x}"',
            '"reg read {addr:#04x}"',
            "debug_port.commands.read_register",
            "expected a template with {address} or {name}",
        ),
        (
            '"reg write {address:#04x} {value:#04x}"',
            '"reg write {address:#04x}"',
            "debug_port.commands.write_register",
            "{address} or {name} and {value}",
        ),
        (
            '"reg read {address:#04x}"',
            '"reg read {address:#04q}"',
            "debug_port.commands.read_register",
            "not a usable command template",
        ),
        (
            'register_reply: "^0x(?P<value>[0-9A-Fa-f]+)$"',
            'register_reply: "^0x([0-9A-Fa-f]+)$"',
            "debug_port.register_reply",
            "expected a (?P<value>...) group",
        ),
        (
            'register_write_reply: "^OK$"',
            'register_write_reply: "^(OK$"',
            "debug_port.register_write_reply",
            "not a valid regular expression",
        ),
    ],
)
def test_bad_register_map_names_file_field_and_expectation(
    ldo_profile_text: str, tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    assert old in ldo_profile_text
    path = write(tmp_path, "bad.yaml", ldo_profile_text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        DutProfile.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}:")
    assert words in message


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup.yaml",
        (
            "schema_version: 1\n"
            "instruments:\n"
            "  smu: {driver: keithley.k2450, resource: a}\n"
            "  scope: {driver: rigol.ds1000z, resource: b}\n"
            "  smu: {driver: keithley.k2450, resource: c}\n"
        ),
    )
    with pytest.raises(
        ConfigError,
        match=r"dup\.yaml: instruments\.smu: 'smu' is given twice in one mapping \(lines 3 and 5\)",
    ):
        Bench.load(path)


def test_unquoted_dates_are_read_as_iso_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cal.yaml",
        (
            "schema_version: 1\n"
            "instruments:\n"
            "  smu: {driver: keithley.k2450, resource: a, calibration_due: 2027-03-31}\n"
        ),
    )
    assert Bench.load(path).roles["smu"].calibration_due == "2027-03-31"
