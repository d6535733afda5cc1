"""The simulated Siglent scopes over a real socket: each dialect's replies, blocks and registers."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchtest.driver.transport import VisaTransport
from benchtest.sim import LdoModel, SupplyState, World
from benchtest.sim.simulators.siglent_sds1000xe import SiglentSDS1000XE
from benchtest.sim.simulators.siglent_sds2000xp import SiglentSDS2000XPlus
from benchtest.sim.testing import visa_session, wait_until

ROOT = Path(__file__).parents[1]
MODEL = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())["model"]


def world() -> World:
    return World(LdoModel.from_mapping(MODEL))


def raw_reply(port: int, command: bytes, length: int) -> bytes:
    """Send one line on a plain socket and return exactly `length` bytes, checking nothing
    follows them."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command + b"\n")
        received = b""
        while len(received) < length:
            received += sock.recv(length - len(received))
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        return received


def power_up(sim_world: World) -> None:
    sim_world.apply_supply(SupplyState(output=True, function="VOLT", voltage=5.0))


@pytest.fixture
def legacy() -> Iterator[SiglentSDS1000XE]:
    with SiglentSDS1000XE(world(), {1: "vout"}) as sim:
        yield sim


@pytest.fixture
def plus() -> Iterator[SiglentSDS2000XPlus]:
    sim = SiglentSDS2000XPlus(world(), {1: "vout"})
    sim.max_points_per_read = 4000
    with sim:
        yield sim


def codes(transport: VisaTransport, command: str, dtype: str = "i1") -> np.ndarray[Any, Any]:
    """A block read with the project's transport: two LF end every Siglent block."""
    return np.frombuffer(transport.read_block(command), dtype=dtype)


@pytest.fixture
def legacy_visa(legacy: SiglentSDS1000XE) -> Iterator[Any]:
    with visa_session(legacy.address) as inst:
        yield inst


@pytest.fixture
def plus_visa(plus: SiglentSDS2000XPlus) -> Iterator[Any]:
    with visa_session(plus.address) as inst:
        yield inst


# -- SDS1000X-E, legacy set ------------------------------------------------------------------


def test_legacy_replies_carry_header_and_units(legacy_visa: Any) -> None:
    scope = legacy_visa
    assert scope.query("*IDN?").startswith("Siglent Technologies,SDS1104X-E,")
    scope.write("C1:VDIV 0.5")
    scope.write("C1:OFST -0.5")
    scope.write("TDIV 40E-6")  # rounds to the 1-2-5 step 50 us
    scope.write("TRDL 200E-6")
    assert scope.query("CHDR?") == "CHDR SHORT"
    assert scope.query("C1:VDIV?") == "C1:VDIV 5.00E-01V"
    assert scope.query("C1:OFST?") == "C1:OFST -5.00E-01V"
    assert scope.query("TDIV?") == "TDIV 5.00E-05S"
    assert scope.query("TRDL?") == "TRDL 200.000000us"
    assert scope.query("SARA?") == "SARA 20.00MSa/s"  # 14 000 points over 14 x 50 us
    assert scope.query("SANU? C1") == "SANU 14Kpts"
    scope.write("MSIZ 1.4M")
    assert scope.query("SANU? C1") == "SANU 700Kpts"  # 14 x 50 us at the 1 GSa/s maximum
    assert scope.query("TRSE?") == "TRSE EDGE,SR,C1,HT,OFF"
    assert scope.query("C1:TRSL?") == "C1:TRSL POS"
    assert scope.query("CMR?") == "CMR 0"


def test_legacy_command_error_register_latches_the_last_error(legacy_visa: Any) -> None:
    scope = legacy_visa
    scope.write("C1:BOGUS 1")
    assert scope.query("CMR?") == "CMR 1"  # unrecognized header
    assert scope.query("CMR?") == "CMR 0"  # reading cleared it
    scope.write("C1:VDIV 99")
    scope.write("CHDR OFF")  # only the default format is simulated
    assert scope.query("CMR?") == "CMR 11"  # invalid parameter; one register, the last error


def test_legacy_waveform_block_has_the_echo_and_two_lf(legacy: SiglentSDS1000XE) -> None:
    with visa_session(legacy.address) as scope:
        scope.write("WFSU SP,1,NP,70,FP,100")
        assert scope.query("WFSU?") == "WFSU SP,1,NP,70,FP,100"
    reply = raw_reply(legacy.port, b"C1:WF? DAT2", 11 + 11 + 70 + 2)
    assert reply[:22] == b"C1:WF DAT2,#9000000070" and reply[-2:] == b"\n\n"
    codes = np.frombuffer(reply[22:-2], dtype=np.int8)
    # 1 V/div, 0 V offset, a DUT still off: codes of 0 V within the noise
    assert np.abs(codes).max() <= 1


def test_legacy_sparsing_and_the_rest_of_the_record(legacy: SiglentSDS1000XE) -> None:
    scope = VisaTransport.open(legacy.address, block_terminators=2)
    try:
        scope.write("WFSU SP,10,NP,0,FP,0")  # every 10th point of 14 000: 1400
        assert len(codes(scope, "C1:WF? DAT2")) == 1400
        scope.write("WFSU SP,1,NP,0,FP,13990")  # all from point 13 990: the last 10
        assert len(codes(scope, "C1:WF? DAT2")) == 10
    finally:
        scope.close()


def test_legacy_single_acquisition_sets_the_state_register(legacy: SiglentSDS1000XE) -> None:
    with visa_session(legacy.address) as scope:
        for command in ("C1:VDIV 0.5", "C1:OFST -1.5", "TDIV 50E-6", "TRDL 200E-6", "C1:TRLV 0.1"):
            scope.write(command)
        assert scope.query("INR?") == "INR 0"
        scope.write("ARM")
        assert scope.query("INR?") == "INR 8192"  # trigger ready, nothing acquired yet
        assert scope.query("TRMD?") == "TRMD SINGLE"
        power_up(legacy.world)
        wait_until(lambda: scope.query("TRMD?") == "TRMD STOP")
        assert scope.query("INR?") == "INR 1"  # a new signal; reading clears it
        assert scope.query("INR?") == "INR 0"
        assert scope.query("C1:PAVA? PKPK") == "C1:PAVA PKPK,3.30E+00V"
        assert scope.query("C1:PAVA? FREQ") == "C1:PAVA FREQ,****"
        assert scope.query("C2:PAVA? MAX") == "C2:PAVA MAX,****"  # channel 2 is off


# -- SDS2000X Plus, :WAVeform set ------------------------------------------------------------


def test_plus_preamble_is_a_346_byte_wavedesc_with_two_lf(plus: SiglentSDS2000XPlus) -> None:
    with visa_session(plus.address) as scope:
        for command in (":CHAN1:PROB VAL,10", ":CHAN1:SCAL 5", ":CHAN1:OFFS -15", ":TIM:SCAL 50E-6",
                        ":TIM:DEL 200E-6"):  # fmt: skip
            scope.write(command)
        assert scope.query(":CHANnel1:PROBe?") == "1.00E+01"
        assert scope.query("*ESR?") == "0"
    reply = raw_reply(plus.port, b":WAV:PRE?", 11 + 346 + 2)
    assert reply[:11] == b"#9000000346" and reply[-2:] == b"\n\n"
    desc = reply[11:-2]
    assert desc[:8] == b"WAVEDESC"

    def field(fmt: str, offset: int) -> Any:
        return struct.unpack_from(fmt, desc, offset)[0]

    assert field("<i", 0x74) == 10_000  # points: the smallest depth over 10 divisions
    assert field("<f", 0x9C) == pytest.approx(0.5) and field("<f", 0x148) == pytest.approx(10)
    assert field("<f", 0xA0) == pytest.approx(-1.5) and field("<f", 0xA4) == 30
    assert field("<h", 0xAC) == 8 and field("<f", 0xB0) == pytest.approx(5e-8)
    assert field("<d", 0xB4) == pytest.approx(200e-6) and field("<h", 0x144) == 16


@pytest.fixture
def plus_blocks(plus: SiglentSDS2000XPlus) -> Iterator[VisaTransport]:
    transport = VisaTransport.open(plus.address, block_terminators=2)
    yield transport
    transport.close()


def test_plus_data_is_limited_to_maxpoint_per_read(plus_blocks: VisaTransport) -> None:
    scope = plus_blocks
    assert scope.query(":WAV:MAXP?") == "4000"
    assert scope.query(":ACQ:POIN?") == "10000"
    assert len(codes(scope, ":WAV:DATA?")) == 4000
    scope.write(":WAV:STAR 9000")
    scope.write(":WAV:POIN 3000")
    assert len(codes(scope, ":WAV:DATA?")) == 1000
    scope.write(":WAV:STAR 0")
    scope.write(":WAV:INT 10")
    assert len(codes(scope, ":WAV:DATA?")) == 1000


def test_plus_ten_bit_words_and_codes_per_division(plus_blocks: VisaTransport) -> None:
    scope = plus_blocks
    scope.write(":ACQ:RES 10Bits")
    scope.write(":CHAN1:OFFS 0.5")
    scope.write(":WAV:WIDT WORD")
    scope.write(":WAV:POIN 100")
    words = codes(scope, ":WAV:DATA?", "<i2")
    assert len(words) == 100 and np.median(words) == 60  # 0.5 V x 120 codes/div at 1 V/div
    assert struct.unpack_from("<f", scope.read_block(":WAV:PRE?"), 0xA4)[0] == 120


def test_plus_errors_set_the_event_status_register(plus_visa: Any) -> None:
    scope = plus_visa
    scope.write(":CHAN1:PROB 10")  # not the documented `VALue,<x>` form
    assert scope.query("*ESR?") == "16"  # execution error
    scope.write(":CHAN1:BOGUS")
    assert scope.query("*ESR?") == "32"  # command error
    assert scope.query("*ESR?") == "0"


def test_plus_single_run_status_and_measurement(plus: SiglentSDS2000XPlus) -> None:
    with visa_session(plus.address) as scope:
        for command in (":CHAN1:SCAL 0.5", ":CHAN1:OFFS -1.5", ":TIM:SCAL 50E-6",
                        ":TIM:DEL 200E-6", ":TRIG:EDGE:LEV 0.1", ":TRIG:MODE SING"):  # fmt: skip
            scope.write(command)
        assert scope.query(":TRIG:STAT?") == "Ready"
        assert scope.query(":TRIG:MODE?") == "SINGle"
        power_up(plus.world)
        wait_until(lambda: scope.query(":TRIG:STAT?") == "Stop")
        assert scope.query(":MEAS:SIMP:VAL? PKPK") == "****"  # measurements are off
        scope.write(":MEAS ON")
        assert scope.query(":MEAS:SIMP:VAL? PKPK") == "****"  # the item is not shown
        scope.write(":MEAS:SIMP:ITEM PKPK,ON")
        assert float(scope.query(":MEAS:SIMP:VAL? PKPK")) == pytest.approx(3.3, abs=0.05)
        scope.write(":MEAS:SIMP:ITEM PKPK,OFF")
        assert scope.query(":MEAS:SIMP:VAL? PKPK") == "****"
        assert scope.query("*ESR?") == "0"
