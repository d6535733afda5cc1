"""SCPI syntax for the simulators: header patterns, parameter parsing and SCPI errors.

A header pattern is written as the manual prints it (`:SOURce[1]:VOLTage[:LEVel]:ILIMit?`,
`:CHANnel<n>:SCALe`) and compiled to a regex that accepts the short and the long form of every
keyword in any case, an optional leading colon, optional `[:NODE]`s and numeric suffixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\[:\*?[A-Za-z]+\]|\[\d+\]|\[<n>\]|<n>|:|\*?[A-Za-z]+|\?")

# Standard SCPI error codes used by the simulators.
UNDEFINED_HEADER = (-113, "Undefined header")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
TOO_MUCH_DATA = (-223, "Too much data")
ILLEGAL_PARAMETER_VALUE = (-224, "Illegal parameter value")
DEVICE_ERROR = (-300, "Device-specific error")
QUEUE_OVERFLOW = (-350, "Queue overflow")


class ScpiError(Exception):
    """A command failed; the server puts `code,"message"` on the error queue."""

    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        self.code, self.message = error
        self.detail = detail
        super().__init__(f"{self.code},{self.message}" + (f" ({detail})" if detail else ""))


def keyword_regex(keyword: str) -> str:
    """`VOLTage` -> `(?:VOLT|VOLTAGE)`: the upper-case short form or the full long form."""
    short = re.match(r"\*?[A-Z]*", keyword)
    short_form = short.group(0) if short and short.group(0) else keyword
    forms = {short_form.upper(), keyword.upper()}
    return "(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len)) + ")"


def header_regex(pattern: str) -> re.Pattern[str]:
    """Compile a manual-style header pattern into a case-insensitive full-match regex."""
    parts: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(pattern):
        if match.start() != pos:
            raise ValueError(f"bad SCPI header pattern {pattern!r} at {pattern[pos:]!r}")
        parts.append(_token_regex(match.group(0), first=not parts))
        pos = match.end()
    if pos != len(pattern):
        raise ValueError(f"bad SCPI header pattern {pattern!r} at {pattern[pos:]!r}")
    return re.compile("".join(parts), re.IGNORECASE)


def _token_regex(token: str, *, first: bool) -> str:
    if token == ":":
        return ":?" if first else ":"
    if token == "?":
        return r"\?"
    if token == "<n>":
        return r"(\d+)"
    if token == "[<n>]":
        return r"(\d*)"
    if token.startswith("[:"):
        return "(?::" + keyword_regex(token[2:-1]) + ")?"
    if token.startswith("["):
        return "(?:" + re.escape(token[1:-1]) + ")?"
    return keyword_regex(token)


def choice_regex(*choices: str) -> dict[str, re.Pattern[str]]:
    """Character-data choices (`POSitive`, `NEGative`) to full-match regexes, by long form."""
    return {c.upper(): re.compile(keyword_regex(c), re.IGNORECASE) for c in choices}


@dataclass(frozen=True)
class Request:
    """One parsed command: its header, the numeric suffixes matched, and its parameters."""

    text: str
    header: str
    suffixes: tuple[str, ...]
    args: tuple[str, ...]

    @property
    def is_query(self) -> bool:
        return self.header.endswith("?")

    def suffix(self, index: int = 0, default: int = 1) -> int:
        """The `index`-th numeric suffix (`CHANnel2` -> 2), `default` when it was omitted."""
        value = self.suffixes[index] if index < len(self.suffixes) else ""
        return int(value) if value else default

    def arg(self) -> str:
        """The single parameter; -109 when missing, -108 when there are more."""
        if not self.args or not self.args[0]:
            raise ScpiError(MISSING_PARAMETER, self.header)
        if len(self.args) > 1:
            raise ScpiError(PARAMETER_NOT_ALLOWED, self.text)
        return self.args[0]

    def no_args(self) -> None:
        if self.args:
            raise ScpiError(PARAMETER_NOT_ALLOWED, self.text)


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` except inside "..." or '...' strings."""
    if '"' not in text and "'" not in text:  # the usual command: no string to look into
        return text.split(separator)
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def split_header(text: str) -> tuple[str, tuple[str, ...]]:
    """`:SOUR:VOLT 1.5` -> (":SOUR:VOLT", ("1.5",)); parameters are split on commas."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ()
    if len(parts) == 1:
        return parts[0], ()
    return parts[0], tuple(a.strip() for a in split_outside_quotes(parts[1], ","))


def parse_float(text: str) -> float:
    """An NR1/NR2/NR3 number; -104 for anything else."""
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(DATA_TYPE_ERROR, text) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ScpiError(DATA_TYPE_ERROR, text)
    return value


def parse_int(text: str) -> int:
    value = parse_float(text)
    if value != int(value):
        raise ScpiError(DATA_TYPE_ERROR, text)
    return int(value)


def parse_bool(text: str) -> bool:
    """ON/OFF/1/0."""
    token = text.strip().upper()
    if token in ("ON", "1"):
        return True
    if token in ("OFF", "0"):
        return False
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)


def parse_choice(text: str, choices: dict[str, re.Pattern[str]]) -> str:
    """The long form of the choice `text` names (`POS` -> `POSITIVE`); -224 if none."""
    for name, regex in choices.items():
        if regex.fullmatch(text.strip()):
            return name
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)


def in_range(value: float, low: float, high: float) -> float:
    """`value` if low <= value <= high, else -222."""
    if not low <= value <= high:
        raise ScpiError(DATA_OUT_OF_RANGE, f"{value:g} not in [{low:g}, {high:g}]")
    return value


def unquote(text: str) -> str:
    """The content of a "quoted" or 'quoted' string parameter; -104 if it is not quoted."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    raise ScpiError(DATA_TYPE_ERROR, f"expected a quoted string, got {text}")
