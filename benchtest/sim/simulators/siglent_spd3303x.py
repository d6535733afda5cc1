"""Simulated Siglent SPD3303X supply, speaking only the commands of its quick-start list.

`CH<n>:VOLTage|CURRent` for CH1/CH2, `OUTPut CH<n>,ON|OFF` without a query, `MEASure:<quantity>?
CH<n>` with three decimals and the hex word of `SYSTem:STATus?` (bit0/1 CC, bits 2–3 mode,
bit4/5 CH1/CH2 on). Of the common commands only `*IDN?`, `*SAV` and `*RCL` exist, and errors
read `<code> <message>`.
"""

from __future__ import annotations

from collections.abc import Callable

from benchtest.sim.server.scpi import (
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    UNDEFINED_HEADER,
    Request,
    ScpiError,
    parse_bool,
    parse_int,
)
from benchtest.sim.server.timing import SIGLENT_SPD3303X
from benchtest.sim.simulators.supply import SupplyServer

PROGRAMMABLE = (1, 2)
INDEPENDENT = 0b01 << 2  # bits 2-3 = 01: independent outputs
MEASURED = {"VOLTage": "voltage", "CURRent": "current", "POWEr": "power"}

Query = Callable[[Request], str]
Write = Callable[[Request], None]


class SiglentSPD3303X(SupplyServer):
    """`Siglent Technologies,SPD3303X`: CH1/CH2 0–32 V 0–3.2 A, CH3 fixed."""

    identity = "Siglent Technologies,SPD3303X,SPD3XIDD4R0000,1.01.01.02.05,V3.0"
    ranges = ((32.0, 3.2), (32.0, 3.2), (None, 3.2))
    timing_model = SIGLENT_SPD3303X
    common_commands = ("*IDN?",)
    error_query = "SYSTem:ERRor?"
    selected = 1

    def format_error(self, code: int, message: str) -> str:
        return f"{code} {message}"

    def register(self) -> None:
        self.setting("CH<n>:VOLTage", *self._level("voltage"))
        self.setting("CH<n>:CURRent", *self._level("current"))
        self.command("OUTPut", self._set_output)
        self.command("OUTPut:TRACK", self._set_track)
        for keyword, quantity in MEASURED.items():
            self.command(f"MEASure:{keyword}?", self._measure(quantity))
        self.setting("INSTrument", lambda r: f"CH{self.selected}", self._select)
        self.command("SYSTem:STATus?", lambda r: f"0x{self.status_word():04X}")
        self.command("SYSTem:VERSion?", lambda r: "1.01.01.02.05")
        self.command("*SAV", lambda r: None)
        self.command("*RCL", lambda r: None)

    def status_word(self) -> int:
        """CC bits, the independent mode and the output bits of CH1 and CH2."""
        word = INDEPENDENT
        for number in PROGRAMMABLE:
            if self.outputs[number].output:
                word |= 1 << (3 + number)
            if self.loads[number].in_compliance():
                word |= 1 << (number - 1)
        return word

    # -- handlers ----------------------------------------------------------------------------

    def _level(self, quantity: str) -> tuple[Query, Write]:
        def query(request: Request) -> str:
            state = self.outputs[self._programmable(request)]
            return f"{state.voltage if quantity == 'voltage' else state.current_limit:.3f}"

        def write(request: Request) -> None:
            self.set_level(self._programmable(request), quantity, request.arg())

        return query, write

    def _set_output(self, request: Request) -> None:
        if len(request.args) != 2:
            raise ScpiError(MISSING_PARAMETER, request.text)
        self.change(self.channel(request.args[0]), output=parse_bool(request.args[1]))

    def _set_track(self, request: Request) -> None:
        if parse_int(request.arg()) not in (0, 1, 2):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, request.text)

    def _measure(self, quantity: str) -> Query:
        def measure(request: Request) -> str:
            number = self.channel(request.arg())
            if number not in PROGRAMMABLE:
                raise ScpiError(ILLEGAL_PARAMETER_VALUE, "CH3 is not measured")
            return f"{self.measured(number, quantity):.3f}"

        return measure

    def _select(self, request: Request) -> None:
        self.selected = self.channel(request.arg())

    @staticmethod
    def _programmable(request: Request) -> int:
        number = request.suffix()
        if number not in PROGRAMMABLE:
            raise ScpiError(UNDEFINED_HEADER, request.header)
        return number
