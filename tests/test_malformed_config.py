"""Malformed bench files and DUT profiles: each one is one `ConfigError` naming file and field.

Every variant below is a small change to a valid file (or a file that is not a file at all).
Loading it must raise exactly one `ConfigError` (no other exception, nothing chained), whose
message starts with the file and names the field, and must not take long: the CPU time of
the load is measured, so a busy machine does not make the test fail, but an alias bomb or an
unbounded read does.
"""

from __future__ import annotations

import importlib
import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from as_user import in_a_child_as

from benchtest import Bench, ConfigError, DutProfile
from benchtest.cli.discovery import check_bench
from benchtest.config import files
from benchtest.config.files import MAX_FILE_BYTES, MAX_VALUES
from benchtest.driver.library_profiler import LibraryProfiler
from benchtest.driver.registry import driver_class, driver_names
from benchtest.driver.scpi import ScpiInstrument

REPO = Path(__file__).resolve().parent.parent
DUT_TEXT = (REPO / "dut_profiles" / "bt_ldo33.yaml").read_text(encoding="utf-8")
BENCH_TEXT = """\
schema_version: 1
name: lab bench
instruments:
  smu:
    driver: keithley.k2450
    resource: "TCPIP::192.168.1.20::5025::SOCKET"
    options: {timeout: 5.0}
    calibration_due: 2027-03-31
  load:
    driver: keysight.b2900
    resource: "USB0::0x2A8D::0x9101::MY51140001::INSTR"
    options: {channel: 2}
  uart:
    driver: serial.debug_port
    resource: /dev/ttyUSB0
    options: {baudrate: 115200, timeout: 2.0}
"""

#: CPU seconds one load may take; the slowest valid load takes a few milliseconds.
CPU_BUDGET = 0.5

#: Billion laughs: `a` is nine strings, `b` nine `a`s, ... `i` is 9**9 strings.
LEVELS = [("a", '"lol"')] + [
    (name, f"*{prev}") for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
]
BOMB = "".join(f"{name}: &{name} [{', '.join([item] * 9)}]\n" for name, item in LEVELS)
FLOW_BOMB = (
    "{" + ", ".join(f"{name}: &{name} [{', '.join([item] * 9)}]" for name, item in LEVELS) + "}"
)


@dataclass(frozen=True)
class Variant:
    """One malformed file: how to make it, and what its error must name."""

    kind: str  # "bench" or "dut"
    field: str  # the field the message names right after the file ("" for the file itself)
    words: str  # what the message must say
    old: str = ""  # replaced in the valid file of its kind by `new`...
    new: str = ""
    text: str | bytes | None = None  # ...or the whole content
    make: Callable[[Path], Path] | None = None  # ...or a path made some other way

    def create(self, folder: Path) -> Path:
        if self.make is not None:
            return self.make(folder)
        path = folder / f"{self.kind}.yaml"
        if self.text is not None:
            content = self.text
        else:
            base = BENCH_TEXT if self.kind == "bench" else DUT_TEXT
            assert self.old in base, self.old
            content = base.replace(self.old, self.new, 1)
        if isinstance(content, str):
            content = content.encode("utf-8")
        path.write_bytes(content)
        return path


def bench(old: str, new: str, field: str, words: str) -> Variant:
    return Variant("bench", field, words, old=old, new=new)


def dut(old: str, new: str, field: str, words: str) -> Variant:
    return Variant("dut", field, words, old=old, new=new)


def folder(path: Path) -> Path:
    (path / "bench.yaml").mkdir()
    return path / "bench.yaml"


def pipe(path: Path) -> Path:
    os.mkfifo(path / "bench.yaml")
    return path / "bench.yaml"


def device(path: Path) -> Path:
    (path / "bench.yaml").symlink_to("/dev/zero")
    return path / "bench.yaml"


def loop(path: Path) -> Path:
    (path / "bench.yaml").symlink_to(path / "bench.yaml")
    return path / "bench.yaml"


def under_a_file(path: Path) -> Path:
    (path / "bench.yaml").write_text(BENCH_TEXT, encoding="utf-8")
    return path / "bench.yaml" / "bench.yaml"


def unreadable(path: Path) -> Path:
    (path / "bench.yaml").write_text(BENCH_TEXT, encoding="utf-8")
    (path / "bench.yaml").chmod(0)
    return path / "bench.yaml"


SMU = "instruments.smu"
TIMEOUT = "options: {timeout: 5.0}"
DATE = "calibration_due: 2027-03-31"
VARIANTS = {
    # calendar dates
    "date-feb-30": bench(DATE, "calibration_due: 2027-02-30", f"{SMU}.calibration_due", "date"),
    "date-feb-30-quoted": bench(
        DATE, 'calibration_due: "2027-02-30"', f"{SMU}.calibration_due", "date"
    ),
    "date-month-13": bench(DATE, "calibration_due: 2027-13-01", f"{SMU}.calibration_due", "date"),
    "date-with-time": bench(
        DATE, "calibration_due: 2027-03-31 10:00:00", f"{SMU}.calibration_due", "date"
    ),
    "date-a-number": bench(DATE, "calibration_due: 20270331", f"{SMU}.calibration_due", "date"),
    # keys that are not text
    "key-a-list": bench(
        "  load:\n", "  ? [a, b]\n  : 1\n  load:\n", "instruments", "key must be text, not a list"
    ),
    "key-a-mapping": bench(
        TIMEOUT, "options: {? {a: 1} : 1}", f"{SMU}.options", "key must be text, not a mapping"
    ),
    # a key is the text written (JSON keys are text): `yes:` is the option "yes"
    "key-yes": bench(TIMEOUT, "options: {yes: 1}", f"{SMU}.options", 'got "yes"'),
    "key-a-number": bench(TIMEOUT, "options: {1: 1}", f"{SMU}.options", 'got "1"'),
    "key-null": bench(TIMEOUT, "options: {~: 1}", f"{SMU}.options", 'got "~"'),
    "key-on-twice": bench(TIMEOUT, 'options: {on: 1, "on": 2}', f"{SMU}.options.on", "given twice"),
    "key-tagged": bench(TIMEOUT, "options: {!!binary aGk=: 1}", f"{SMU}.options", "!!binary"),
    "key-twice": bench("  load:\n", "  smu: {}\n  load:\n", "instruments.smu", "given twice"),
    "key-twice-quoted": bench(
        "  load:\n", '  "smu": {}\n  load:\n', "instruments.smu", "given twice"
    ),
    # aliases
    "alias-bomb": Variant("bench", "f", "aliases", text=BENCH_TEXT + BOMB),
    "alias-bomb-in-options": bench(TIMEOUT, f"options: {FLOW_BOMB}", f"{SMU}.options.f", "aliases"),
    "many-values": Variant(
        "bench",
        "extra",
        f"more than {MAX_VALUES} values",
        text=BENCH_TEXT + "extra: [" + "1," * (MAX_VALUES + 10) + "1]\n",
    ),
    "alias-to-itself": bench(
        TIMEOUT, "options: &o {timeout: 5.0, me: *o}", f"{SMU}.options", "contains it"
    ),
    "alias-unknown": bench(TIMEOUT, "options: *nothing", f"{SMU}", "not valid YAML"),
    # timeouts and other numbers
    "timeout-text": bench(TIMEOUT, 'options: {timeout: "5"}', f"{SMU}.options.timeout", "number"),
    "timeout-with-unit": bench(
        TIMEOUT, "options: {timeout: 5 s}", f"{SMU}.options.timeout", "number"
    ),
    "timeout-inf": bench(TIMEOUT, "options: {timeout: .inf}", f"{SMU}.options.timeout", "finite"),
    "timeout-nan": bench(TIMEOUT, "options: {timeout: .nan}", f"{SMU}.options.timeout", "finite"),
    "timeout-negative": bench(TIMEOUT, "options: {timeout: -1}", f"{SMU}.options.timeout", "> 0"),
    "timeout-zero": bench(TIMEOUT, "options: {timeout: 0}", f"{SMU}.options.timeout", "> 0"),
    "timeout-beyond-float": bench(
        TIMEOUT, "options: {timeout: 1.0e+999}", f"{SMU}.options.timeout", "finite"
    ),
    "timeout-1e999": bench(
        TIMEOUT, "options: {timeout: 1e999}", f"{SMU}.options.timeout", "number"
    ),
    "timeout-yes": bench(TIMEOUT, "options: {timeout: yes}", f"{SMU}.options.timeout", "number"),
    "timeout-null": bench(TIMEOUT, "options: {timeout: null}", f"{SMU}.options.timeout", "number"),
    "timeout-a-day": bench(TIMEOUT, "options: {timeout: 86400}", f"{SMU}.options.timeout", "3600"),
    "option-misspelt": bench(TIMEOUT, "options: {timout: 5}", f"{SMU}.options", "timout"),
    "option-of-another-driver": bench(
        TIMEOUT, "options: {channel: 2}", f"{SMU}.options", "channel"
    ),
    "probe-of-no-channel": bench(
        "  load:\n",
        "  scope:\n    driver: rigol.ds1000z\n    resource: 'TCPIP::10.0.0.7::INSTR'\n"
        "    options: {probes: {ch2: {attenuation: 10}}}\n  load:\n",
        "instruments.scope.options.probes",
        "channel number",
    ),
    "probe-of-two-kinds": bench(
        "  load:\n",
        "  scope:\n    driver: rigol.ds1000z\n    resource: 'TCPIP::10.0.0.7::INSTR'\n"
        "    options: {probes: {2: {attenuation: 10, transimpedance: 1}}}\n  load:\n",
        "instruments.scope.options.probes.2",
        "one of",
    ),
    "probe-on-an-smu": bench(
        TIMEOUT, "options: {probes: {2: {attenuation: 10}}}", f"{SMU}.options", "probes"
    ),
    "channel-zero": bench(
        "{channel: 2}", "{channel: 0}", "instruments.load.options.channel", ">= 1"
    ),
    "baudrate-text": bench(
        "baudrate: 115200", "baudrate: fast", "instruments.uart.options.baudrate", "baud"
    ),
    "interval-negative": bench(
        TIMEOUT, "options: {command_interval: -0.1}", f"{SMU}.options.command_interval", ">= 0"
    ),
    "terminators-fraction": bench(
        TIMEOUT, "options: {block_terminators: 1.5}", f"{SMU}.options.block_terminators", "whole"
    ),
    "schema-version-true": bench(
        "schema_version: 1", "schema_version: true", "schema_version", "schema_version: 1"
    ),
    "name-a-number": bench("name: lab bench", "name: 12", "name", "text"),
    "resource-a-number": bench(
        'resource: "TCPIP::192.168.1.20::5025::SOCKET"', "resource: 5025", f"{SMU}.resource", "VISA"
    ),
    "resource-port-too-big": bench("5025::SOCKET", "99999::SOCKET", f"{SMU}.resource", "port"),
    "resource-blank": bench(
        'resource: "TCPIP::192.168.1.20::5025::SOCKET"', 'resource: " "', f"{SMU}.resource", "VISA"
    ),
    "instruments-empty": bench(
        BENCH_TEXT[BENCH_TEXT.index("instruments:") :], "instruments: {}\n", "instruments", "role"
    ),
    # tags that are not plain data
    "tag-python": bench(
        "name: lab bench", 'name: !!python/object/apply:os.system ["true"]', "name", "tag"
    ),
    "tag-binary": bench("name: lab bench", "name: !!binary aGVsbG8=", "name", "tag"),
    "tag-set": bench(TIMEOUT, "options: !!set {timeout}", f"{SMU}.options", "tag"),
    "tag-int-of-text": bench(
        TIMEOUT, "options: {timeout: !!int five}", f"{SMU}.options.timeout", "five"
    ),
    "merge-of-a-scalar": bench(TIMEOUT, "options: {<<: 5}", f"{SMU}.options", "merging"),
    # text that is not YAML, or not a mapping
    "not-utf8": Variant(
        "bench", "name", "UTF-8", text=BENCH_TEXT.encode().replace(b"lab", b"l\xe4b")
    ),
    "nul-byte": Variant("bench", "name", "character", text=BENCH_TEXT.replace("lab", "l\0ab")),
    "tab-indent": bench("    driver: keithley", "\tdriver: keithley", SMU, "line 5"),
    "unclosed-bracket": bench(TIMEOUT, "options: {timeout: 5.0", SMU, "not valid YAML"),
    "two-documents": Variant(
        "bench", "(top level)", "single document", text=BENCH_TEXT + "---\na: 1\n"
    ),
    "nested-40-levels": bench(
        TIMEOUT, "options: {x: " + "[" * 40 + "]" * 40 + "}", f"{SMU}.options.x", "nested deeper"
    ),
    "deep-nesting": bench(
        TIMEOUT, "options: " + "[" * 5000 + "]" * 5000, f"{SMU}.options", "nesting"
    ),
    "a-list": Variant("bench", "(top level)", "must be a YAML mapping", text="- smu\n- scope\n"),
    "a-scalar": Variant("bench", "(top level)", "must be a YAML mapping", text="just text\n"),
    "empty": Variant("bench", "", "empty", text=b""),
    "only-comments": Variant("bench", "", "empty", text="# nothing here\n\n"),
    "huge": Variant("bench", "", "MiB", text=BENCH_TEXT + "#" * (MAX_FILE_BYTES + 10)),
    # not a readable file
    "missing": Variant("bench", "", "not found", make=lambda path: path / "nope.yaml"),
    "a-folder": Variant("bench", "", "folder", make=folder),
    "a-pipe": Variant("bench", "", "not a regular file", make=pipe),
    "a-device": Variant("bench", "", "not a regular file", make=device),
    "symlink-loop": Variant("bench", "", "cannot read", make=loop),
    "under-a-file": Variant("bench", "", "cannot read", make=under_a_file),
    "unreadable": Variant(
        "bench", "", "cannot read bench file: Permission denied", make=unreadable
    ),
    # DUT profiles
    "dut-rating-nan": dut(
        "    max: 6.0\n", "    max: .nan\n", "absolute_maximum.vin.max", "finite"
    ),
    "dut-rating-inf": dut(
        "    max: 6.0\n", "    max: .inf\n", "absolute_maximum.vin.max", "finite"
    ),
    "dut-rating-text": dut(
        "    max: 6.0\n", '    max: "6.0"\n', "absolute_maximum.vin.max", "number"
    ),
    "dut-rating-yes": dut("    max: 6.0\n", "    max: yes\n", "absolute_maximum.vin.max", "number"),
    "dut-part-name-too-long": dut(
        "  name: BT-LDO33\n", "  name: " + "X" * 5000 + "\n", "part.name", "at most 100"
    ),
    "dut-empty-prompt": dut('  prompt: "> "', '  prompt: ""', "debug_port.prompt", "not empty"),
    "dut-parameter-name-too-long": dut(
        "\n  iq_sleep:\n", "\n  i" + "q" * 100 + ":\n", "parameters", "at most 96"
    ),
    "dut-rating-without-max": dut(
        "    min: -0.3\n    max: 6.0\n", "    min: -0.3\n", "absolute_maximum.vin", "max"
    ),
    "dut-limit-beyond-float": dut(
        "    max: 60.0e-6", "    max: 1.0e+999", "parameters.iq_active.max", "finite"
    ),
    "dut-margin-negative": dut(
        "    max: 60.0e-6",
        "    max: 60.0e-6\n    margin: -1.0e-6",
        "parameters.iq_active.margin",
        ">= 0",
    ),
    "dut-condition-nan": dut(
        "{vin: 5.0}", "{vin: .nan}", "parameters.iq_active.conditions.vin", "finite"
    ),
    "dut-condition-huge-integer": dut(
        "{vin: 5.0}", "{vin: 1" + "0" * 400 + "}", "parameters.iq_active.conditions.vin", "large"
    ),
    "dut-rating-huge-integer": dut(
        "    max: 6.0\n", "    max: 1" + "0" * 320 + "\n", "absolute_maximum.vin.max", "large"
    ),
    "dut-parameter-twice": dut(
        "  iq_sleep:\n", "  iq_active: {unit: A}\n  iq_sleep:\n", "parameters.iq_active", "twice"
    ),
    "dut-key-a-list": dut(
        "  iq_sleep:\n",
        "  ? [iq, sleep]\n  : {unit: A}\n  iq_sleep:\n",
        "parameters",
        "key must be text",
    ),
    "dut-baudrate-fraction": dut(
        "baudrate: 115200", "baudrate: 115200.5", "debug_port.baudrate", "baud rate"
    ),
    "dut-baudrate-yes": dut(
        "baudrate: 115200", "baudrate: yes", "debug_port.baudrate", "baud rate"
    ),
    "dut-address-negative": dut(
        "address: 0x03", "address: -3", "debug_port.registers.VTRIM.address", "non-negative"
    ),
    "dut-reset-beyond-float": dut(
        "reset: 0x80", "reset: 1.0e+999", "debug_port.registers.VTRIM.reset", "finite"
    ),
    "dut-sigma-inf": dut(
        "dropout: {sigma: 0.012}", "dropout: {sigma: .inf}", "model.spread.dropout.sigma", "finite"
    ),
    "dut-model-nan": dut("uvlo: 2.5 ", "uvlo: .nan ", "model.uvlo", "finite"),
    "dut-tempco-text": dut(
        "{doubling: 30.0}", "{doubling: thirty}", "model.tempco.iq_sleep.doubling", "degC"
    ),
    "dut-alias-bomb": Variant("dut", "f", "aliases", text=DUT_TEXT + BOMB),
    "dut-tab-indent": dut(
        "    net: vin\n    min: -0.3", "\tnet: vin\n    min: -0.3", "absolute_maximum.vin", "line"
    ),
    "dut-not-utf8": Variant(
        "dut", "part.description", "UTF-8", text=DUT_TEXT.encode().replace(b"UART", b"\xff\xfeRT")
    ),
    "dut-a-list": Variant("dut", "(top level)", "must be a YAML mapping", text="- part\n"),
    "dut-empty": Variant("dut", "", "empty", text=""),
    "dut-huge": Variant("dut", "", "MiB", text=DUT_TEXT + "#" * (MAX_FILE_BYTES + 10)),
    "dut-tag-python": dut("name: BT-LDO33", "name: !!python/name:os.system", "part.name", "tag"),
    "dut-part-name-empty": dut("name: BT-LDO33", 'name: ""', "part.name", "part name"),
}

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


def load_as_nobody(kind: str, path: Path) -> str:
    """The error loading `path` gives a process of user nobody (root reads every file): forked
    from this one, with search permission on the folders above `path` for that moment."""
    opened = [(f, f.stat().st_mode) for f in path.parents if not f.stat().st_mode & stat.S_IXOTH]
    for folder, mode in opened:
        folder.chmod(mode | stat.S_IXOTH)
    try:
        return _in_a_child_as_nobody(kind, path)
    finally:
        for folder, mode in opened:
            folder.chmod(mode)


def _in_a_child_as_nobody(kind: str, path: Path) -> str:
    def step() -> str:
        load(kind, path)
        return "loaded"

    return in_a_child_as(NOBODY, step, lambda exc: f"{type(exc).__name__}: {exc}")


def test_an_unreadable_file_is_one_config_error_for_root_too(tmp_path: Path) -> None:
    path = unreadable(tmp_path)
    if not ROOT:
        pytest.skip("covered by the variants")
    assert load_as_nobody("bench", path) == (
        f"ConfigError: {path}: cannot read bench file: Permission denied"
    )


SKIPS = {"unreadable": pytest.mark.skipif(ROOT, reason="root reads every file: see below")}


def load(kind: str, path: Path) -> object:
    return Bench.load(path) if kind == "bench" else DutProfile.load(path)


def test_the_valid_files_the_variants_start_from_load(tmp_path: Path) -> None:
    (tmp_path / "bench.yaml").write_text(BENCH_TEXT, encoding="utf-8")
    (tmp_path / "dut.yaml").write_text(DUT_TEXT, encoding="utf-8")
    assert list(Bench.load(tmp_path / "bench.yaml").roles) == ["smu", "load", "uart"]
    assert DutProfile.load(tmp_path / "dut.yaml").name == "BT-LDO33"


def test_there_are_at_least_45_variants_of_both_kinds() -> None:
    kinds = [variant.kind for variant in VARIANTS.values()]
    assert len(kinds) >= 45 and kinds.count("dut") >= 20


@pytest.mark.timeout(60)  # an unbounded load fails here instead of hanging the suite
@pytest.mark.parametrize(
    "name", [pytest.param(name, id=name, marks=SKIPS.get(name, ())) for name in VARIANTS]
)
def test_a_malformed_file_is_one_config_error_naming_file_and_field(
    name: str, tmp_path: Path
) -> None:
    variant = VARIANTS[name]
    path = variant.create(tmp_path)
    started = time.thread_time()
    with pytest.raises(ConfigError) as info:
        load(variant.kind, path)
    cpu = time.thread_time() - started
    error = info.value
    message = str(error)
    assert (error.path, error.field) == (str(path), error.field)
    assert error.field.startswith(variant.field), message
    assert message.startswith(f"{path}: {variant.field}"), message
    assert variant.words in message, message
    assert "\n" not in message and len(message) < 600, message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert cpu < CPU_BUDGET, f"{name}: {cpu:.3f} s of CPU"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("common: &common {timeout: 5.0}\n", id="anchor-outside-the-schema"),
    ],
)
def test_unknown_top_level_keys_are_refused_even_as_anchor_holders(
    text: str, tmp_path: Path
) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(BENCH_TEXT + text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bench\.yaml: \(top level\): .*'common'"):
        Bench.load(path)


def test_a_key_is_the_text_written(tmp_path: Path) -> None:
    """YAML 1.1 reads a bare `on`/`off` as true/false; as a key it is the name written."""
    old = "values: {fast: 0, normal: 1, slow: 2}"
    assert old in DUT_TEXT
    path = tmp_path / "dut.yaml"
    path.write_text(DUT_TEXT.replace(old, "values: {off: 0, on: 1, 2: 2}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"SOFT_START\.values: .*letters"):
        DutProfile.load(path)  # "2" is no name, but "off" and "on" are
    path.write_text(DUT_TEXT.replace(old, "values: {off: 0, on: 1}"), encoding="utf-8")
    fields = DutProfile.load(path).data["debug_port"]["registers"]["CTRL"]["fields"]
    assert fields["SOFT_START"]["values"] == {"off": 0, "on": 1}


def test_a_scope_probe_in_the_bench_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    scope = "    options: {probes: {2: {transimpedance: 100}}}\n"
    text = BENCH_TEXT.replace(
        "  load:\n",
        "  scope:\n    driver: rigol.ds1000z\n    resource: 'TCPIP::10.0.0.7::INSTR'\n"
        + scope
        + "  load:\n",
    )
    path.write_text(text, encoding="utf-8")
    assert Bench.load(path).roles["scope"].options == {"probes": {"2": {"transimpedance": 100}}}


def test_yaml_conveniences_still_load(tmp_path: Path) -> None:
    """Anchors, merge keys, quoted text, a BOM and CRLF line ends are plain YAML data."""
    text = (
        "\ufeffschema_version: 1\r\n"
        "instruments:\r\n"
        "  smu: &smu {driver: keithley.k2450, resource: 'TCPIP::h::5025::SOCKET',"
        " options: &fast {timeout: 1.5}, calibration_due: '2028-02-29'}\r\n"
        "  psu: {<<: *smu, driver: rigol.dp800, resource: 'TCPIP::h::5555::SOCKET'}\r\n"
        "  dmm: {driver: generic.scpi_dmm, resource: !!str 'GPIB::7', options: *fast}\r\n"
    )
    path = tmp_path / "bench.yaml"
    path.write_bytes(text.encode("utf-8"))
    bench = Bench.load(path)
    assert bench.roles["psu"].options == {"timeout": 1.5}
    assert bench.roles["psu"].calibration_due == "2028-02-29"
    assert bench.roles["dmm"].options == {"timeout": 1.5}


@pytest.fixture
def listening_instrument() -> tuple[socket.socket, str]:
    """A TCP port that stands for an instrument: whoever connects would be seen."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    yield server, f"TCPIP::127.0.0.1::{port}::SOCKET"  # type: ignore[misc]
    server.close()


def nobody_connected(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


def bench_with_an_smu_at(resource: str, folder: Path) -> Path:
    path = folder / "bench.yaml"
    smu = {"driver": "keithley.k2450", "resource": resource}
    path.write_text(yaml.safe_dump({"schema_version": 1, "instruments": {"smu": smu}}))
    return path


def test_check_touches_no_instrument_before_the_dut_profile_validates(
    listening_instrument: tuple[socket.socket, str], tmp_path: Path
) -> None:
    server, resource = listening_instrument
    bench_path = bench_with_an_smu_at(resource, tmp_path)
    dut_path = VARIANTS["dut-rating-nan"].create(tmp_path)
    with pytest.raises(ConfigError, match=r"absolute_maximum\.vin\.max"):
        check_bench(bench_path, dut_path)
    assert nobody_connected(server)


def test_a_run_touches_no_instrument_before_the_dut_profile_validates(
    listening_instrument: tuple[socket.socket, str], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    server, resource = listening_instrument
    bench_path = bench_with_an_smu_at(resource, tmp_path)
    dut_path = VARIANTS["dut-alias-bomb"].create(tmp_path)
    pytester.makepyfile("def test_smu(smu):\n    smu.identify()\n")
    result = pytester.runpytest("--bench", str(bench_path), "--dut", str(dut_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{dut_path}: f*aliases*"])
    assert nobody_connected(server)


PARSER_VARIANTS = [
    name
    for name in VARIANTS
    if name.startswith(("key-", "alias-", "tag-", "deep-", "two-", "tab-", "not-utf8", "nul-"))
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PARSER_VARIANTS)
def test_the_pure_python_parser_gives_the_same_errors(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyYAML built without libyaml parses in Python: its errors must be as clean."""
    monkeypatch.setattr(files, "_SafeLoader", yaml.SafeLoader)
    monkeypatch.setattr(files, "_Loader", files._plain_loader(yaml.SafeLoader))
    variant = VARIANTS[name]
    path = variant.create(tmp_path)
    with pytest.raises(ConfigError) as info:
        load(variant.kind, path)
    assert str(info.value).startswith(f"{path}: {variant.field}"), str(info.value)


#: Driver options that come from the DUT profile only, never from a bench file.
FROM_THE_DUT_PROFILE = {"register_map"}


def options_the_schema_allows(driver: str) -> set[str]:
    rules = files.schema("bench")["$defs"]["instrument"]["allOf"]
    for rule in rules:
        condition = rule["if"]["properties"]["driver"]
        if driver in condition.get("enum", [condition.get("const")]):
            return set(rule["then"]["properties"]["options"]["propertyNames"]["enum"])
    raise AssertionError(f"the bench schema has no option rule for {driver}")


@pytest.mark.parametrize("driver", driver_names())
def test_the_bench_schema_allows_exactly_the_options_each_driver_takes(driver: str) -> None:
    cls = driver_class(driver)
    if issubclass(cls, ScpiInstrument):
        taken = {*cls._OPTIONS, *cls.driver_options}
    elif issubclass(cls, LibraryProfiler):
        taken = set(cls.driver_options)
    else:  # the debug port
        taken = {"baudrate", *importlib.import_module(cls.__module__).OPTIONS}
    taken -= FROM_THE_DUT_PROFILE
    assert options_the_schema_allows(driver) == taken
    typed = set(files.schema("bench")["$defs"]["options"]["properties"])
    assert taken <= typed
