"""How a simulated SCPI instrument finds the handler of a command: the first pattern that
matches its header, remembered per header, and found anew once patterns are added."""

from __future__ import annotations

import pytest

from benchtest.sim.server import scpi_server
from benchtest.sim.server.scpi import split_outside_quotes
from benchtest.sim.server.scpi_server import ScpiServer


class Panel(ScpiServer):
    """Two channel names, and a specific pattern registered before a general one."""

    def register(self) -> None:
        self.command(":CHANnel<n>:NAME?", lambda r: f"CH{r.suffix()}")
        self.command(":MEASure:VOLTage?", lambda r: "specific")
        self.command(":MEASure:<n>?", lambda r: "general")


def test_each_header_gets_the_groups_of_its_own_match() -> None:
    panel = Panel(role="panel")
    for _ in range(2):  # looked up, then remembered
        assert panel.handle_line(":CHAN1:NAME?;:CHANnel2:NAME?") == ["CH1", "CH2"]


def test_the_first_pattern_that_matches_wins_every_time() -> None:
    panel = Panel(role="panel")
    assert panel.handle_line(":MEAS:VOLT?") == ["specific"]
    assert panel.handle_line(":MEAS:VOLT?") == ["specific"]


def test_a_pattern_added_later_answers_a_header_that_matched_nothing() -> None:
    panel = Panel(role="panel")
    assert panel.handle_line(":LATE?") == []
    assert panel.next_error() == '-113,"Undefined header"'
    panel.command(":LATE?", lambda r: "here")
    assert panel.handle_line(":LATE?") == ["here"]
    assert panel.next_error() == '0,"No error"'


def test_endless_new_headers_are_answered_without_being_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scpi_server, "MAX_DISPATCHED", 3)
    panel = Panel(role="panel")
    answers = [panel.handle_line(f":CHAN{n}:NAME?") for n in range(1, 7)]
    assert answers == [[f"CH{n}"] for n in range(1, 7)]
    assert len(panel._dispatch) == 3


def test_splitting_keeps_separators_inside_strings_and_splits_plain_text() -> None:
    assert split_outside_quotes(":A 1;:B 2", ";") == [":A 1", ":B 2"]
    assert split_outside_quotes(':DISP:TEXT "a;b";*OPC?', ";") == [':DISP:TEXT "a;b"', "*OPC?"]
    assert split_outside_quotes("x,'1,2',y", ",") == ["x", "'1,2'", "y"]
    assert split_outside_quotes("", ";") == [""]
