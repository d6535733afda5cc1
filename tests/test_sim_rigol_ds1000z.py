"""The simulated Rigol DS1000Z over a real PyVISA socket: settings, blocks, limits, ramp."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from benchtest.sim import SimulatedBench
from benchtest.sim.simulators.rigol_ds1000z import RigolDS1000Z
from benchtest.sim.testing import visa_session, wait_until

ROOT = Path(__file__).parents[1]
PROFILE: dict[str, Any] = yaml.safe_load((ROOT / "dut_profiles/bt_ldo33.yaml").read_text())
BENCH: dict[str, Any] = yaml.safe_load((ROOT / "benches/sim.yaml").read_text())
MODEL = PROFILE["model"]


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    with SimulatedBench(PROFILE, BENCH) as sim:
        yield sim


@pytest.fixture
def scope(bench: SimulatedBench) -> Iterator[Any]:
    with visa_session(bench.addresses["scope"], timeout=10) as inst:
        yield inst


@pytest.fixture
def smu(bench: SimulatedBench) -> Iterator[Any]:
    with visa_session(bench.addresses["smu"]) as inst:
        yield inst


def preamble(scope: Any) -> list[float]:
    return [float(field) for field in scope.query(":WAV:PRE?").split(",")]


def read_volts(scope: Any, first: int, last: int) -> npt.NDArray[np.float64]:
    """Points first..last (1-based) in volts, read in chunks of at most 250 000."""
    pre = preamble(scope)
    chunks = []
    for start in range(first, last + 1, 250_000):
        scope.write(f":WAV:STAR {start}")
        scope.write(f":WAV:STOP {min(start + 249_999, last)}")
        chunks.append(scope.query_binary_values(":WAV:DATA?", datatype="B", container=np.array))
    codes = np.concatenate(chunks).astype(np.float64)
    return (codes - pre[8] - pre[9]) * pre[7]


def raw_block(port: int, command: bytes) -> tuple[bytes, bytes]:
    """Send one query on a plain socket; return the block's header and everything after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command + b"\n")
        received = b""
        while len(received) < 11 or len(received) < 11 + int(received[2:11]) + 1:
            received += sock.recv(65536)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            received += sock.recv(10)  # nothing follows the single LF
        return received[:11], received[11:]


def capture_startup(scope: Any, smu: Any, level: float = 0.1) -> None:
    """Arm a single acquisition on the vout rising edge, power the DUT, wait for STOP."""
    for command in (":CHAN1:SCAL 0.5", ":CHAN1:OFFS -1.5", ":TIM:MAIN:SCAL 50e-6",
                    ":TIM:MAIN:OFFS 200e-6", ":TRIG:EDG:SOUR CHAN1", ":TRIG:EDG:SLOP POS",
                    f":TRIG:EDG:LEV {level}", ":ACQ:MDEP 120000", ":SING"):  # fmt: skip
        scope.write(command)
    assert scope.query(":TRIG:STAT?") == "WAIT"
    for command in (":SOUR:FUNC VOLT", ":SOUR:VOLT 5", ":SOUR:VOLT:ILIM 0.01", ":OUTP ON"):
        smu.write(command)
    wait_until(lambda: scope.query(":TRIG:STAT?") == "STOP")


def test_identity_and_error_queue(scope: Any) -> None:
    assert scope.query("*IDN?") == "RIGOL TECHNOLOGIES,DS1104Z,DS1ZA000000001,00.04.04.SP3"
    scope.write(":CHANnel1:BOGus 1")
    scope.write(":CHAN1:SCAL 50")
    assert scope.query(":SYST:ERR?") == '-113,"Undefined header"'
    assert scope.query(":SYSTem:ERRor?") == '-222,"Data out of range"'
    assert scope.query(":SYST:ERR?") == '0,"No error"'


def test_settings_reply_in_the_guides_formats(scope: Any) -> None:
    scope.write(":CHANNEL2:DISPLAY ON")
    scope.write(":CHAN2:SCAL 0.2")
    scope.write(":chan2:coup ac")
    scope.write(":TIMebase:MAIN:SCALe 0.0004")  # rounds to the 1-2-5 step 500 us
    scope.write(":TRIGger:EDGe:SOURce CHANnel2")
    scope.write(":TRIG:EDG:SLOP NEGative")
    scope.write(":TRIG:SWE NORM")
    assert scope.query(":CHAN2:DISP?") == "1"
    assert scope.query(":CHANnel2:SCALe?") == "2.000000e-01"
    assert scope.query(":CHAN2:COUP?") == "AC"
    assert scope.query(":TIM:SCAL?") == "5.000000e-04"
    assert scope.query(":TRIG:EDG:SOUR?") == "CHAN2"
    assert scope.query(":TRIG:EDG:SLOP?") == "NEG"
    assert scope.query(":TRIG:SWE?") == "NORM"
    assert scope.query(":ACQ:MDEP?") == "AUTO"
    assert scope.query(":SYST:ERR?") == '0,"No error"'


def test_normal_preamble_has_ten_fields_and_1200_points(scope: Any) -> None:
    scope.write(":TIM:MAIN:SCAL 1e-3")
    scope.write(":CHAN1:SCAL 0.5")
    scope.write(":WAV:MODE NORM")
    fields = scope.query(":WAV:PREamble?").split(",")
    assert len(fields) == 10
    assert fields[:4] == ["0", "0", "1200", "1"]
    assert float(fields[4]) == pytest.approx(1e-3 / 100)
    assert float(fields[5]) == pytest.approx(-6e-3)
    assert float(fields[7]) == pytest.approx(0.5 / 25)
    assert fields[9] == "127"
    assert scope.query(":WAV:XINC?") == fields[4]


def test_data_block_has_9_digit_header_and_one_lf(bench: SimulatedBench) -> None:
    port = int(bench.addresses["scope"].split("::")[2])
    header, rest = raw_block(port, b":WAV:DATA?")
    assert header == b"#9000001200"
    assert len(rest) == 1200 + 1 and rest.endswith(b"\n")


def test_raw_read_is_limited_to_250000_points(scope: Any, smu: Any) -> None:
    capture_startup(scope, smu)
    scope.write(":WAV:MODE RAW")
    scope.write(":WAV:FORM BYTE")
    assert preamble(scope)[2] == 120_000
    scope.write(":ACQ:MDEP 1200000")  # refused: only while running
    assert scope.query(":SYST:ERR?") == '-221,"Settings conflict"'
    scope.write(":RUN")
    scope.write(":ACQ:MDEP 1200000")
    scope.write(":TIM:MAIN:SCAL 200e-6")  # 1.2 Mpts over 2.4 ms: 500 MSa/s
    scope.write(":STOP")
    assert float(scope.query(":ACQ:SRAT?")) == 5e8
    assert preamble(scope)[2] == 1_200_000
    assert len(read_volts(scope, 1, 250_000)) == 250_000
    scope.write(":WAV:STAR 1")
    scope.write(":WAV:STOP 250001")
    assert len(scope.query_binary_values(":WAV:DATA?", datatype="B")) == 0
    assert scope.query(":SYST:ERR?") == '-222,"Data out of range"'


def test_raw_read_while_running_is_refused(scope: Any) -> None:
    scope.write(":RUN")
    scope.write(":WAV:MODE RAW")
    assert len(scope.query_binary_values(":WAV:DATA?", datatype="B")) == 0
    assert scope.query(":SYST:ERR?") == '-221,"Settings conflict"'


def test_startup_ramp_is_first_order_in_raw_memory(
    bench: SimulatedBench, scope: Any, smu: Any
) -> None:
    capture_startup(scope, smu)
    scope.write(":WAV:SOUR CHAN1")
    scope.write(":WAV:MODE RAW")
    pre = preamble(scope)
    points, xinc, xorigin = int(pre[2]), pre[4], pre[5]
    volts = read_volts(scope, 1, points)
    t = xorigin + np.arange(points) * xinc  # s from the trigger
    assert len(volts) == 120_000
    assert volts[t < -60e-6].max() < 0.05  # flat before the start-up
    assert np.median(volts[t > 450e-6]) == pytest.approx(MODEL["vout_nominal"], abs=0.02)
    # The 63 % point sits startup_delay + startup_tau after power-on.
    scope_sim = bench.simulators["scope"]
    assert isinstance(scope_sim, RigolDS1000Z)
    trigger = scope_sim.acquisition.record(scope_sim.geometry()).t_trigger
    power_on = bench.world.power_on_time
    assert power_on is not None
    t63 = t[np.argmax(volts >= MODEL["vout_nominal"] * (1 - math.exp(-1)))] + trigger - power_on
    assert t63 == pytest.approx(MODEL["startup_delay"] + MODEL["startup_tau"], rel=0.05)
    # First-order shape: log(V - v) falls linearly with slope -1/tau.
    rising = (volts > 0.5) & (volts < 2.8)
    slope = np.polyfit(t[rising], np.log(MODEL["vout_nominal"] - volts[rising]), 1)[0]
    assert -1 / slope == pytest.approx(MODEL["startup_tau"], rel=0.05)


def test_measurements_of_the_startup(scope: Any, smu: Any) -> None:
    capture_startup(scope, smu)
    vmax = float(scope.query(":MEAS:ITEM? VMAX,CHAN1"))
    assert vmax == pytest.approx(3.3, abs=0.03)
    assert float(scope.query(":MEASure:ITEM? VMIN,CHANnel1")) == pytest.approx(0.0, abs=0.03)
    assert float(scope.query(":MEAS:ITEM? VPP,CHAN1")) == pytest.approx(3.3, abs=0.05)
    assert 0 < float(scope.query(":MEAS:ITEM? VAVG,CHAN1")) < 3.3
    rise = float(scope.query(":MEAS:ITEM? RTIMe,CHAN1"))
    assert rise == pytest.approx(MODEL["startup_tau"] * math.log(9), rel=0.05)


def test_rise_time_of_a_flat_trace_is_not_measurable(scope: Any) -> None:
    scope.write(":SING")
    scope.write(":TFORce")
    wait_until(lambda: scope.query(":TRIG:STAT?") == "STOP")
    assert scope.query(":MEAS:ITEM? RTIM,CHAN1") == "9.9E37"
    assert scope.query(":MEAS:ITEM? VMAX,CHAN3") == "9.9E37"  # channel 3 is off


def test_word_and_ascii_formats_carry_the_same_codes(scope: Any, smu: Any) -> None:
    capture_startup(scope, smu)
    scope.write(":WAV:MODE NORM")
    scope.write(":WAV:STAR 1")
    scope.write(":WAV:STOP 1200")
    byte = scope.query_binary_values(":WAV:DATA?", datatype="B", container=np.array)
    scope.write(":WAV:FORM WORD")
    word = scope.query_binary_values(":WAV:DATA?", datatype="H", container=np.array)
    scope.write(":WAV:FORM ASC")
    text = scope.query(":WAV:DATA?")
    assert text.startswith("#9")
    ascii_volts = np.array([float(v) for v in text[11:].split(",")])
    pre = preamble(scope)
    assert np.array_equal(byte, word)
    assert np.allclose((byte - pre[8] - pre[9]) * pre[7], ascii_volts, atol=1e-6)
