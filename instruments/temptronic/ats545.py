"""inTEST (Temptronic) ThermoStream ATS-545 thermal forcing system (ATS Interface & Applications
Manual, remote commands over GPIB or LAN).

The operator screen has three setpoints (SETN 0 hot, 1 ambient, 2 cold), each set with SETP;
FLOW starts and stops the air stream; the temperature condition register (TECR?) reports "at
temperature" once the DUT has stayed within the window (WNDW) for the soak time (SOAK). There
is no error queue: command and execution errors set bits of `*ESR?`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from benchtest.driver.properties import number
from benchtest.driver.scpi import (
    Control,
    Reading,
    ScpiInstrument,
    Setting,
    apply_settings,
    declared,
    parse_int,
    strict_int_range,
    wait_deadline,
)
from benchtest.driver.status import check_register, describe_esr
from benchtest.driver.transport import Transport
from benchtest.values.errors import InstrumentTimeoutError
from benchtest.values.ratings import NO_GUARD, SourceGuard

if TYPE_CHECKING:
    from instruments.capabilities import Chamber

HOT, AMBIENT, COLD = 0, 1, 2
AT_TEMPERATURE = 0x01  # TECR bit 0: the soak time has elapsed within the window
INVALID_READING = 400.0  # degC; TEMP? above this means "no valid reading"
ON_OFF = {True: "1", False: "0"}


def parse_temperature(reply: str) -> float:
    value = float(reply.strip())
    if value > INVALID_READING:
        raise ValueError(f"{value:g} degC means the sensor gives no valid reading")
    return value


def setpoint_for(celsius: float) -> int:
    """The operator-screen setpoint a temperature belongs to (cold, ambient or hot)."""
    if celsius <= 20.0:
        return COLD
    return AMBIENT if celsius < 30.0 else HOT


class ThermoStreamATS545(ScpiInstrument):
    """ThermoStream ATS-545. Implements `Chamber`.

    Options: `soak_time` (s the DUT must stay within the window, default 30) and
    `poll_interval` (s between status polls while waiting, default 1).
    """

    capabilities = ("Chamber",)
    driver_name = "temptronic.ats545"
    error_query = None
    driver_options = ("soak_time", "poll_interval")

    setpoint_number = Control(
        "SETN?",
        "SETN {value}",
        "Selected setpoint: 0 hot, 1 ambient, 2 cold",
        parser=parse_int,
        validator=strict_int_range(HOT, COLD),
    )
    temperature_setpoint = number(
        "SETP",
        "Temperature of the selected setpoint",
        -99.9,
        225.0,
        unit="degC",
        guard="temperature",
    )
    window = number("WNDW", "At-temperature window around the setpoint", 0.1, 9.9, unit="degC")
    soak = number("SOAK", "Time within the window before at temperature", 0.0, 9999.0, unit="s")
    flow_enabled = Setting("FLOW {value}", "Air flow on/off", values=ON_OFF)
    dut_mode = Control(
        "DUTM?", "DUTM {value}", "Control on the DUT sensor (else the air)", values=ON_OFF
    )
    temperature = Reading(
        "TEMP?",
        "Temperature (DUT sensor in DUT mode, else air)",
        parser=parse_temperature,
        unit="degC",
    )
    air_temperature = Reading("TMPA?", "Air temperature", parser=parse_temperature, unit="degC")
    dut_temperature = Reading("TMPD?", "DUT temperature", parser=parse_temperature, unit="degC")
    condition = Reading("TECR?", "Temperature condition register", parser=parse_int)
    device_errors = Reading("EROR?", "Device error register (16 flag bits)", parser=parse_int)

    def __init__(
        self,
        transport: Transport,
        *,
        role: str = "",
        guard: SourceGuard = NO_GUARD,
        soak_time: float = 30.0,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(transport, role=role, guard=guard)
        self.soak_time = float(soak_time)
        self.poll_interval = float(poll_interval)

    def check_errors(self, *, after: str = "") -> None:
        """Command and execution errors show in the standard event status register."""
        check_register(self, "*ESR?", parse_int, describe_esr, after=after)

    # -- Chamber -------------------------------------------------------------------------------

    def set_temperature(self, celsius: float) -> None:
        """Select the cold, ambient or hot setpoint, set it to `celsius`, start the flow."""
        apply_settings(
            self,
            setpoint_number=setpoint_for(celsius),
            temperature_setpoint=celsius,
            soak=self.soak_time,
            flow_enabled=True,
        )

    def wait_until_stable(self, tolerance: float, timeout: float) -> float:
        """Set the window to `tolerance`, poll TECR? until at temperature; the temperature.
        A timeout that is no finite number of seconds >= 0 is refused before anything is sent."""
        deadline = wait_deadline(timeout, role=self.role, command="TECR?")
        self.window = tolerance
        while not self.condition & AT_TEMPERATURE:
            if time.monotonic() >= deadline:
                raise InstrumentTimeoutError(
                    f"not at temperature within {timeout:g} s: {self.temperature:g} degC, "
                    f"setpoint {self.temperature_setpoint:g} degC +/- {tolerance:g} degC",
                    role=self.role,
                    command="TECR?",
                )
            time.sleep(self.poll_interval)
        return self.temperature

    def safe_state(self) -> None:
        """Back to the ambient setpoint, then the air flow off; errors read once at the end."""
        self.write(declared(self, "setpoint_number").command(self, AMBIENT), check=False)
        self.write(declared(self, "flow_enabled").command(self, False), check=False)
        self.check_errors(after="safe state (SETN 1, FLOW 0)")


if TYPE_CHECKING:
    _capability: type[Chamber] = ThermoStreamATS545
