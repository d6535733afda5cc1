"""`OutcomeTally`: what the tests of one run file came to, in one line a person reads.

It subscribes to the run's recorder and keeps each test's last outcome (retries included), so
the run can say "passed, 3 skipped: no chamber on this bench (lab 3)" instead of a bare
"passed", and the run file's outcome is that of its own tests, not of the whole pytest session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from benchtest.values.events import Event, TestFinished

SKIPPED = "skipped"


def skip_reasons(tests: Iterable[tuple[str, str]]) -> tuple[int, str]:
    """How many of `tests` ((outcome, message) each) were skipped, and why: each reason once,
    in order of first appearance, with its count when there are several reasons ("no chamber
    on this bench (lab 3) (4); plan for ldo parts ... (2)")."""
    reasons = Counter(
        message.removeprefix("Skipped: ").strip() or "no reason given"
        for outcome, message in tests
        if outcome == SKIPPED
    )
    if len(reasons) == 1:
        return reasons.total(), next(iter(reasons))
    return reasons.total(), "; ".join(f"{reason} ({count})" for reason, count in reasons.items())


def describe(outcome: str, tests: Iterable[tuple[str, str]]) -> str:
    """What `tests` ((outcome, message) each) came to: `outcome`, with the skipped ones and
    why when there are any ("passed, 3 skipped: <reasons>")."""
    skipped, reasons = skip_reasons(tests)
    return f"{outcome}, {skipped} skipped: {reasons}" if skipped else outcome


class OutcomeTally:
    """Each test's last outcome and message, by test id."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, TestFinished):
            self._last[event.test_id] = (event.outcome, event.message)

    @property
    def skipped(self) -> int:
        return skip_reasons(self._last.values())[0]

    @property
    def skip_reasons(self) -> str:
        """Why tests were skipped ("" when none was): see `skip_reasons`."""
        return skip_reasons(self._last.values())[1]

    def outcome(self, given: str) -> str:
        """The run file's outcome: `given` for an interrupted or broken run, else failed when
        one of its own tests failed or erred, passed when none did."""
        if given not in ("passed", "failed") or not self._last:
            return given
        bad = any(outcome in ("failed", "error") for outcome, _ in self._last.values())
        return "failed" if bad else "passed"

    def summary(self, outcome: str) -> str:
        """`outcome`, with the skipped tests and why: "passed, 3 skipped: <reasons>"."""
        return describe(outcome, self._last.values())
