"""The simulated B2900 takes each sweep point's reading `:TRIGger:ACQuire:DELay` after the point's
trigger (real timing), as the B2900's ARM-TRIGGER model does; timer acquisitions likewise.

Times are checked as lower bounds, so a loaded machine cannot fail them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from benchtest.driver.registry import open_instrument
from benchtest.sim.models.load import OpenCircuit, SupplyState
from benchtest.sim.server.timing import REAL
from benchtest.sim.simulators.keysight_b2900 import KeysightB2900
from benchtest.sim.testing import visa_session

SETTLE = 0.08  # s: the load draws its current this long after each source change
DRAWN = 1e-3  # A
DELAY = 0.1  # s, the acquire delay: past SETTLE


class SettlingLoad(OpenCircuit):
    """Draws nothing until SETTLE after each change of the source, then DRAWN."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = time.monotonic()

    def apply_supply(self, state: SupplyState) -> None:
        super().apply_supply(state)
        self.changed = time.monotonic()

    def input_current(self) -> float:
        return DRAWN if time.monotonic() - self.changed >= SETTLE else 0.0


@pytest.fixture
def b2900() -> Iterator[KeysightB2900]:
    server = KeysightB2900(SettlingLoad())
    server.use_timing(REAL)
    with server:
        yield server


def test_a_driver_sweep_reads_each_point_after_the_acquire_delay(b2900: KeysightB2900) -> None:
    smu = open_instrument("keysight.b2900", b2900.address, role="smu")
    try:
        result = smu.sweep_voltage([1.0, 1.1, 1.2], current_limit=0.01, delay=DELAY, nplc=0.01)
        assert b2900.trigger_delay["ACQ"] == DELAY
        assert result.measured.tolist() == [DRAWN] * 3  # every reading after the load settled
    finally:
        smu.close()


def swept(smu: Any, elements: str, *settings: str) -> tuple[list[float], list[float]]:
    """A 3-point staircase from 1 V to 2 V, current measured at 0.01 NPLC, with `settings`
    sent last: the two `elements` of each point, as `:FETCh:ARRay?` answers them."""
    for command in (
        ":SOUR1:FUNC:MODE VOLT", ":SOUR1:VOLT:MODE SWE", ":SOUR1:VOLT:STAR 1",
        ":SOUR1:VOLT:STOP 2", ":SOUR1:SWE:POIN 3", ":TRIG1:COUN 3", ':SENS1:FUNC "CURR"',
        ":SENS1:CURR:NPLC 0.01", f":FORM:ELEM:SENS {elements}", *settings, ":INIT (@1)",
    ):  # fmt: skip
        smu.write(command)
    assert smu.query("*OPC?") == "1"
    values = [float(v) for v in smu.query(":FETC:ARR? (@1)").split(",")]
    assert smu.query(":SYST:ERR?") == '+0,"No error"'
    return values[0::2], values[1::2]


def test_each_point_is_measured_the_acquire_delay_after_its_trigger(b2900: KeysightB2900) -> None:
    with visa_session(b2900.address) as smu:
        currents, times = swept(smu, "CURR,TIME", ":TRIG1:ACQ:DEL 0.1")
        assert float(smu.query(":TRIG1:ACQ:DEL?")) == DELAY
        assert float(smu.query(":TRIG1:TRAN:DEL?")) == 0.0  # the other device action's own
    assert currents == [DRAWN] * 3  # each reading after the load settled
    assert all(b - a >= DELAY for a, b in itertools.pairwise(times))


def test_the_all_layer_sets_both_delays_and_the_source_changes_the_transient_delay_late(
    b2900: KeysightB2900,
) -> None:
    with visa_session(b2900.address) as smu:
        smu.write(":TRIG1:ALL:DEL 0.05")
        assert smu.query("*OPC?") == "1"
        assert b2900.trigger_delay == {"ACQ": 0.05, "TRAN": 0.05}
        # The acquire delay 0: the reading still waits for the source change.
        times, sourced = swept(smu, "SOUR,TIME", ":TRIG1:ACQ:DEL 0")  # TIME comes before SOUR
    assert sourced == [1.0, 1.5, 2.0]
    assert all(b - a >= 0.05 for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(
    ("setting", "reply"),
    [("MAX", 1e5), ("MIN", 0.0), ("DEF", 0.0), ("2.5", 2.5)],
)
def test_the_delay_takes_the_manual_range_and_keywords(
    b2900: KeysightB2900, setting: str, reply: float
) -> None:
    with visa_session(b2900.address) as smu:
        smu.write(f":TRIG:ACQ:DEL {setting}")
        assert float(smu.query(":TRIG:ACQ:DEL?")) == reply
        smu.write(":TRIG:ACQ:DEL 100001")
        assert smu.query(":SYST:ERR?").startswith("-222")  # data out of range
        smu.write("*RST")
        assert float(smu.query(":TRIG:ACQ:DEL?")) == 0.0


def test_a_timer_acquisition_takes_its_first_point_after_the_acquire_delay(
    b2900: KeysightB2900,
) -> None:
    with visa_session(b2900.address) as smu:
        for command in (
            ':SENS:FUNC:ON "CURR"', ":TRIG:ACQ:SOUR TIM", ":TRIG:ACQ:TIM 0.01",
            ":TRIG:ACQ:COUN 5", ":TRAC:FEED SENS", ":TRAC:POIN 5", ":TRAC:FEED:CONT NEXT",
            ":TRIG:ACQ:DEL 0.3",
        ):  # fmt: skip
            smu.write(command)
        started = time.monotonic()
        smu.write(":INIT:ACQ (@1)")
        while int(smu.query(":TRAC:POIN:ACT?")) == 0:
            time.sleep(0.01)
        assert time.monotonic() - started >= 0.3
