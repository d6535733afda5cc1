"""The report's own SHA-256 and its run file's, printed in the report, and their check.

A file cannot hold the hash of its own final bytes, so the report's digest is defined as the
SHA-256 of the report's bytes with the 64 hex digits of its digest field set to "0" (the field
is `<code id="report-sha256">…</code>`, exactly once in the file). The report prints this rule
beside the digest. Anyone can check it: replace the digits by 64 zeros, hash, compare (`sha256sum`
and `sed` do it; `benchtest report --verify REPORT.html [RUN.h5]` does it and, given the run
file, checks the run file's SHA-256 printed in `<code id="run-sha256">…</code>` as well).
A run string cannot forge a field: the report escapes every `"`, `<` and `>` of the run.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from benchtest.values.errors import ResultFileError

#: What the digest field holds while the report's digest is computed.
PLACEHOLDER = "0" * 64
REPORT_FIELD = "report-sha256"
RUN_FIELD = "run-sha256"
#: The rule, as the report prints it.
RULE = (
    "SHA-256 of this HTML file's bytes with the 64 hex digits of this field replaced by 64 "
    'zeros ("0"); check with: benchtest report --verify REPORT.html [RUN.h5]'
)


def field(name: str, digest: str) -> str:
    """The markup of a digest field (`digest`: 64 lowercase hex digits)."""
    return f'<code id="{name}">{digest}</code>'


def _pattern(name: str) -> re.Pattern[bytes]:
    return re.compile(rb'<code id="' + name.encode() + rb'">([0-9a-f]{64})</code>')


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file at `path`, read in blocks."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def seal(report: bytes) -> bytes:
    """`report` (with its report field holding the placeholder) with its digest filled in."""
    placeholder = field(REPORT_FIELD, PLACEHOLDER).encode()
    if report.count(placeholder) != 1:
        raise ValueError(f"the report must hold its digest field exactly once: {placeholder!r}")
    digest = hashlib.sha256(report).hexdigest()
    return report.replace(placeholder, field(REPORT_FIELD, digest).encode())


def _one(data: bytes, name: str, where: Path) -> tuple[re.Match[bytes], str]:
    found = list(_pattern(name).finditer(data))
    if len(found) != 1:
        count = f"no {name} field" if not found else f"{len(found)} {name} fields"
        raise ResultFileError(
            f'{where}: {count} (<code id="{name}"> with 64 hex digits) where one was expected: '
            "not a benchtest report, or one written before reports carried their digest"
        )
    return found[0], found[0].group(1).decode()


@dataclass(frozen=True)
class Check:
    """One digest compared: what the report states and what the bytes hash to."""

    what: str  # "report" or "run file"
    path: Path
    stated: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.stated == self.actual

    def line(self) -> str:
        if self.ok:
            stated = "the digest it states" if self.what == "report" else "the report"
            return f"{self.path}: {self.what} sha256 {self.actual}: matches {stated}"
        return (
            f"{self.path}: {self.what} sha256 does NOT match: the report states {self.stated}, "
            f"the file hashes to {self.actual}"
        )


def verify(
    report_path: str | os.PathLike[str], run_path: str | os.PathLike[str] | None = None
) -> list[Check]:
    """Check the report's own digest, and the run file's when `run_path` is given.

    Raises ResultFileError naming the file when one cannot be read or the report has no (or
    more than one) digest field."""
    report = Path(report_path)
    try:
        data = report.read_bytes()
    except OSError as exc:
        raise ResultFileError(f"{report}: cannot read the report: {exc}") from exc
    match, stated = _one(data, REPORT_FIELD, report)
    zeroed = data[: match.start(1)] + PLACEHOLDER.encode() + data[match.end(1) :]
    checks = [Check("report", report, stated, hashlib.sha256(zeroed).hexdigest())]
    if run_path is not None:
        run = Path(run_path)
        _, stated_run = _one(data, RUN_FIELD, report)
        try:
            actual = file_sha256(run)
        except OSError as exc:
            raise ResultFileError(f"{run}: cannot read the run file: {exc}") from exc
        checks.append(Check("run file", run, stated_run, actual))
    return checks
