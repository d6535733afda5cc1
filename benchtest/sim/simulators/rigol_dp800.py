"""Simulated Rigol DP832 programmable supply in the DP800 programming-guide dialect.

`:APPLy CH<n>,<V>[,<A>]`, `:APPLy? CH<n>` (answered like a live DP832A, `CH1:30V/3A,5.000,0.1000`),
`[:SOURce[<n>]]:VOLTage|CURRent` on the numbered or selected output and `:OUTPut[:STATe]
[CH<n>,]ON|OFF` answered `ON`/`OFF`. Readbacks (`:MEASure[:VOLTage]|:CURRent|:POWEr|:ALL?`)
have four decimals, so the DUT's microamperes read as 0.0000.
"""

from __future__ import annotations

from collections.abc import Callable

from benchtest.sim.server.scpi import (
    MISSING_PARAMETER,
    PARAMETER_NOT_ALLOWED,
    Request,
    ScpiError,
    choice_regex,
    parse_bool,
    parse_choice,
    parse_int,
)
from benchtest.sim.server.timing import RIGOL_DP800
from benchtest.sim.simulators.supply import SupplyServer

LEVEL = "[:LEVel][:IMMediate][:AMPLitude]"
KEYWORDS = {"voltage": "VOLTage", "current": "CURRent"}
RATINGS = {1: "30V/3A", 2: "30V/3A", 3: "5V/3A"}
HEADER_SUFFIX_OUT_OF_RANGE = (-114, "Header suffix out of range")
_SETTINGS = choice_regex("VOLTage", "CURRent")

Query = Callable[[Request], str]
Write = Callable[[Request], None]


class RigolDP800(SupplyServer):
    """`RIGOL TECHNOLOGIES,DP832`: CH1/CH2 0–32 V 0–3.2 A, CH3 0–5.3 V 0–3.2 A."""

    identity = "RIGOL TECHNOLOGIES,DP832,DP8C180200000,00.01.16"
    ranges = ((32.0, 3.2), (32.0, 3.2), (5.3, 3.2))
    timing_model = RIGOL_DP800
    selected = 1

    def register(self) -> None:
        self.command(":APPLy", self._apply)
        self.command(":APPLy?", self._apply_query)
        for root in (":SOURce[<n>]", ""):
            for quantity, keyword in KEYWORDS.items():
                self.setting(f"{root}:{keyword}{LEVEL}", *self._level(quantity))
        self.setting(":INSTrument:NSELect", lambda r: str(self.selected), self._select_number)
        self.setting(":INSTrument[:SELEct]", lambda r: f"CH{self.selected}", self._select_name)
        self.setting(":OUTPut[:STATe]", self._output_query, self._set_output)
        self.command(":MEASure[:VOLTage][:DC]?", self._measure("voltage"))
        self.command(":MEASure:CURRent[:DC]?", self._measure("current"))
        self.command(":MEASure:POWEr[:DC]?", self._measure("power"))
        self.command(":MEASure:ALL[:DC]?", self._measure_all)

    # -- handlers ----------------------------------------------------------------------------

    def _apply(self, request: Request) -> None:
        number, values = self._split_channel(request.args)
        if not values or not values[0]:
            raise ScpiError(MISSING_PARAMETER, request.text)
        if len(values) > 2:
            raise ScpiError(PARAMETER_NOT_ALLOWED, request.text)
        self.selected = number
        self.set_level(number, "voltage", values[0])
        if len(values) == 2:
            self.set_level(number, "current", values[1])

    def _apply_query(self, request: Request) -> str:
        number, rest = self._split_channel(request.args)
        state = self.outputs[number]
        voltage, current = f"{state.voltage:.3f}", f"{state.current_limit:.4f}"
        if not rest:
            return f"CH{number}:{RATINGS[number]},{voltage},{current}"
        return voltage if parse_choice(rest[0], _SETTINGS) == "VOLTAGE" else current

    def _level(self, quantity: str) -> tuple[Query, Write]:
        def query(request: Request) -> str:
            state = self.outputs[self._numbered(request)]
            return f"{state.voltage:.3f}" if quantity == "voltage" else f"{state.current_limit:.4f}"

        def write(request: Request) -> None:
            self.set_level(self._numbered(request), quantity, request.arg())

        return query, write

    def _select_number(self, request: Request) -> None:
        self.selected = self.channel(f"CH{parse_int(request.arg())}")

    def _select_name(self, request: Request) -> None:
        self.selected = self.channel(request.arg())

    def _output_query(self, request: Request) -> str:
        number, _ = self._split_channel(request.args)
        return "ON" if self.outputs[number].output else "OFF"

    def _set_output(self, request: Request) -> None:
        number, values = self._split_channel(request.args)
        if len(values) != 1 or not values[0]:
            raise ScpiError(MISSING_PARAMETER, request.text)
        self.change(number, output=parse_bool(values[0]))

    def _measure(self, quantity: str) -> Query:
        def measure(request: Request) -> str:
            number, _ = self._split_channel(request.args)
            return f"{self.measured(number, quantity):.4f}"

        return measure

    def _measure_all(self, request: Request) -> str:
        number, _ = self._split_channel(request.args)
        values = (self.measured(number, q) for q in ("voltage", "current", "power"))
        return ",".join(f"{v:.4f}" for v in values)

    # -- channel selection -------------------------------------------------------------------

    def _split_channel(self, args: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
        """A leading `CH<n>` argument, or the selected output; and the other arguments."""
        if args and args[0].strip().upper().startswith("CH"):
            return self.channel(args[0]), args[1:]
        return self.selected, tuple(a for a in args if a)

    def _numbered(self, request: Request) -> int:
        number = request.suffix(0, default=self.selected)
        if number not in self.channels:
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, request.header)
        return number
