"""Every registered driver provides the capabilities it claims (checked on the class), and one
that says its safe state sends nothing sends nothing."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from benchtest.driver.base import Instrument
from benchtest.driver.library_profiler import LibraryProfiler
from benchtest.driver.registry import driver_class, driver_names
from benchtest.driver.scpi import ScpiInstrument
from benchtest.driver.testing import expected_protocol
from instruments.capabilities import CAPABILITIES, conformance_problems

EXPECTED_DRIVERS = {"keithley.k2450", "rigol.ds1000z", "serial.debug_port"}


def test_the_required_drivers_are_registered() -> None:
    assert set(driver_names()) >= EXPECTED_DRIVERS


@pytest.mark.parametrize("name", driver_names())
def test_driver_provides_what_it_claims(name: str) -> None:
    cls = driver_class(name)
    assert cls.driver_name == name
    assert cls.capabilities, f"{name} claims no capability"
    assert set(cls.capabilities) <= set(CAPABILITIES)
    assert conformance_problems(cls) == []


def test_conformance_check_finds_a_missing_method_and_a_wrong_signature() -> None:
    class HalfSmu(Instrument):
        capabilities: ClassVar[tuple[str, ...]] = ("SourceMeter",)

        def source_voltage(self, level: float, current_limit: float) -> None: ...

        def output_on(self) -> None: ...

        def output_enabled(self) -> bool:  # a method where a property is required
            return False

        def sweep_voltage(self, *args: Any, **kwargs: Any) -> None: ...

    problems = conformance_problems(HalfSmu)
    assert "HalfSmu (SourceMeter) lacks measure_current" in problems
    assert "HalfSmu (SourceMeter): output_enabled must be a property" in problems
    assert (
        "HalfSmu (SourceMeter): source_voltage() takes 'current_limit' as positional or keyword"
        in problems
    )
    assert not any("sweep_voltage" in p for p in problems)  # **kwargs accepts anything


def test_a_driver_claiming_nothing_or_something_unknown_is_reported() -> None:
    class Silent(Instrument):
        pass

    class Dreamer(Instrument):
        capabilities: ClassVar[tuple[str, ...]] = ("TimeMachine",)

    assert conformance_problems(Silent) == ["Silent claims no capability"]
    assert conformance_problems(Dreamer) == ["Dreamer claims unknown capability 'TimeMachine'"]


@pytest.mark.parametrize(
    "name", [n for n in driver_names() if not driver_class(n).safe_state_sends]
)
def test_a_driver_whose_safe_state_sends_nothing_sends_nothing(name: str) -> None:
    # The pool makes such a driver safe in its own thread, trusting that it cannot hang.
    cls = driver_class(name)
    if issubclass(cls, ScpiInstrument):
        with expected_protocol(cls, [], role="meta") as instrument:  # any command fails
            instrument.safe_state()
        return
    if issubclass(cls, LibraryProfiler):  # on a library device that fails on any call
        cls(Untouchable(), role="meta").safe_state()
        return
    instrument = cls.open("loop://", role="meta")  # a serial driver, on pyserial's loopback
    try:
        instrument.safe_state()
        assert getattr(instrument, "traffic", None) == []
    finally:
        instrument.close()


class Untouchable:
    """A library device object that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"safe_state used the device: {name}")


def test_drivers_that_source_power_are_made_safe_in_a_thread_of_their_own() -> None:
    assert driver_class("keithley.k2450").safe_state_sends
    assert not driver_class("rigol.ds1000z").safe_state_sends
    assert not driver_class("serial.debug_port").safe_state_sends
