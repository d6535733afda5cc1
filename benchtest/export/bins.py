"""The bin map: which hard and soft bin a part goes to, by its outcome, and its STDF part flags.

Hard bins say what to do with the part (pass, fail, look at the bench, test it again); soft
bins say why. The map is fixed, so bins mean the same in every export (docs/export.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchtest.export.parts import Part


@dataclass(frozen=True)
class Bin:
    number: int
    name: str
    passed: bool

    @property
    def pass_fail(self) -> str:
        """STDF's HBIN_PF / SBIN_PF: "P" or "F"."""
        return "P" if self.passed else "F"


PASS = Bin(1, "PASS", True)
FAIL = Bin(2, "FAIL", False)
ERROR = Bin(3, "ERROR", False)
INCOMPLETE = Bin(4, "INCOMPLETE", False)
HARD_BINS = (PASS, FAIL, ERROR, INCOMPLETE)

#: soft bin -> the hard bin it falls in
SOFT_BINS: dict[Bin, Bin] = {
    Bin(1, "PASS", True): PASS,
    Bin(2, "PASS_MARGINAL", True): PASS,  # passed, a measurement inside its marginal band
    Bin(3, "FAIL", False): FAIL,  # a measurement out of limits, or a failed check
    Bin(4, "ERROR", False): ERROR,  # a test raised an error: bench, driver or plan
    Bin(5, "INTERRUPTED", False): INCOMPLETE,  # stopped by Ctrl-C or SIGTERM
    Bin(6, "INCOMPLETE", False): INCOMPLETE,  # killed or crashed: the run never finished
}
_SOFT_BY_OUTCOME = {
    "passed": 1,
    "failed": 3,
    "error": 4,
    "interrupted": 5,
    "incomplete": 6,
}
_SOFT = {soft.number: soft for soft in SOFT_BINS}

# PRR.PART_FLG bits
SUPERSEDES_PART_ID = 0x01  # a retest: replaces the earlier part with the same PART_ID
ABNORMAL_END = 0x04
PART_FAILED = 0x08
NO_PASS_FAIL = 0x10


def soft_bin(part: Part) -> Bin:
    """The part's soft bin; an outcome this version does not know goes to ERROR."""
    if part.outcome == "passed" and part.marginal:
        return _SOFT[2]
    return _SOFT[_SOFT_BY_OUTCOME.get(part.outcome, 4)]


def hard_bin(part: Part) -> Bin:
    return SOFT_BINS[soft_bin(part)]


def part_flags(part: Part, *, retest: bool) -> int:
    """PRR.PART_FLG: an abnormal end has no pass/fail verdict; any other part that did not
    pass (failed or error) is flagged failed."""
    flags = SUPERSEDES_PART_ID if retest else 0
    if part.abnormal_end:
        return flags | ABNORMAL_END | NO_PASS_FAIL
    return flags if hard_bin(part).passed else flags | PART_FAILED


__all__ = ["HARD_BINS", "SOFT_BINS", "Bin", "hard_bin", "part_flags", "soft_bin"]
