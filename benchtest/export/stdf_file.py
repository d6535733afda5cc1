"""STDF V4 from run files, written with stdfast (`pip install 'benchtest[stdf]'`).

One file: FAR, MIR, SDR; per part PIR, a DTR naming its run file, one PTR per measurement of
the last attempt of each test, PRR; then per site and in sum (HEAD_NUM 255) TSR per test,
HBR and SBR per bin, PCR; MRR. Every string is ASCII (other characters as backslash escapes)
of at most 255 bytes, so no record comes near STDF's 65 535-byte limit. The mapping is in
docs/export.md.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from benchtest.export import bins
from benchtest.export.numbering import catalog, display_scale, parametric_name
from benchtest.export.output import replacing
from benchtest.export.parts import ExportError, Part, Row

_U2 = 65_535
_U4 = 4_294_967_295
_MISSING_U4 = _U4  # STDF's "no value" for optional U*4 counts
ALL = 255  # HEAD_NUM / SITE_NUM of a summary over all heads and sites
HEAD = 1
MAX_TEXT = 255

# PTR.TEST_FLG bits
RESULT_INVALID = 0x02
NO_PASS_FAIL = 0x40
TEST_FAILED = 0x80
# PTR.PARM_FLG bits
ABOVE_HIGH = 0x08
BELOW_LOW = 0x10
LOW_INCLUSIVE = 0x40  # a result equal to the low limit passes
HIGH_INCLUSIVE = 0x80
# PTR.OPT_FLAG bits (bit 1 is reserved and must be set)
_OPT_RESERVED = 0x02
NO_LOW_SPEC = 0x04
NO_HIGH_SPEC = 0x08
NO_LOW_LIMIT = 0x40
NO_HIGH_LIMIT = 0x80
# TSR.OPT_FLAG bits: set = field invalid (bits 3, 6 and 7 are reserved and set)
_TSR_RESERVED = 0xC8
_TSR_NO_MIN, _TSR_NO_MAX, _TSR_NO_TIME, _TSR_NO_SUMS, _TSR_NO_SQRS = 0x01, 0x02, 0x04, 0x10, 0x20


def stdfast() -> ModuleType:
    """The stdfast package, or an `ExportError` saying how to install it."""
    try:
        import stdfast as module
        import stdfast.records
    except ImportError as exc:
        raise ExportError(
            f"STDF export needs the 'stdfast' package ({exc}): pip install 'benchtest[stdf]'"
        ) from exc
    return module


def stdf_text(text: str) -> str:
    """`text` as an STDF C*n string: ASCII, other characters as backslash escapes, at most
    255 bytes; a longer text keeps its start and ends in "~" and 8 hex digits of its SHA-256,
    so long texts that start alike stay distinct."""
    ascii_text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(ascii_text) <= MAX_TEXT:
        return ascii_text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return ascii_text[: MAX_TEXT - 9] + "~" + digest


def write_stdf(parts: Sequence[Part], target: Path) -> Path:
    """Write the STDF file of `parts` to `target` (whole or not at all)."""
    module = stdfast()
    records = list(stdf_records(parts, module.records))
    with replacing(target) as temporary:
        module.write_stdf(str(temporary), records)
    return target


@dataclass(frozen=True)
class _Test:
    """What the PTRs of one test number share."""

    number: int
    text: str
    scale: int
    test_id: str  # TSR.SEQ_NAME
    measurement: str  # TSR.TEST_LBL


@dataclass
class _Tally:
    """TSR counts of one test number at one site (or all)."""

    executed: int = 0
    failed: int = 0
    total: float = 0.0
    squares: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    finite: int = 0

    def add(self, row: Row) -> None:
        self.executed += 1
        self.failed += row.outcome == "fail"
        if math.isfinite(row.value):
            self.finite += 1
            self.total += row.value
            self.squares += row.value * row.value
            self.low, self.high = min(self.low, row.value), max(self.high, row.value)


@dataclass
class _Summary:
    """What the summary records count: per test number and site (TSR), per bin (HBR, SBR)
    and per site (PCR); site ALL counts every site."""

    tallies: dict[tuple[int, int], _Tally] = field(default_factory=dict)
    hard: Counter[tuple[int, int]] = field(default_factory=Counter)
    soft: Counter[tuple[int, int]] = field(default_factory=Counter)
    parts: Counter[tuple[int, str]] = field(default_factory=Counter)

    def measured(self, number: int, site: int, row: Row) -> None:
        for where in (site, ALL):
            self.tallies.setdefault((number, where), _Tally()).add(row)

    def tested(self, part: Part, retest: bool) -> None:
        hard_bin, soft_bin = bins.hard_bin(part), bins.soft_bin(part)
        for where in (part.site_number, ALL):
            self.hard[(hard_bin.number, where)] += 1
            self.soft[(soft_bin.number, where)] += 1
            self.parts[(where, "parts")] += 1
            self.parts[(where, "retests")] += retest
            self.parts[(where, "aborts")] += part.abnormal_end
            self.parts[(where, "good")] += hard_bin.passed


def stdf_records(parts: Sequence[Part], records: ModuleType) -> Iterator[Any]:
    """The records of the STDF file of `parts`, in file order (stdfast record models)."""
    rows = [row for part in parts for row in part.rows]
    number_of = dict(zip(map(id, rows), catalog(rows), strict=True))  # `rows` keeps them alive
    tests = _tests(rows, number_of)
    sites = sorted({p.site_number for p in parts})
    yield records.FAR(cpu_type=2, stdf_ver=4)
    yield _mir(parts, records)
    yield records.SDR(head_num=HEAD, site_grp=1, site_cnt=len(sites), site_num=sites)
    summary = _Summary()
    seen: set[str] = set()
    for part in parts:
        retest = bool(part.serial) and part.serial in seen
        seen.add(part.serial)
        yield from _part_records(records, part, retest, tests, number_of, summary)
    sites.append(ALL)
    yield from _tsrs(records, tests, summary.tallies, sites)
    yield from _bin_records(records, summary.hard, summary.soft, sites)
    for where in sites:
        yield records.PCR(
            head_num=ALL if where == ALL else HEAD,
            site_num=where,
            part_cnt=summary.parts[(where, "parts")],
            rtst_cnt=summary.parts[(where, "retests")],
            abrt_cnt=summary.parts[(where, "aborts")],
            good_cnt=summary.parts[(where, "good")],
            func_cnt=_MISSING_U4,
        )
    yield records.MRR(finish_t=_stdf_time(_latest(p.end for p in parts)))


def _part_records(
    records: ModuleType,
    part: Part,
    retest: bool,
    tests: Mapping[int, _Test],
    number_of: Mapping[int, int],
    summary: _Summary,
) -> Iterator[Any]:
    """PIR, the DTR naming the run file, a PTR per measurement that counts, PRR."""
    site = part.site_number
    yield records.PIR(head_num=HEAD, site_num=site)
    where = f"benchtest run file: {part.path.name} (run id {part.run_id})"
    yield records.DTR(text_dat=stdf_text(where))
    executed = 0
    for row in part.rows:
        if row.final:  # the last attempt of its test
            test = tests[number_of[id(row)]]
            yield _ptr(records, row, test, site)
            summary.measured(test.number, site, row)
            executed += 1
    summary.tested(part, retest)
    yield records.PRR(
        head_num=HEAD,
        site_num=site,
        part_flg=bins.part_flags(part, retest=retest),
        num_test=min(executed, _U2),
        hard_bin=bins.hard_bin(part).number,
        soft_bin=bins.soft_bin(part).number,
        test_t=_milliseconds(part.end - part.start),
        part_id=stdf_text(part.serial),
        part_txt=stdf_text(part.outcome),
    )


def _tests(rows: Sequence[Row], number_of: Mapping[int, int]) -> dict[int, _Test]:
    """What the PTRs of each test number share (`number_of`: id(row) -> its test number)."""
    by_number: dict[int, list[Row]] = {}
    for row in rows:
        by_number.setdefault(number_of[id(row)], []).append(row)
    return {
        number: _Test(
            number,
            stdf_text(parametric_name(same[0])),
            display_scale(same[0].unit, same),
            stdf_text(same[0].test_id),
            stdf_text(same[0].name),
        )
        for number, same in by_number.items()
    }


def _ptr(records: ModuleType, row: Row, test: _Test, site: int) -> Any:
    value = row.value
    test_flags = 0 if math.isfinite(value) else RESULT_INVALID
    if row.outcome == "fail":
        test_flags |= TEST_FAILED
    elif row.outcome == "info":
        test_flags |= NO_PASS_FAIL
    parameter_flags = LOW_INCLUSIVE | HIGH_INCLUSIVE
    if row.high is not None and value > row.high:
        parameter_flags |= ABOVE_HIGH
    if row.low is not None and value < row.low:
        parameter_flags |= BELOW_LOW
    optional = _OPT_RESERVED | NO_LOW_SPEC | NO_HIGH_SPEC
    optional |= NO_LOW_LIMIT if row.low is None else 0
    optional |= NO_HIGH_LIMIT if row.high is None else 0
    return records.PTR(
        test_num=test.number,
        head_num=HEAD,
        site_num=site,
        test_flg=test_flags,
        parm_flg=parameter_flags,
        result=value,
        test_txt=test.text,
        opt_flag=optional,
        res_scal=test.scale,
        llm_scal=test.scale,
        hlm_scal=test.scale,
        lo_limit=0.0 if row.low is None else row.low,
        hi_limit=0.0 if row.high is None else row.high,
        units=stdf_text(row.unit),
    )


def _tsrs(
    records: ModuleType,
    tests: dict[int, _Test],
    tallies: dict[tuple[int, int], _Tally],
    sites: list[int],
) -> Iterator[Any]:
    for where in sites:
        for number in sorted(tests):
            tally = tallies.get((number, where))
            if tally is None:
                continue
            test = tests[number]
            found = tally.finite > 0
            optional = _TSR_RESERVED | _TSR_NO_TIME
            optional |= 0 if found else _TSR_NO_MIN | _TSR_NO_MAX | _TSR_NO_SUMS | _TSR_NO_SQRS
            yield records.TSR(
                head_num=ALL if where == ALL else HEAD,
                site_num=where,
                test_typ="P",
                test_num=number,
                exec_cnt=tally.executed,
                fail_cnt=tally.failed,
                alrm_cnt=0,
                test_nam=test.text,
                seq_name=test.test_id,
                test_lbl=test.measurement,
                opt_flag=optional,
                test_min=tally.low if found else 0.0,
                test_max=tally.high if found else 0.0,
                tst_sums=tally.total,
                tst_sqrs=tally.squares,
            )


def _bin_records(
    records: ModuleType,
    hard: Counter[tuple[int, int]],
    soft: Counter[tuple[int, int]],
    sites: list[int],
) -> Iterator[Any]:
    """HBRs then SBRs: per site the bins used, in sum every bin of the map (unused ones
    with a count of 0, so the file names them all)."""
    kinds = (("HBR", "hbin", hard, bins.HARD_BINS), ("SBR", "sbin", soft, tuple(bins.SOFT_BINS)))
    for kind, prefix, counts, used in kinds:
        record = getattr(records, kind)
        for where in sites:
            for each in used:
                count = counts[(each.number, where)]
                if count or where == ALL:
                    yield record(
                        head_num=ALL if where == ALL else HEAD,
                        site_num=where,
                        **{
                            f"{prefix}_num": each.number,
                            f"{prefix}_cnt": count,
                            f"{prefix}_pf": each.pass_fail,
                            f"{prefix}_nam": each.name,
                        },
                    )


def _mir(parts: Sequence[Part], records: ModuleType) -> Any:
    """The MIR: what the runs share; a field on which they differ lists each value once."""

    def joined(name: str) -> str:
        values = dict.fromkeys(str(p.metadata.get(name, "")) for p in parts)
        return stdf_text(",".join(v for v in values if v))

    plans = dict.fromkeys(t.id.split("::", 1)[0] for p in parts for t in p.tests)
    commits = dict.fromkeys(
        str(p.metadata.get("plans_commit", ""))
        + ("-dirty" if p.metadata.get("plans_dirty") else "")
        for p in parts
        if p.metadata.get("plans_commit")
    )
    files = dict.fromkeys(p.path.name for p in parts)
    start = _stdf_time(_earliest(p.start for p in parts))
    return records.MIR(
        setup_t=start,
        start_t=start,
        stat_num=1,
        lot_id=joined("lot"),
        part_typ=joined("part"),
        node_nam=joined("host"),
        tstr_typ=joined("station"),
        job_nam=stdf_text(",".join(plans)),
        job_rev=stdf_text(",".join(c for c in commits if c)),
        oper_nam=joined("operator"),
        exec_typ="benchtest",
        exec_ver=joined("creator_version"),
        aux_file=stdf_text(";".join(files)),
        spec_nam=joined("dut_profile"),
        spec_ver=joined("dut_profile_sha256"),
        setup_id=joined("bench_file"),
    )


def _earliest(times: Iterable[float]) -> float:
    """The earliest of `times` that is known (NaN when none is)."""
    return min((t for t in times if not math.isnan(t)), default=math.nan)


def _latest(times: Iterable[float]) -> float:
    """The latest of `times` that is known (NaN when none is)."""
    return max((t for t in times if not math.isnan(t)), default=math.nan)


def _stdf_time(seconds: float) -> int:
    """Unix seconds as STDF's U*4 (0 when unknown)."""
    return min(max(int(seconds), 0), _U4) if math.isfinite(seconds) else 0


def _milliseconds(seconds: float) -> int:
    return min(max(round(seconds * 1000), 0), _U4) if math.isfinite(seconds) else 0


__all__ = ["stdf_records", "stdf_text", "stdfast", "write_stdf"]
